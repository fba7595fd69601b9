/**
 * Liquidity events: every `liquidityThresholds.checkIntervalMs`, the available liquidity of each
 * peer and asset with a configured threshold is read from the ledger (one batched read) and
 * recorded in the store (`events.liquidityLow`), which writes a `liquidity.peer_low` /
 * `liquidity.asset_low` event in the same transaction when the account goes below its threshold
 * from not below. One dip is one event; climbing back to the threshold or above re-arms it. The
 * below/not-below flag lives in the store, so a restart or a second instance does not repeat it.
 *
 * The balance lives in the ledger (TigerBeetle or SQLite), not in the resource store, so the event
 * cannot share the ledger's transaction: it follows the movement within one check interval.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { ids } from "../Accounting/Accounts.ts"
import { Ledger } from "../Accounting/Ledger.ts"
import * as Liquidity from "../Accounting/Liquidity.ts"
import { NodeConfigService } from "../Config.ts"
import { type LiquidityLow, PaymentsStore } from "../Payments/Store.ts"
import { NodeSettings } from "../Settings/NodeSettings.ts"

/** Bound of one check's ledger read. */
export const readTimeoutMs = 2_000

interface Watched {
  readonly low: Omit<LiquidityLow, "balance">
  readonly accountId: bigint
}

/** The accounts with a threshold that exist now (peers and assets change at run time). */
const watched = (
  thresholds: { readonly peers: ReadonlyMap<string, bigint>; readonly assets: ReadonlyMap<string, bigint> },
  peers: ReadonlyArray<{ readonly id: string; readonly asset: { readonly code: string; readonly scale: number } }>,
  assets: ReadonlyArray<{ readonly code: string; readonly scale: number }>
): ReadonlyArray<Watched> => [
  ...peers.flatMap((peer) => {
    const threshold = thresholds.peers.get(peer.id)
    return threshold === undefined ? [] : [{
      low: { kind: "peer" as const, id: peer.id, threshold, assetCode: peer.asset.code, assetScale: peer.asset.scale },
      accountId: ids.peerLiquidity(peer.id)
    }]
  }),
  ...assets.flatMap((asset) => {
    const key = `${asset.code}/${asset.scale}`
    const threshold = thresholds.assets.get(key)
    return threshold === undefined ? [] : [{
      low: { kind: "asset" as const, id: key, threshold, assetCode: asset.code, assetScale: asset.scale },
      accountId: ids.assetLiquidity(asset)
    }]
  })
]

/** One check: answers how many events it wrote. */
export const check = Effect.gen(function*() {
  const config = yield* NodeConfigService
  const settings = yield* NodeSettings
  const ledger = yield* Ledger
  const store = yield* PaymentsStore
  const effective = settings.effectiveConfig()
  const assets = [...effective.assets, ...effective.peers.map((peer) => peer.asset)]
    .filter((asset, index, all) => all.findIndex((other) => other.code === asset.code && other.scale === asset.scale) === index)
  const accounts = watched(config.liquidityThresholds, effective.peers, assets)
  if (accounts.length === 0) return 0
  const balances = yield* ledger.balances(accounts.map((account) => account.accountId)).pipe(Effect.timeout(readTimeoutMs))
  const at = yield* Clock.currentTimeMillis
  let written = 0
  for (const [index, account] of accounts.entries()) {
    const balance = balances[index]
    if (balance === undefined) continue
    const available = Liquidity.available(balance)
    const below = available < account.low.threshold
    if (yield* store.events.liquidityLow({ ...account.low, balance: available }, below, { id: randomUUID(), at })) written++
  }
  return written
})

/** The check, every interval, in the layer's scope; a failed check (ledger unavailable) is logged and retried next interval. */
export const layer = Layer.effectDiscard(Effect.gen(function*() {
  const config = yield* NodeConfigService
  if (config.liquidityThresholds.peers.size === 0 && config.liquidityThresholds.assets.size === 0) return
  const context = yield* Effect.context<NodeConfigService | NodeSettings | Ledger | PaymentsStore>()
  const round = check.pipe(
    Effect.provideContext(context),
    Effect.catchCause((cause) => Effect.logWarning("liquidity check failed; retrying at the next interval", cause))
  )
  yield* Effect.forkScoped(Effect.forever(Effect.andThen(round, Effect.sleep(config.liquidityThresholds.checkIntervalMs))))
}))
