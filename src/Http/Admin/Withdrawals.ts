/**
 * Money in and out (issue 11): deposits (`/deposits`) and two-phase withdrawals (`/withdrawals`)
 * for a peer's liquidity, an asset's liquidity, a wallet address, or (withdrawals only) an incoming
 * payment. The ledger work is `Accounting/Movements.ts`; this file resolves the account named in
 * the request and maps outcomes to HTTP.
 *
 * - Each movement is named by the client's `id` (idempotency key). A repeat with the same id and
 *   body answers the original movement (same transfer, state as it is now) and moves nothing; the
 *   same id with another account or amount, or an id whose first attempt failed, is 409.
 * - `POST /withdrawals` holds the amount (state `pending`; it can no longer be spent), `POST
 *   /withdrawals/:id/post` pays it out (`posted`), `POST /withdrawals/:id/void` releases it
 *   (`voided`); a hold not settled within `timeoutSeconds` (default 1 day, at most 30) is `expired`.
 * - A withdrawal never pays out a peer's credit line: 409 when the amount exceeds what was
 *   deposited or earned (`balance.withdrawable`). Deposits to an inactive wallet address: 409.
 * - Every answer carries the account's balance now (with `withdrawable`, and a peer's granted
 *   `creditLimit`). Ledger unavailable: 503, retry with the same id.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as OpenApi from "effect/http-api/OpenApi"
import { ids, ledgerOf } from "../../Accounting/Accounts.ts"
import { Ledger, type LedgerUnavailable } from "../../Accounting/Ledger.ts"
import * as Movements from "../../Accounting/Movements.ts"
import { Peers, type PeersShape } from "../../Connector/Peers.ts"
import { IncomingPayments } from "../../Payments/IncomingPayments.ts"
import { WalletAddresses } from "../../Payments/WalletAddresses.ts"
import type { AdminApi } from "./Api.ts"
import {
  AdminAuth,
  AmountText,
  AssetJson,
  BadRequest,
  BalanceJson,
  balanceJson,
  Conflict,
  NotFound,
  parseAmount,
  Unavailable
} from "./Common.ts"

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

const MovementId = Schema.String.check(Schema.isPattern(Movements.movementKeyPattern)).annotate({
  description: "Idempotency key chosen by the client: 1..64 of A-Z a-z 0-9 . _ : - (a UUID fits)",
  examples: ["2f1c9a7e-5b7d-4d0e-9a43-0c1f4b1d2e3f"]
})

const ShortId = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64))

const accountFields = {
  peerId: Schema.optionalKey(ShortId),
  asset: Schema.optionalKey(AssetJson),
  walletAddressId: Schema.optionalKey(ShortId)
}

const exactlyOne = (names: ReadonlyArray<string>) =>
  Schema.makeFilter((body: Record<string, unknown>) =>
    names.filter((name) => body[name] !== undefined).length === 1 || `give exactly one of ${names.join(", ")}`
  )

const DepositRequest = Schema.Struct({ id: MovementId, amount: AmountText, ...accountFields })
  .check(exactlyOne(["peerId", "asset", "walletAddressId"]))
type DepositRequest = typeof DepositRequest.Type

const WithdrawalRequest = Schema.Struct({
  id: MovementId,
  amount: AmountText,
  ...accountFields,
  incomingPaymentId: Schema.optionalKey(ShortId),
  timeoutSeconds: Schema.optionalKey(
    Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: Movements.withdrawalTimeoutSecondsMax }))
  ).annotate({ description: `Seconds the hold lasts unless posted or voided (default ${Movements.withdrawalTimeoutSecondsDefault})` })
}).check(exactlyOne(["peerId", "asset", "walletAddressId", "incomingPaymentId"]))
type WithdrawalRequest = typeof WithdrawalRequest.Type

const MovementBalanceJson = Schema.Struct({
  ...BalanceJson.fields,
  withdrawable: Schema.String.annotate({
    description: "What a withdrawal may take now: available less any granted credit limit"
  }),
  creditLimit: Schema.String.annotate({ description: "The credit limit granted to a peer (0 for other accounts)" })
})

const MovementJson = Schema.Struct({
  id: Schema.String,
  kind: Schema.Literals(["deposit", "withdrawal"]),
  state: Schema.Literals(["pending", "posted", "voided", "expired"]),
  amount: Schema.String,
  transferId: Schema.String.annotate({ description: "The ledger transfer (derived from id)" }),
  accountId: Schema.String.annotate({ description: "The ledger account money moved to or from" }),
  createdAt: Schema.String,
  expiresAt: Schema.optionalKey(Schema.String),
  balance: MovementBalanceJson
})
type MovementJson = typeof MovementJson.Type

const movementParam = { id: MovementId }
const errors = [BadRequest, NotFound, Conflict, Unavailable] as const

const described = <E extends { annotate: (key: any, value: string) => E }>(endpoint: E, summary: string, description: string): E =>
  endpoint.annotate(OpenApi.Summary, summary).annotate(OpenApi.Description, description)

export class DepositsGroup extends HttpApiGroup.make("deposits").add(
  described(
    HttpApiEndpoint.post("create", "/deposits", { payload: DepositRequest, success: MovementJson, error: errors }),
    "Deposit money",
    "Moves `amount` from outside the ledger (the asset's settlement account) into a peer's or the asset's " +
      "liquidity, or a wallet address (not an inactive one). Idempotent by `id`: a repeat answers the original deposit."
  ),
  described(
    HttpApiEndpoint.get("get", "/deposits/:id", { params: movementParam, success: MovementJson, error: errors }),
    "Read a deposit",
    "The deposit recorded under `id`, with the account's balance now."
  )
).middleware(AdminAuth) {}

export class WithdrawalsGroup extends HttpApiGroup.make("withdrawals").add(
  described(
    HttpApiEndpoint.post("create", "/withdrawals", { payload: WithdrawalRequest, success: MovementJson, error: errors }),
    "Hold a withdrawal",
    "Holds `amount` of a peer's or an asset's liquidity, a wallet address or an incoming payment for a withdrawal " +
      "(state `pending`): it can no longer be spent. Post it once the money has left, or void it. Never draws on a " +
      "credit line. Idempotent by `id`."
  ),
  described(
    HttpApiEndpoint.get("get", "/withdrawals/:id", { params: movementParam, success: MovementJson, error: errors }),
    "Read a withdrawal",
    "The withdrawal recorded under `id` (pending, posted, voided or expired), with the account's balance now."
  ),
  described(
    HttpApiEndpoint.post("post", "/withdrawals/:id/post", { params: movementParam, success: MovementJson, error: errors }),
    "Post a withdrawal",
    "Moves the held amount out of the ledger. Idempotent; 409 when the withdrawal was voided or has expired."
  ),
  described(
    HttpApiEndpoint.post("void", "/withdrawals/:id/void", { params: movementParam, success: MovementJson, error: errors }),
    "Void a withdrawal",
    "Releases the held amount back to the account. Idempotent; 409 when the withdrawal was posted."
  )
).middleware(AdminAuth) {}

// ---------------------------------------------------------------------------------------------
// Accounts named in requests
// ---------------------------------------------------------------------------------------------

interface Named {
  readonly peerId?: string | undefined
  readonly asset?: { readonly code: string; readonly scale: number } | undefined
  readonly walletAddressId?: string | undefined
  readonly incomingPaymentId?: string | undefined
}

const peerAccount = (peers: PeersShape, peerId: string): Movements.MovementAccount | undefined => {
  const peer = peers.byId(peerId)?.config
  if (peer === undefined) return undefined
  return {
    kind: "peer",
    asset: peer.asset,
    accountId: ids.peerLiquidity(peer.id),
    creditLine: {
      ledger: ledgerOf(peer.asset),
      liquidityAccountId: ids.peerLiquidity(peer.id),
      creditLineAccountId: ids.creditLine(peer.id)
    }
  }
}

/** A ledger account by id, with its credit line when it is a peer's. */
const accountById = (peers: PeersShape, accountId: bigint): Movements.BalanceAccount => {
  const peer = peers.all().find((entry) => entry.account.ledgerAccountId === accountId)
  return peer === undefined ? { accountId } : peerAccount(peers, peer.config.id)!
}

