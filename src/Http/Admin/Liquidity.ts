/**
 * Operator liquidity: deposits to and withdrawals from an asset's or a peer's liquidity account
 * (`/liquidity/deposit`, `/liquidity/withdraw`).
 *
 * Idempotency: a deposit or withdrawal retried with the same `transferId` and the same body is
 * applied once and answers 200 again, with the balance as it is now (the ledger treats a transfer
 * that exists with identical fields as success). The same id with a different body, or an id whose
 * transfer failed (e.g. 409 for insufficient balance), is refused with 409: use a fresh id.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { ids } from "../../Accounting/Accounts.ts"
import { Ledger, newTransferId } from "../../Accounting/Ledger.ts"
import * as Liquidity from "../../Accounting/Liquidity.ts"
import type { NodeConfig } from "../../Config.ts"
import { NodeSettings } from "../../Settings/NodeSettings.ts"
import type { AdminApi } from "./Api.ts"
import {
  AdminAuth,
  AmountText,
  AssetJson,
  BalanceJson,
  balanceJson,
  Conflict,
  NotFound,
  parseAmount,
  parseTransferId,
  refuseReusedId,
  TransferIdText,
  Unavailable,
  unavailable,
  zeroBalance,
  doc
} from "./Common.ts"

const LiquidityRequest = Schema.Struct({
  asset: Schema.optionalKey(AssetJson),
  peerId: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64))),
  amount: AmountText,
  transferId: Schema.optionalKey(TransferIdText)
}).check(Schema.makeFilter((body) =>
  (body.asset === undefined) !== (body.peerId === undefined) || "give exactly one of asset or peerId"
))
type LiquidityRequest = typeof LiquidityRequest.Type

const LiquidityResult = Schema.Struct({ transferId: Schema.String, balance: BalanceJson })

const liquidityErrors = [NotFound, Conflict, Unavailable] as const

export class LiquidityGroup extends HttpApiGroup.make("liquidity").add(
  HttpApiEndpoint.post("deposit", "/liquidity/deposit", {
    payload: LiquidityRequest,
    success: LiquidityResult,
    error: liquidityErrors
  }).annotateMerge(doc(
    "Deposit liquidity",
    "Moves amount from the asset's settlement account into an asset's or a peer's liquidity account (exactly one of asset or peerId). Idempotent by transferId: a retry with the same id and body applies once. 404 unknown asset or peer; 409 transferId reused for a different or failed transfer; 503 ledger unavailable (retry with the same transferId)."
  )),
  HttpApiEndpoint.post("withdraw", "/liquidity/withdraw", {
    payload: LiquidityRequest,
    success: LiquidityResult,
    error: liquidityErrors
  }).annotateMerge(doc(
    "Withdraw liquidity",
    "Moves amount from an asset's or a peer's liquidity account back to the settlement account. Idempotent by transferId. 409 when it exceeds the available balance or the transferId was used for a different or failed transfer; 503 ledger unavailable (retry with the same transferId)."
  ))
).middleware(AdminAuth) {}

const targetOf = (body: LiquidityRequest): Liquidity.LiquidityTarget =>
  body.peerId !== undefined ? { kind: "peer", peerId: body.peerId } : { kind: "asset", asset: body.asset! }

const unknownTarget = (target: Liquidity.LiquidityTarget): NotFound =>
  new NotFound({
    message: target.kind === "peer" ?
      `peerId: no peer "${target.peerId}"` :
      `asset: the node has no asset ${target.asset.code}:${target.asset.scale}`
  })

/** The target's liquidity account and its asset's settlement account must exist (created at start). */
const requireAccounts = (config: NodeConfig, target: Liquidity.LiquidityTarget) =>
  Effect.gen(function*() {
    const resolved = Liquidity.resolveTarget(config, target)
    if (resolved === undefined) return yield* unknownTarget(target)
    const found = yield* (yield* Ledger).balances([resolved.accountId, ids.settlement(resolved.asset)])
    if (found.length < 2) {
      return yield* Effect.die(new Error("liquidity accounts missing: were the configured accounts created at start?"))
    }
  })

const moveLiquidity = (direction: "deposit" | "withdraw") =>
  Effect.fn(`AdminApi.${direction}`)(function*(config: NodeConfig, body: LiquidityRequest) {
    const target = targetOf(body)
    const amount = parseAmount(body.amount)!
    const transferId = body.transferId === undefined ? newTransferId() : parseTransferId(body.transferId)!
    yield* requireAccounts(config, target)
    yield* refuseReusedId(Liquidity[direction](config, target, amount, transferId))
    const balance = yield* Liquidity.balanceOf(config, target)
    return { transferId: transferId.toString(), balance: balanceJson(balance ?? zeroBalance(0n)) }
  }, (effect, _config, body) =>
    effect.pipe(
      Effect.catchTags({
        UnknownLiquidityTarget: () => Effect.fail(unknownTarget(targetOf(body))),
        InsufficientBalance: () => Effect.fail(new Conflict({ message: "amount: exceeds the available balance" })),
        LedgerUnavailable: unavailable
      })
    ))

const deposit = moveLiquidity("deposit")
const withdraw = moveLiquidity("withdraw")

export const liquidityHandlers = (api: typeof AdminApi, config: NodeConfig) =>
  HttpApiBuilder.group(api, "liquidity", (handlers) =>
    Effect.gen(function*() {
      const settings = yield* NodeSettings
      const ledger = yield* Ledger
      const run = (move: typeof deposit, payload: LiquidityRequest) =>
        move(settings.effectiveConfig(), payload).pipe(Effect.provideService(Ledger, ledger))
      return handlers
        .handle("deposit", ({ payload }) => run(deposit, payload))
        .handle("withdraw", ({ payload }) => run(withdraw, payload))
    }))
