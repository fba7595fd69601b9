/**
 * Where the node's run-time settings live: peers, assets and static rates, as the operator edits
 * them through the API (and as the config file seeds them). This module is the service's interface,
 * its errors and the (pure) row encoding every backend shares; `SettingsSqlite.ts` is the embedded
 * layer, `SettingsPostgres.ts` the production one (several instances). Both implement:
 *
 * - every method is an async Effect failing only with `SettingsUnavailable` (store down, timeout);
 * - `version` is a number that changes on every write (a counter row, bumped in the writing
 *   transaction), so a periodic reload is one cheap query when nothing changed;
 * - `changes` emits when ANOTHER instance may have written (PostgreSQL: `LISTEN settings` and a
 *   `NOTIFY settings` in each writing transaction); `NodeSettings` reloads on each emission and also
 *   every `reloadIntervalMs` as a backstop (a lost notification, a reconnect). The embedded store is
 *   owned by one process, so its `changes` never emits and it needs no periodic reload;
 * - `seed` is atomic and idempotent across instances starting at once (one transaction; keys already
 *   in `settings_seeded` are left alone);
 * - deleted peers stay as tombstones (`retiredPeers`: id → asset): a peer id keeps its ledger
 *   accounts forever, so it may only come back with the same asset.
 *
 * The store holds outgoing peer tokens in clear (the node must send them); incoming tokens only as
 * SHA-256 digests. The SQLite file is created readable by its owner only.
 *
 * `putPeer` refuses (`SettingsTokenTaken`) a peer whose incoming token digest another live peer
 * holds, inside its writing transaction: NodeSettings checks this in memory too, but only a check
 * under the store's write lock holds when two instances write at once.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Stream from "effect/Stream"
import type { Asset, PeerConfig } from "../Config.ts"
import type { StaticRate } from "../Rates/Rates.ts"

export class SettingsUnavailable extends Data.TaggedError("SettingsUnavailable")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The store refused a peer because another live peer holds one of its incoming token digests
 * (decided inside the writing transaction, so two instances cannot both store one token).
 */
export class SettingsTokenTaken extends Data.TaggedError("SettingsTokenTaken")<{
  readonly message: string
}> {}

/** The id of a live peer in `others` (not `peer` itself) holding one of `peer`'s token digests, or undefined. Pure. */
export const tokenHolder = (peer: PeerConfig, others: ReadonlyArray<PeerConfig>): string | undefined => {
  const mine = new Set(peer.incomingTokenHashes)
  return others.find((other) => other.id !== peer.id && other.incomingTokenHashes.some((hash) => mine.has(hash)))?.id
}

export const tokenTaken = (peer: PeerConfig, holder: string): SettingsTokenTaken =>
  new SettingsTokenTaken({ message: `incomingTokens: a token of peer "${peer.id}" is used by peer "${holder}"` })

/** What the config file contributes; also what the store holds. */
export interface SettingsData {
  readonly peers: ReadonlyArray<PeerConfig>
  readonly assets: ReadonlyArray<Asset>
  readonly rates: ReadonlyArray<StaticRate>
}

export interface StoredSettings extends SettingsData {
  /** Deleted peers' assets by id: an id may only be reused with the same asset (its ledger accounts). */
  readonly retiredPeers: ReadonlyMap<string, Asset>
  readonly version: number
}

export interface SettingsStoreShape {
  readonly load: Effect.Effect<StoredSettings, SettingsUnavailable>
  /** Changes on every write; see the module comment. */
  readonly version: Effect.Effect<number, SettingsUnavailable>
  /**
   * Inserts or replaces the peer with this id (reviving a tombstone); refused when another live
   * peer holds one of its incoming token digests (checked in the writing transaction).
   */
  readonly putPeer: (peer: PeerConfig) => Effect.Effect<void, SettingsUnavailable | SettingsTokenTaken>
  /** Turns the peer into a tombstone; false when there was no live peer with this id. */
  readonly deletePeer: (id: string) => Effect.Effect<boolean, SettingsUnavailable>
  readonly putAsset: (asset: Asset) => Effect.Effect<void, SettingsUnavailable>
  readonly deleteAsset: (asset: Asset) => Effect.Effect<boolean, SettingsUnavailable>
  readonly putRate: (rate: StaticRate) => Effect.Effect<void, SettingsUnavailable>
  readonly deleteRate: (base: string, quote: string) => Effect.Effect<boolean, SettingsUnavailable>
  /**
   * Seeds the config file's entries: each key (`peer:<id>`, `asset:<code>:<scale>`,
   * `rate:<base>:<quote>`) is applied once, the first time the store sees it; later starts leave
   * it alone even if it was edited or deleted since. Answers the keys seeded by this call.
   */
  readonly seed: (data: SettingsData) => Effect.Effect<ReadonlyArray<string>, SettingsUnavailable>
  /** Emits when another instance may have changed the settings. */
  readonly changes: Stream.Stream<void>
  /** Backstop reload period; undefined when the store has a single writer (embedded). */
  readonly reloadIntervalMs: number | undefined
}