const makeResolver = Effect.gen(function*() {
  const ledger = yield* Ledger
  const peers = yield* Peers
  const wallets = yield* WalletAddresses
  const payments = yield* IncomingPayments
  const notFound = (message: string) => Effect.fail(new NotFound({ message }))

  /** The account to move money in or out of; its asset's settlement account must exist too. */
  const resolve = (named: Named, purpose: Movements.MovementKind) =>
    Effect.gen(function*() {
      let account: Movements.MovementAccount
      if (named.peerId !== undefined) {
        const found = peerAccount(peers, named.peerId)
        if (found === undefined) return yield* notFound(`peerId: no peer "${named.peerId}"`)
        account = found
      } else if (named.asset !== undefined) {
        account = { kind: "asset", asset: named.asset, accountId: ids.assetLiquidity(named.asset) }
      } else if (named.walletAddressId !== undefined) {
        const wallet = yield* wallets.get(named.walletAddressId).pipe(
          Effect.catchTag("WalletAddressNotFound", () => notFound(`walletAddressId: no wallet address "${named.walletAddressId}"`))
        )
        if (purpose === "deposit" && !wallet.active) {
          return yield* new Conflict({ message: "walletAddressId: the wallet address is inactive; deposits are refused" })
        }
        account = { kind: "walletAddress", asset: wallet.asset, accountId: wallet.ledgerAccountId }
      } else {
        const id = named.incomingPaymentId!
        const payment = yield* payments.get(id).pipe(
          Effect.catchTag("IncomingPaymentNotFound", () => notFound(`incomingPaymentId: no incoming payment "${id}"`))
        )
        const wallet = yield* payments.walletAddressOf(payment).pipe(
          Effect.catchTag("WalletAddressNotFound", () => notFound(`incomingPaymentId: no incoming payment "${id}"`))
        )
        account = { kind: "incomingPayment", asset: wallet.asset, accountId: payment.ledgerAccountId }
      }
      const found = yield* ledger.balances([account.accountId, ids.settlement(account.asset)])
      if (found.length < 2) {
        return yield* notFound(
          account.kind === "asset" ?
            `asset: the node has no asset ${account.asset.code}:${account.asset.scale}` :
            "the account has no ledger account yet"
        )
      }
      return account
    })

  /** The movement as JSON, with its account's balance now. */
  const json = (movement: Movements.Movement) =>
    Effect.gen(function*() {
      const { transfer } = movement
      const accountId = movement.kind === "deposit" ? transfer.creditAccountId : transfer.debitAccountId
      const { balance, creditLimitGranted, withdrawable } = yield* Movements.balanceOf(accountById(peers, accountId))
      const createdMs = Number(transfer.timestamp / 1_000_000n)
      const result: MovementJson = {
        id: movement.key,
        kind: movement.kind,
        state: transfer.state,
        amount: transfer.amount.toString(),
        transferId: transfer.id.toString(),
        accountId: accountId.toString(),
        createdAt: new Date(createdMs).toISOString(),
        ...(transfer.pending ? { expiresAt: new Date(createdMs + transfer.timeoutSeconds * 1000).toISOString() } : {}),
        balance: {
          ...balanceJson(balance),
          withdrawable: withdrawable.toString(),
          creditLimit: creditLimitGranted.toString()
        }
      }
      return result
    })

  return { resolve, json }
})

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

