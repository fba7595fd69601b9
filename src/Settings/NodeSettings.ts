/**
 * The node's run-time settings: peers, assets and static rates as they are now, and every change to
 * them. A change is validated, made ready in the ledger (accounts of a new peer or asset, a peer's
 * credit limit), written to the `SettingsStore`, then applied at once to the running node: the
 * `Peers` service (incoming tokens, route table), the `RatesTable` and, through the peer entries
 * the packet path reads on each packet, the rate, throughput and max-packet limits. No restart.
 *
 * Config file and store (decided, also in docs/decisions.md): the config file SEEDS the store. Each
 * config entry (peer by id, asset, rate pair) is written once, the first time a node starts with it;
 * from then on the store is the truth and the API edits it. On a later start an entry whose config
 * value differs from the stored one (or that was deleted through the API) is left as stored and
 * logged as a warning naming it. A config peer that conflicts with a stored one (a token another
 * peer uses, an id retired with another asset) is not seeded, with a warning.
 *
 * Other instances (production, shared PostgreSQL store): `reload` re-reads the store and applies
 * what changed. It runs when the store's `changes` stream emits and every `reloadIntervalMs` (when
 * the store sets one), skipping the work when the store's `version` has not moved.
 *
 * Deleting a peer is safe with packets in flight: a packet holds the peer entry it was routed with,
 * and its reservation settles (post or void) on ledger accounts, which are never deleted. A deleted
 * peer's id stays retired with its asset (its accounts and balance remain; re-create it with the
 * same id and asset to reach them).
 *
 * Writes are serialised in this process (one at a time) so validation and write cannot interleave.
 *
 * Slightly over 400 lines on purpose: validation, ledger preparation, storing and applying a change
 * are one sequence per kind of setting, read top to bottom.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import { assetAccounts, ids, ledgerCollision, ledgerOf, peerAccounts } from "../Accounting/Accounts.ts"
import {
  type AccountSpec,
  accountsPerCallMax,
  type InsufficientBalance,
  Ledger,
  type LedgerUnavailable,
  setCreditLimit
} from "../Accounting/Ledger.ts"
import { type Asset, type NodeConfig, NodeConfigService, type PeerConfig } from "../Config.ts"
import { Peers } from "../Connector/Peers.ts"
import { effectiveRate, RatesTable, type StaticRate } from "../Rates/Rates.ts"
import {
  assetKey,
  samePeer,
  type SettingsData,
  SettingsStore,
  type SettingsUnavailable,
  type StoredSettings
} from "./SettingsStore.ts"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The change is not valid on its own (API 400). */
export class SettingsInvalid extends Data.TaggedError("SettingsInvalid")<{ readonly message: string }> {}
/** The change conflicts with the current settings or the ledger (API 409). */
export class SettingsConflict extends Data.TaggedError("SettingsConflict")<{ readonly message: string }> {}
/** No such peer, asset or rate (API 404). */
export class SettingNotFound extends Data.TaggedError("SettingNotFound")<{ readonly message: string }> {}

type WriteError = SettingsUnavailable | LedgerUnavailable

/** Most peers a node holds (each costs two ledger accounts and a route-table entry per prefix). */
export const peersMax = 10_000
/** Most static rates (pairs) a node holds. */
export const ratesMax = 10_000
/** Most added assets. */
export const assetsMax = 1_000

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

export interface CurrentSettings {
  readonly peers: ReadonlyArray<PeerConfig>
  /** Assets added explicitly (the API's `/assets`, the config's `assets`). */
  readonly storedAssets: ReadonlyArray<Asset>
  /** Every asset the node has: the stored ones and the peers' assets. */
  readonly assets: ReadonlyArray<Asset>
  readonly rates: ReadonlyArray<StaticRate>
  readonly retiredPeers: ReadonlyMap<string, Asset>
  readonly version: number
}

