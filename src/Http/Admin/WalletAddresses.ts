/** Wallet addresses: create, list, read, deposit (`/wallet-addresses`). */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { ids, ledgerOf } from "../../Accounting/Accounts.ts"
import { Ledger, newTransferId, TransferCode } from "../../Accounting/Ledger.ts"
import * as Liquidity from "../../Accounting/Liquidity.ts"
import { type WalletAddress, WalletAddresses } from "../../Payments/WalletAddresses.ts"
import * as Payments from "../PaymentsJson.ts"
import type { AdminApi } from "./Api.ts"
import {
  AdminAuth,
  BadRequest,
  badRequest,
  Conflict,
  conflict,
  idParam,
  ledgerDown,
  NotFound,
  notFound,
  pageQuery,
  pageSizeDefault,
  parseTransferId,
  refuseReusedId,
  Unavailable,
  doc
} from "./Common.ts"

export class WalletAddressesGroup extends HttpApiGroup.make("walletAddresses").add(
  HttpApiEndpoint.post("create", "/wallet-addresses", {
    payload: Payments.CreateWalletAddressRequest,
    success: Payments.WalletAddressJson,
    error: [BadRequest, Conflict, Unavailable]
  }).annotateMerge(doc(
    "Create a wallet address",
    "Creates a wallet address (URL this node answers SPSP for, and an asset) with its ledger account. 409 when the URL exists."
  )),
  HttpApiEndpoint.get("list", "/wallet-addresses", {
    query: pageQuery,
    success: Schema.Array(Payments.WalletAddressJson),
    error: [Unavailable]
  }).annotateMerge(doc(
    "List wallet addresses",
    "Wallet addresses ordered by id with their available balance; keyset pages: limit (1..500, default 100) rows after the id given as after."
  )),
  HttpApiEndpoint.get("get", "/wallet-addresses/:id", {
    params: idParam,
    success: Payments.WalletAddressJson,
    error: [NotFound, Unavailable]
  }).annotateMerge(doc(
    "Read a wallet address",
    "One wallet address with its available balance. 404 when unknown."
  )),
  HttpApiEndpoint.post("deposit", "/wallet-addresses/:id/deposit", {
    params: idParam,
    payload: Payments.WalletDepositRequest,
    success: Payments.WalletDepositResult,
    error: [NotFound, Conflict, Unavailable]
  }).annotateMerge(doc(
    "Deposit to a wallet address",
    "Moves amount from the asset's settlement account into the wallet address. Idempotent by transferId; 409 when the id was used for a different or failed transfer."
  ))
).middleware(AdminAuth) {}

export const walletAddressesHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "walletAddresses", (handlers) =>
    Effect.gen(function*() {
      const wallets = yield* WalletAddresses
      const ledger = yield* Ledger
      const withBalance = (wallet: WalletAddress) =>
        Effect.map(ledger.balances([wallet.ledgerAccountId]), ([balance]) =>
          Payments.walletAddressJson(wallet, balance === undefined ? 0n : Liquidity.available(balance)))
      const deposit = (id: string, body: typeof Payments.WalletDepositRequest.Type) =>
        Effect.gen(function*() {
          const wallet = yield* wallets.get(id)
          if (!wallet.active) return yield* new Conflict({ message: "the wallet address is inactive; deposits are refused" })
          const transferId = body.transferId === undefined ? newTransferId() : parseTransferId(body.transferId)
          if (transferId === undefined) return yield* new Conflict({ message: "transferId: not a usable u128 id" })
          // Money from outside the ledger (the asset's settlement account) into the wallet address.
          yield* refuseReusedId(ledger.transfer([{
            id: transferId,
            debitAccountId: ids.settlement(wallet.asset),
            creditAccountId: wallet.ledgerAccountId,
            amount: Payments.parseU64(body.amount)!,
            ledger: ledgerOf(wallet.asset),
            code: TransferCode.deposit
          }]))
          const json = yield* withBalance(wallet)
          return { transferId: transferId.toString(), balance: json.balance }
        })
      return handlers
        .handle("create", ({ payload }) =>
          wallets.create(payload).pipe(
            Effect.flatMap(withBalance),
            Effect.catchTags({
              InvalidWalletAddress: badRequest,
              WalletAddressConflict: (error) => Effect.fail(new Conflict({ message: error.message })),
              LedgerUnavailable: ledgerDown
            })
          ))
        .handle("list", ({ query }) =>
          wallets.list({ limit: query.limit ?? pageSizeDefault, after: query.after }).pipe(
            Effect.flatMap((page) => Effect.forEach(page, withBalance)),
            Effect.catchTags({ LedgerUnavailable: ledgerDown })
          ))
        .handle("get", ({ params }) =>
          wallets.get(params.id).pipe(
            Effect.flatMap(withBalance),
            Effect.catchTags({ WalletAddressNotFound: notFound("id"), LedgerUnavailable: ledgerDown })
          ))
        .handle("deposit", ({ params, payload }) =>
          deposit(params.id, payload).pipe(
            Effect.catchTags({
              WalletAddressNotFound: notFound("id"),
              InsufficientBalance: conflict("amount: refused by the ledger"),
              LedgerUnavailable: ledgerDown
            })
          ))
    }))