const ledgerDown = (_: LedgerUnavailable) =>
  Effect.fail(new Unavailable({ message: "ledger unavailable; retry with the same id" }))

const mapErrors = <A, R>(
  effect: Effect.Effect<
    A,
    | NotFound
    | Conflict
    | LedgerUnavailable
    | Movements.MovementNotFound
    | Movements.MovementKeyConflict
    | Movements.InsufficientFunds
    | Movements.WithdrawalSettled,
    R
  >,
  kind: Movements.MovementKind
) =>
  effect.pipe(
    Effect.catchTags({
      MovementNotFound: (error) => Effect.fail(new NotFound({ message: `id: no ${kind} "${error.key}"` })),
      MovementKeyConflict: (error) => Effect.fail(new Conflict({ message: `id: ${error.message}` })),
      InsufficientFunds: (error) => Effect.fail(new Conflict({ message: error.message })),
      WithdrawalSettled: (error) =>
        Effect.fail(new Conflict({ message: `withdrawal "${error.key}" is already ${error.state}` })),
      LedgerUnavailable: ledgerDown
    })
  )

export const depositsHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "deposits", (handlers) =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const { json, resolve } = yield* makeResolver
      const create = (body: DepositRequest) =>
        Effect.gen(function*() {
          const account = yield* resolve(body, "deposit")
          const movement = yield* Movements.deposit(account, parseAmount(body.amount)!, body.id)
          return yield* json(movement)
        })
      return handlers
        .handle("create", ({ payload }) => mapErrors(create(payload), "deposit").pipe(Effect.provideService(Ledger, ledger)))
        .handle("get", ({ params }) =>
          mapErrors(Effect.flatMap(Movements.get("deposit", params.id), json), "deposit").pipe(
            Effect.provideService(Ledger, ledger)
          ))
    }))

export const withdrawalsHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "withdrawals", (handlers) =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const { json, resolve } = yield* makeResolver
      const create = (body: WithdrawalRequest) =>
        Effect.gen(function*() {
          const account = yield* resolve(body, "withdrawal")
          const amount = parseAmount(body.amount)!
          const timeoutSeconds = body.timeoutSeconds ?? Movements.withdrawalTimeoutSecondsDefault
          const movement = yield* Movements.createWithdrawal(account, amount, body.id, timeoutSeconds)
          return yield* json(movement)
        })
      const run = <E>(effect: Effect.Effect<Movements.Movement, E, Ledger>) =>
        Effect.flatMap(effect, json).pipe(Effect.provideService(Ledger, ledger))
      return handlers
        .handle("create", ({ payload }) => mapErrors(create(payload), "withdrawal").pipe(Effect.provideService(Ledger, ledger)))
        .handle("get", ({ params }) => mapErrors(run(Movements.get("withdrawal", params.id)), "withdrawal"))
        .handle("post", ({ params }) => mapErrors(run(Movements.postWithdrawal(params.id)), "withdrawal"))
        .handle("void", ({ params }) => mapErrors(run(Movements.voidWithdrawal(params.id)), "withdrawal"))
    }))
