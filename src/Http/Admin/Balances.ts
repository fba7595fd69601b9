/** Liquidity and settlement balances of every asset and peer: `GET /balances`. */
import { Effect, Schema } from "effect"
import { HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { assetsOf, ids } from "../../Accounting/Accounts.ts"
import { type AccountBalance, Ledger } from "../../Accounting/Ledger.ts"
import type { NodeConfig } from "../../Config.ts"
import { Peers } from "../../Connector/Peers.ts"
import type { AdminApi } from "./Api.ts"
import { AdminAuth, AssetJson, BalanceJson, balanceJson, Unavailable, unavailable, withCurrentPeers, zeroBalance } from "./Common.ts"

const BalancesJson = Schema.Struct({
  assets: Schema.Array(Schema.Struct({ asset: AssetJson, liquidity: BalanceJson, settlement: BalanceJson })),
  peers: Schema.Array(Schema.Struct({ peerId: Schema.String, asset: AssetJson, liquidity: BalanceJson }))
})
type BalancesJson = typeof BalancesJson.Type

export class BalancesGroup extends HttpApiGroup.make("balances").add(
  HttpApiEndpoint.get("list", "/balances", { success: BalancesJson, error: Unavailable })
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
      const peers = yield* Peers
      const ledger = yield* Ledger
      return handlers.handle("list", () =>
        listBalances(withCurrentPeers(config, peers)).pipe(Effect.provideService(Ledger, ledger)))
    }))
