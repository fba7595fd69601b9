/**
 * Operator liquidity movements (SPEC §6): deposits move money from the asset's settlement account
 * into a liquidity account (the node's own asset liquidity, or a peer's liquidity); withdrawals move
 * it back. They are the only operations that change what the ledger holds against the outside world.
 *
 * Every movement carries a caller-chosen id so a retried request is not applied twice.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { Asset, NodeConfig } from "../Config.ts"
import { ids, ledgerOf } from "./Accounts.ts"
import { type AccountBalance, Ledger, TransferCode } from "./Ledger.ts"
import * as Movements from "./Movements.ts"

export type LiquidityTarget =
  | { readonly kind: "asset"; readonly asset: Asset }
  | { readonly kind: "peer"; readonly peerId: string }

export class UnknownLiquidityTarget extends Data.TaggedError("UnknownLiquidityTarget")<{ readonly message: string }> {}

interface ResolvedTarget {
  readonly asset: Asset
  readonly accountId: bigint
}

export const resolveTarget = (config: NodeConfig, target: LiquidityTarget): ResolvedTarget | undefined => {
  if (target.kind === "asset") {
    const known = [...config.assets, ...config.peers.map((peer) => peer.asset)].some((asset) =>
      asset.code === target.asset.code && asset.scale === target.asset.scale
    )
    return known ? { asset: target.asset, accountId: ids.assetLiquidity(target.asset) } : undefined
  }
  const peer = config.peers.find((candidate) => candidate.id === target.peerId)
  return peer === undefined ? undefined : { asset: peer.asset, accountId: ids.peerLiquidity(peer.id) }
}

const move = (config: NodeConfig, target: LiquidityTarget, amount: bigint, transferId: bigint, direction: "in" | "out") =>
  Effect.gen(function*() {
    const resolved = resolveTarget(config, target)
    if (resolved === undefined) return yield* new UnknownLiquidityTarget({ message: "unknown asset or peer" })
    if (amount <= 0n) return yield* Effect.die(new RangeError("liquidity amounts must be positive"))
    const ledger = yield* Ledger
    if (direction === "out") {
      // A credit line is never withdrawable: the same chain as a two-phase withdrawal, posted.
      const account: Movements.MovementAccount = {
        kind: target.kind,
        asset: resolved.asset,
        accountId: resolved.accountId,
        creditLine: target.kind === "peer" ?
          {
            ledger: ledgerOf(resolved.asset),
            liquidityAccountId: resolved.accountId,
            creditLineAccountId: ids.creditLine(target.peerId)
          } :
          undefined
      }
      const { creditLimitGranted } = yield* Movements.balanceOf(account)
      const key = `liquidity:${transferId}`
      return yield* ledger.transfer(Movements.withdrawalChain(account, amount, creditLimitGranted, {
        hold: transferId,
        unlock: Movements.creditLineUnlockId(key),
        relock: Movements.creditLineRelockId(key)
      }, undefined))
    }
    const settlement = ids.settlement(resolved.asset)
    yield* ledger.transfer([{
      id: transferId,
      debitAccountId: settlement,
      creditAccountId: resolved.accountId,
      amount,
      ledger: ledgerOf(resolved.asset),
      code: TransferCode.deposit
    }])
  })

export const deposit = Effect.fn("Liquidity.deposit")(
  (config: NodeConfig, target: LiquidityTarget, amount: bigint, transferId: bigint) =>
    move(config, target, amount, transferId, "in")
)

/**
 * Fails with `InsufficientBalance` when the liquidity account holds less than `amount` of deposited
 * or earned money: a peer's credit line is not withdrawable (see `Movements.ts`).
 */
export const withdraw = Effect.fn("Liquidity.withdraw")(
  (config: NodeConfig, target: LiquidityTarget, amount: bigint, transferId: bigint) =>
    move(config, target, amount, transferId, "out")
)

/** Available balance of a credit-normal account: credits posted − debits posted − debits pending. */
export const available = (balance: AccountBalance): bigint =>
  balance.creditsPosted - balance.debitsPosted - balance.debitsPending

export const balanceOf = Effect.fn("Liquidity.balanceOf")(function*(config: NodeConfig, target: LiquidityTarget) {
  const resolved = resolveTarget(config, target)
  if (resolved === undefined) return yield* new UnknownLiquidityTarget({ message: "unknown asset or peer" })
  const ledger = yield* Ledger
  const [balance] = yield* ledger.balances([resolved.accountId])
  return balance
})
