/** Liquidity and settlement balances of every asset and peer: `GET /balances`. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { assetsOf, ids } from "../../Accounting/Accounts.ts"
import { type AccountBalance, Ledger } from "../../Accounting/Ledger.ts"
import type { NodeConfig } from "../../Config.ts"
import { NodeSettings } from "../../Settings/NodeSettings.ts"
import type { AdminApi } from "./Api.ts"
import { AdminAuth, AssetJson, BalanceJson, balanceJson, Unavailable, unavailable, zeroBalance, doc } from "./Common.ts"

const BalancesJson = Schema.Struct({
  assets: Schema.Array(Schema.Struct({ asset: AssetJson, liquidity: BalanceJson, settlement: BalanceJson })),
  peers: Schema.Array(Schema.Struct({ peerId: Schema.String, asset: AssetJson, liquidity: BalanceJson }))
})
type BalancesJson = typeof BalancesJson.Type

export class BalancesGroup extends HttpApiGroup.make("balances").add(
  HttpApiEndpoint.get("list", "/balances", { success: BalancesJson, error: Unavailable }).annotateMerge(doc(
    "Liquidity and settlement balances",
    "The liquidity and settlement accounts of every asset and the liquidity account of every peer, as decimal strings. 503 when the ledger is unavailable."
  ))
).middleware(AdminAuth) {}

const balancesJson = (
  config: NodeConfig,
  byId: ReadonlyMap<bigint, AccountBalance>
): BalancesJson => {
  const read = (id: bigint) => balanceJson(byId.get(id) ?? zeroBalance(id))
  return {
    assets: assetsOf(config).map((asset) => ({
      asset,
      liquidity: read(ids.assetLiquidity(asset)),
      settlement: read(ids.settlement(asset))
    })),
    peers: config.peers.map((peer) => ({ peerId: peer.id, asset: peer.asset, liquidity: read(ids.peerLiquidity(peer.id)) }))
  }
}

const balanceAccountIds = (config: NodeConfig): ReadonlyArray<bigint> => [
  ...assetsOf(config).flatMap((asset) => [ids.assetLiquidity(asset), ids.settlement(asset)]),
  ...config.peers.map((peer) => ids.peerLiquidity(peer.id))
]

const listBalances = Effect.fn("AdminApi.balances")(function*(config: NodeConfig) {
  const ledger = yield* Ledger
  const balances = yield* ledger.balances(balanceAccountIds(config))
  return balancesJson(config, new Map(balances.map((balance) => [balance.id, balance])))
}, Effect.catchTag("LedgerUnavailable", unavailable))

export const balancesHandlers = (api: typeof AdminApi, config: NodeConfig) =>
  HttpApiBuilder.group(api, "balances", (handlers) =>
    Effect.gen(function*() {
      const settings = yield* NodeSettings
      const ledger = yield* Ledger
      return handlers.handle("list", () =>
        listBalances(settings.effectiveConfig()).pipe(Effect.provideService(Ledger, ledger)))
    }))