export interface NodeSettingsShape {
  readonly current: () => CurrentSettings
  /** The node's configuration with the current peers, assets and static rates. */
  readonly effectiveConfig: () => NodeConfig
  readonly createPeer: (peer: PeerConfig) => Effect.Effect<PeerConfig, SettingsInvalid | SettingsConflict | WriteError>
  /** Applies `change` to the current peer (id and asset cannot change). */
  readonly updatePeer: (
    id: string,
    change: (current: PeerConfig) => PeerConfig
  ) => Effect.Effect<PeerConfig, SettingNotFound | SettingsInvalid | SettingsConflict | WriteError>
  readonly deletePeer: (id: string) => Effect.Effect<void, SettingNotFound | WriteError>
  /** Adds an asset (creating its ledger accounts); adding one that exists is a no-op. */
  readonly putAsset: (asset: Asset) => Effect.Effect<void, SettingsConflict | WriteError>
  /** Removes an asset no peer uses (its ledger accounts and balances stay). */
  readonly deleteAsset: (asset: Asset) => Effect.Effect<void, SettingNotFound | SettingsConflict | WriteError>
  readonly putRate: (rate: StaticRate) => Effect.Effect<void, SettingsConflict | WriteError>
  readonly deleteRate: (base: string, quote: string) => Effect.Effect<void, SettingNotFound | WriteError>
  /** Re-reads the store and applies what changed (what a shared store's change notification drives). */
  readonly reload: Effect.Effect<void, WriteError>
}

export class NodeSettings extends Context.Service<NodeSettings, NodeSettingsShape>()("Settings/NodeSettings") {}

// ---------------------------------------------------------------------------------------------
// Pure leaves
// ---------------------------------------------------------------------------------------------

const sameAsset = (a: Asset, b: Asset): boolean => a.code === b.code && a.scale === b.scale

/** Stored assets first, then the peers' assets, once each. */
export const allAssets = (stored: ReadonlyArray<Asset>, peers: ReadonlyArray<PeerConfig>): ReadonlyArray<Asset> => {
  const byKey = new Map<string, Asset>()
  for (const asset of [...stored, ...peers.map((peer) => peer.asset)]) byKey.set(assetKey(asset), asset)
  return [...byKey.values()]
}

/** The config's static rates table as entries (numbers become their decimal text). */
export const ratesOfConfig = (config: NodeConfig): ReadonlyArray<StaticRate> =>
  Object.entries(config.rates.static).flatMap(([base, quotes]) =>
    Object.entries(quotes).map(([quote, rate]) => ({ base, quote, rate: String(rate) }))
  )

const ratesRecord = (rates: ReadonlyArray<StaticRate>): Record<string, Record<string, string>> => {
  const table: Record<string, Record<string, string>> = {}
  for (const rate of rates) (table[rate.base] ??= {})[rate.quote] = rate.rate
  return table
}

/**
 * Why `peer` cannot join `others` (the other live peers), or undefined. Checks what the config's
 * cross-check checks, against the settings as they are now. Pure.
 */