export class SettingsStore extends Context.Service<SettingsStore, SettingsStoreShape>()("Settings/SettingsStore") {}

// ---------------------------------------------------------------------------------------------
// Row encoding, shared by every backend (pure)
// ---------------------------------------------------------------------------------------------

export const assetKey = (asset: Asset): string => `${asset.code}:${asset.scale}`
export const seedKeys = {
  peer: (id: string) => `peer:${id}`,
  asset: (asset: Asset) => `asset:${assetKey(asset)}`,
  rate: (base: string, quote: string) => `rate:${base}:${quote}`
} as const

interface PeerRow {
  readonly id: string
  readonly asset: Asset
  readonly incomingTokenHashes: ReadonlyArray<string>
  readonly outgoing: { readonly url: string; readonly token: string } | null
  readonly staticIlpAddress: string
  readonly routes: ReadonlyArray<string>
  readonly routeWeight: number
  readonly maxPacketAmount: string | null
  readonly rateLimit: { readonly packetsPerSecond: number; readonly burst: number } | null
  readonly throughputLimit: { readonly amount: string; readonly periodMs: number } | null
  readonly creditLimit: string
}

/** A peer as the JSON text of its row (amounts as decimal strings, the outgoing token in clear). */
export const encodePeer = (peer: PeerConfig): string => {
  const row: PeerRow = {
    id: peer.id,
    asset: peer.asset,
    incomingTokenHashes: peer.incomingTokenHashes,
    outgoing: peer.outgoing === undefined ? null : { url: peer.outgoing.url, token: Redacted.value(peer.outgoing.token) },
    staticIlpAddress: peer.staticIlpAddress,
    routes: peer.routes,
    routeWeight: peer.routeWeight,
    maxPacketAmount: peer.maxPacketAmount === undefined ? null : peer.maxPacketAmount.toString(),
    rateLimit: peer.rateLimit ?? null,
    throughputLimit: peer.throughputLimit === undefined ?
      null :
      { amount: peer.throughputLimit.amount.toString(), periodMs: peer.throughputLimit.periodMs },
    creditLimit: peer.creditLimit.toString()
  }
  return JSON.stringify(row)
}

/** The inverse of `encodePeer`; the row was written by `encodePeer`, so its shape is trusted. */
export const decodePeer = (text: string): PeerConfig => {
  const row = JSON.parse(text) as PeerRow
  return {
    id: row.id,
    asset: row.asset,
    incomingTokenHashes: row.incomingTokenHashes,
    outgoing: row.outgoing === null ?
      undefined :
      { url: row.outgoing.url, token: Redacted.make(row.outgoing.token, { label: `peer ${row.id} token` }) },
    staticIlpAddress: row.staticIlpAddress,
    routes: row.routes,
    routeWeight: row.routeWeight,
    maxPacketAmount: row.maxPacketAmount === null ? undefined : BigInt(row.maxPacketAmount),
    rateLimit: row.rateLimit ?? undefined,
    throughputLimit: row.throughputLimit === null ?
      undefined :
      { amount: BigInt(row.throughputLimit.amount), periodMs: row.throughputLimit.periodMs },
    creditLimit: BigInt(row.creditLimit)
  }
}

/** Whether two peers' settings are the same (tokens compared by value). Pure. */
export const samePeer = (a: PeerConfig, b: PeerConfig): boolean => encodePeer(a) === encodePeer(b)