export const peerProblem = (
  peer: PeerConfig,
  others: ReadonlyArray<PeerConfig>,
  retired: ReadonlyMap<string, Asset>,
  ownAddress: string
): string | undefined => {
  if (peer.staticIlpAddress === ownAddress) return "staticIlpAddress: must differ from the node's own ILP address"
  const retiredAsset = retired.get(peer.id)
  if (retiredAsset !== undefined && !sameAsset(retiredAsset, peer.asset)) {
    return `id: "${peer.id}" belonged to a deleted peer in ${assetKey(retiredAsset)}; reuse it only with that asset`
  }
  const taken = new Set(others.flatMap((other) => other.incomingTokenHashes))
  if (peer.incomingTokenHashes.some((hash) => taken.has(hash))) return "incomingTokens: a token is used by another peer"
  if (new Set(peer.incomingTokenHashes).size !== peer.incomingTokenHashes.length) return "incomingTokens: a token is listed twice"
  const collision = ledgerCollision(allAssets([], [...others, peer]))
  return collision === undefined ? undefined : `asset: ${collision}`
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

// ---------------------------------------------------------------------------------------------
// The layer
// ---------------------------------------------------------------------------------------------

export const make = Effect.gen(function*() {
  const config = yield* NodeConfigService
  const store = yield* SettingsStore
  const peers = yield* Peers
  const ledger = yield* Ledger
  const ratesTable = yield* RatesTable
  const writes = yield* Semaphore.make(1)

  let state: CurrentSettings = {
    peers: [],
    storedAssets: [],
    assets: [],
    rates: [],
    retiredPeers: new Map(),
    version: -1
  }
  /** Ledger accounts known to exist (created by this process), and credit limits applied. */
  const ensuredAssets = new Set<string>()
  const ensuredPeers = new Set<string>()
  const appliedCreditLimits = new Map<string, bigint>()

  const ensureAccounts = (assets: ReadonlyArray<Asset>, newPeers: ReadonlyArray<PeerConfig>) =>
    Effect.gen(function*() {
      const missingAssets = assets.filter((asset) => !ensuredAssets.has(assetKey(asset)))
      const missingPeers = newPeers.filter((peer) => !ensuredPeers.has(peer.id))
      const accounts: ReadonlyArray<AccountSpec> = [...missingAssets.flatMap(assetAccounts), ...missingPeers.flatMap(peerAccounts)]
      for (const batch of chunks(accounts, accountsPerCallMax)) yield* ledger.createAccounts(batch)
      for (const asset of missingAssets) ensuredAssets.add(assetKey(asset))
      for (const peer of missingPeers) ensuredPeers.add(peer.id)
    })

  const applyCreditLimit = (peer: PeerConfig): Effect.Effect<void, InsufficientBalance | LedgerUnavailable> =>
    appliedCreditLimits.get(peer.id) === peer.creditLimit ? Effect.void : setCreditLimit(
      { ledger: ledgerOf(peer.asset), liquidityAccountId: ids.peerLiquidity(peer.id), creditLineAccountId: ids.creditLine(peer.id) },
      peer.creditLimit
    ).pipe(
      Effect.tap(() => Effect.sync(() => appliedCreditLimits.set(peer.id, peer.creditLimit))),
      Effect.provideService(Ledger, ledger)
    )

  /** Makes `stored` the running settings. */
  const apply = (stored: StoredSettings) =>
    Effect.gen(function*() {
      const assets = allAssets(stored.assets, stored.peers)
      yield* ensureAccounts(assets, stored.peers)
      for (const peer of stored.peers) {
        // A limit lowered below what the peer owes (set on another instance) cannot be applied
        // here: keep the granted one and say so; the API refuses such a change up front.
        yield* applyCreditLimit(peer).pipe(
          Effect.catchTag("InsufficientBalance", () =>
            Effect.logWarning(`peer ${peer.id}: credit limit ${peer.creditLimit} is below what the peer owes; not applied`))
        )
      }
      peers.replace(stored.peers)
      ratesTable.replace(stored.rates)
      // Invalid rates (e.g. seeded from a config file) answer F07 for their pair; say so once per change.
      const invalid = stored.rates.flatMap((rate) => {
        const effective = effectiveRate(rate)
        return Result.isFailure(effective) ? [`${rate.base}→${rate.quote}: ${effective.failure}`] : []
      })
      if (invalid.length > 0 && stored.version !== state.version) {
        yield* Effect.logWarning(`invalid static rates (answer F07): ${invalid.join(", ")}`)
      }
      state = {
        peers: stored.peers,
        storedAssets: stored.assets,
        assets,
        rates: stored.rates,
        retiredPeers: stored.retiredPeers,
        version: stored.version
      }
    })

  const reloadUnlocked = Effect.flatMap(store.load, apply)
  const reload = writes.withPermit(
    Effect.gen(function*() {
      const version = yield* store.version
      if (version !== state.version) yield* reloadUnlocked
    })
  )

  /**
   * A write, one at a time in this process. With a shared store (other instances write too), it
   * first catches up with the store (one version query when nothing changed), so a change is
   * validated against the settings as they are now, not as the last notification left them.
   */
  const writing = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | WriteError> =>
    writes.withPermit(Effect.gen(function*() {
      if (store.reloadIntervalMs !== undefined && (yield* store.version) !== state.version) yield* reloadUnlocked
      return yield* effect
    }))

  const others = (id: string) => state.peers.filter((peer) => peer.id !== id)

  const putPeer = (peer: PeerConfig) =>
    Effect.gen(function*() {
      const problem = peerProblem(peer, others(peer.id), state.retiredPeers, config.ilpAddress)
      if (problem !== undefined) return yield* new SettingsConflict({ message: problem })
      yield* ensureAccounts(allAssets([], [peer]), [peer])
      yield* applyCreditLimit(peer).pipe(
        Effect.catchTag("InsufficientBalance", () =>
          Effect.fail(new SettingsConflict({ message: "creditLimit: below what the peer currently owes" })))
      )
      // The store refused (down): put the ledger's credit line back to what the stored peer says.
      const previous = state.peers.find((candidate) => candidate.id === peer.id)
      yield* store.putPeer(peer).pipe(
        Effect.tapError(() => applyCreditLimit(previous ?? { ...peer, creditLimit: 0n }).pipe(Effect.ignore)),
        // Another instance stored a peer with one of these tokens since this one last loaded.
        Effect.catchTag("SettingsTokenTaken", (taken) => Effect.fail(new SettingsConflict({ message: taken.message })))
      )
      yield* reloadUnlocked
      return peer
    })

  const findPeer = (id: string) => {
    const peer = state.peers.find((candidate) => candidate.id === id)
    return peer === undefined ? Effect.fail(new SettingNotFound({ message: `peer "${id}": not found` })) : Effect.succeed(peer)
  }

  const service: NodeSettingsShape = {
    current: () => state,
    effectiveConfig: () => ({
      ...config,
      peers: state.peers,
      assets: state.storedAssets,
      rates: { ...config.rates, static: ratesRecord(state.rates) }
    }),
    createPeer: (peer) =>
      writing(Effect.gen(function*() {
        // A peer under this id already: 409 even for the same body (a client retrying after an unknown
        // outcome reads the peer to know); the message says when the stored peer is identical.
        const existing = state.peers.find((candidate) => candidate.id === peer.id)
        if (existing !== undefined) {
          const same = samePeer(existing, peer) ? " with these same settings" : ""
          return yield* new SettingsConflict({ message: `id: a peer "${peer.id}" exists${same}; update it with PATCH` })
        }
        if (state.peers.length >= peersMax) return yield* new SettingsConflict({ message: `the node already has ${peersMax} peers` })
        return yield* putPeer(peer)
      })),
    updatePeer: (id, change) =>
      writing(Effect.gen(function*() {
        const current = yield* findPeer(id)
        const next = change(current)
        if (next.id !== current.id) return yield* new SettingsInvalid({ message: "id: cannot change" })
        if (!sameAsset(next.asset, current.asset)) {
          return yield* new SettingsInvalid({ message: "asset: a peer's asset cannot change (its ledger accounts are in it)" })
        }
        if (samePeer(next, current)) return current
        return yield* putPeer(next)
      })),
    deletePeer: (id) =>
      writing(Effect.gen(function*() {
        yield* findPeer(id)
        yield* store.deletePeer(id)
        yield* reloadUnlocked
      })),
    putAsset: (asset) =>
      writing(Effect.gen(function*() {
        if (state.storedAssets.some((stored) => sameAsset(stored, asset))) return
        if (state.storedAssets.length >= assetsMax) return yield* new SettingsConflict({ message: `the node already has ${assetsMax} assets` })
        const collision = ledgerCollision([...state.assets, asset])
        if (collision !== undefined) return yield* new SettingsConflict({ message: collision })
        yield* ensureAccounts([asset], [])
        yield* store.putAsset(asset)
        yield* reloadUnlocked
      })),
    deleteAsset: (asset) =>
      writing(Effect.gen(function*() {
        const user = state.peers.find((peer) => sameAsset(peer.asset, asset))
        if (user !== undefined) {
          return yield* new SettingsConflict({ message: `asset: peer "${user.id}" uses ${assetKey(asset)}` })
        }
        const deleted = yield* store.deleteAsset(asset)
        if (!deleted) return yield* new SettingNotFound({ message: `asset ${assetKey(asset)}: not found` })
        yield* reloadUnlocked
      })),
    putRate: (rate) =>
      writing(Effect.gen(function*() {
        const exists = state.rates.some((stored) => stored.base === rate.base && stored.quote === rate.quote)
        if (!exists && state.rates.length >= ratesMax) return yield* new SettingsConflict({ message: `the node already has ${ratesMax} static rates` })
        yield* store.putRate(rate)
        yield* reloadUnlocked
      })),
    deleteRate: (base, quote) =>
      writing(Effect.gen(function*() {
        const deleted = yield* store.deleteRate(base, quote)
        if (!deleted) return yield* new SettingNotFound({ message: `rate ${base}→${quote}: not found` })
        yield* reloadUnlocked
      })),
    reload
  }

  // Start: seed from the config file, load, apply; then follow other instances' changes.
  yield* seedFromConfig(config, store)
  yield* reloadUnlocked
  const reloadLogged = reload.pipe(
    Effect.catchCause((cause) => Effect.logWarning("settings reload failed; the next change or reload retries", cause))
  )
  yield* Effect.forkScoped(Stream.runForEach(store.changes, () => reloadLogged))
  if (store.reloadIntervalMs !== undefined) {
    yield* Effect.forkScoped(Effect.repeat(reloadLogged, Schedule.spaced(store.reloadIntervalMs)))
  }
  return NodeSettings.of(service)
})

/** What the config file lists, as settings. */
export const configSettings = (config: NodeConfig): SettingsData => ({
  peers: config.peers,
  assets: config.assets,
  rates: ratesOfConfig(config)
})

/** Seeds the store from the config file and warns about entries where the two now differ. */
const seedFromConfig = (config: NodeConfig, store: SettingsStore["Service"]) =>
  Effect.gen(function*() {
    const before = yield* store.load
    const wanted = configSettings(config)
    const seedable = wanted.peers.filter((peer) => {
      const live = before.peers.find((stored) => stored.id === peer.id)
      if (live !== undefined) return true // already there: seeding leaves it as stored
      return peerProblem(peer, before.peers, before.retiredPeers, config.ilpAddress) === undefined
    })
    const seeded = new Set(yield* store.seed({ ...wanted, peers: seedable }))
    const after = yield* store.load
    const warnings: Array<string> = []
    for (const peer of wanted.peers) {
      if (seeded.has(`peer:${peer.id}`)) continue
      const stored = after.peers.find((candidate) => candidate.id === peer.id)
      if (stored === undefined) warnings.push(`peer ${peer.id}: in the config file but not in the stored settings (deleted through the API, or conflicting); not re-created`)
      else if (!samePeer(stored, peer)) warnings.push(`peer ${peer.id}: the config file differs from the stored settings; the stored values are used`)
    }
    for (const rate of wanted.rates) {
      const stored = after.rates.find((candidate) => candidate.base === rate.base && candidate.quote === rate.quote)
      if (stored === undefined) warnings.push(`rate ${rate.base}→${rate.quote}: in the config file but deleted from the stored settings`)
      else if (stored.rate !== rate.rate || stored.spread !== undefined) {
        warnings.push(`rate ${rate.base}→${rate.quote}: the config file differs from the stored settings; the stored rate is used`)
      }
    }
    for (const asset of wanted.assets) {
      if (!after.assets.some((stored) => sameAsset(stored, asset))) {
        warnings.push(`asset ${assetKey(asset)}: in the config file but deleted from the stored settings`)
      }
    }
    for (const warning of warnings) yield* Effect.logWarning(`settings: ${warning}`)
  })

/** Needs the store, the peers, the ledger and the rates table; seeds, loads and applies at build. */
export const layer = Layer.effect(NodeSettings, make)

