/** Incoming payments: create, list per wallet address, read, STREAM credentials, complete, cancel (`/incoming-payments`). */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import {
  type IncomingPayment,
  type IncomingPaymentNotFound,
  type IncomingPaymentNotOpen,
  IncomingPayments,
  isOpen
} from "../../Payments/IncomingPayments.ts"
import { WalletAddresses } from "../../Payments/WalletAddresses.ts"
import { StreamCredentials } from "../../Stream/Credentials.ts"
import { ReceiptTotals } from "../../Stream/ReceiptTotals.ts"
import * as Payments from "../PaymentsJson.ts"
import type { AdminApi } from "./Api.ts"
import {
  AdminAuth,
  BadRequest,
  badRequest,
  Conflict,
  idParam,
  ledgerDown,
  NotFound,
  notFound,
  pageQuery,
  pageSizeDefault,
  receiptsDown,
  Unavailable,
  doc
} from "./Common.ts"

export class IncomingPaymentsGroup extends HttpApiGroup.make("incomingPayments").add(
  HttpApiEndpoint.post("create", "/incoming-payments", {
    payload: Payments.CreateIncomingPaymentRequest,
    success: Payments.IncomingPaymentJson,
    error: [BadRequest, NotFound, Unavailable]
  }).annotateMerge(doc(
    "Create an incoming payment",
    "Creates an incoming payment into a wallet address, with an optional incomingAmount cap, expiry and metadata (at most 16 KiB of JSON)."
  )),
  HttpApiEndpoint.get("list", "/wallet-addresses/:id/incoming-payments", {
    params: idParam,
    query: pageQuery,
    success: Schema.Array(Payments.IncomingPaymentJson),
    error: [NotFound, Unavailable]
  }).annotateMerge(doc(
    "List a wallet address's incoming payments",
    "The wallet address's incoming payments ordered by id with what each has received; keyset pages as for wallet addresses. 404 when the wallet address is unknown."
  )),
  HttpApiEndpoint.get("get", "/incoming-payments/:id", {
    params: idParam,
    success: Payments.IncomingPaymentJson,
    error: [NotFound, Unavailable]
  }).annotateMerge(doc(
    "Read an incoming payment",
    "One incoming payment with its state and received amount. 404 when unknown."
  )),
  HttpApiEndpoint.get("credentials", "/incoming-payments/:id/credentials", {
    params: idParam,
    success: Payments.CredentialsJson,
    error: [NotFound, Conflict]
  }).annotateMerge(doc(
    "STREAM credentials of an incoming payment",
    "An ILP address and shared secret a STREAM sender pays the incoming payment with. 409 when it is completed or expired."
  )),
  // Operator actions: no more money; what arrived stays in the payment's account.
  HttpApiEndpoint.post("complete", "/incoming-payments/:id/complete", {
    params: idParam,
    success: Payments.IncomingPaymentJson,
    error: [NotFound, Conflict, Unavailable]
  }).annotateMerge(doc(
    "Complete an incoming payment",
    "Marks an open incoming payment completed: it takes no more money; what it received stays in its account. 409 when it is already completed, cancelled or expired."
  )),
  HttpApiEndpoint.post("cancel", "/incoming-payments/:id/cancel", {
    params: idParam,
    success: Payments.IncomingPaymentJson,
    error: [NotFound, Conflict, Unavailable]
  }).annotateMerge(doc(
    "Cancel an incoming payment",
    "Cancels an open incoming payment: it takes no more money; what it received stays in its account (withdraw it with a withdrawal). 409 when it is no longer open."
  ))
).middleware(AdminAuth) {}

export const incomingPaymentsHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "incomingPayments", (handlers) =>
    Effect.gen(function*() {
      const payments = yield* IncomingPayments
      const wallets = yield* WalletAddresses
      const totals = yield* ReceiptTotals
      const credentials = yield* StreamCredentials
      const json = (payment: IncomingPayment) =>
        Effect.gen(function*() {
          const wallet = yield* payments.walletAddressOf(payment)
          const received = yield* totals.paymentTotal(payment.id)
          return Payments.incomingPaymentJson(payment, wallet.asset, received)
        })
      /** Complete or cancel, answered with the payment as it now stands. */
      const close = (closing: Effect.Effect<IncomingPayment, IncomingPaymentNotFound | IncomingPaymentNotOpen>) =>
        closing.pipe(
          Effect.flatMap(json),
          Effect.catchTags({
            IncomingPaymentNotFound: notFound("id"),
            IncomingPaymentNotOpen: (error) => Effect.fail(new Conflict({ message: `the incoming payment is ${error.state}` })),
            WalletAddressNotFound: notFound("id"),
            ReceiptStoreUnavailable: receiptsDown
          })
        )
      return handlers
        .handle("create", ({ payload }) =>
          payments.create({
            walletAddressId: payload.walletAddressId,
            incomingAmount: payload.incomingAmount === undefined ? undefined : Payments.parseU64(payload.incomingAmount),
            expiresAt: payload.expiresAt === undefined ? undefined : Date.parse(payload.expiresAt),
            metadata: payload.metadata
          }).pipe(
            Effect.flatMap(json),
            Effect.catchTags({
              InvalidIncomingPayment: badRequest,
              WalletAddressNotFound: notFound("walletAddressId"),
              LedgerUnavailable: ledgerDown,
              ReceiptStoreUnavailable: receiptsDown
            })
          ))
        .handle("list", ({ params, query }) =>
          wallets.get(params.id).pipe(
            Effect.andThen(payments.list(params.id, { limit: query.limit ?? pageSizeDefault, after: query.after })),
            Effect.flatMap((page) => Effect.forEach(page, json)),
            Effect.catchTags({
              WalletAddressNotFound: notFound("id"),
              ReceiptStoreUnavailable: receiptsDown
            })
          ))
        .handle("get", ({ params }) =>
          payments.get(params.id).pipe(
            Effect.flatMap(json),
            Effect.catchTags({
              IncomingPaymentNotFound: notFound("id"),
              WalletAddressNotFound: notFound("id"),
              ReceiptStoreUnavailable: receiptsDown
            })
          ))
        .handle("credentials", ({ params }) =>
          Effect.gen(function*() {
            const payment = yield* payments.get(params.id)
            if (!isOpen(payment)) {
              return yield* new Conflict({ message: `the incoming payment is ${payment.state}` })
            }
            const wallet = yield* payments.walletAddressOf(payment)
            const generated = credentials.generate({ kind: "incoming", id: payment.id }, wallet.asset)
            return {
              ilpAddress: generated.ilpAddress,
              sharedSecret: Buffer.from(generated.sharedSecret).toString("base64")
            }
          }).pipe(Effect.catchTags({ IncomingPaymentNotFound: notFound("id"), WalletAddressNotFound: notFound("id") })))
        .handle("complete", ({ params }) => close(payments.complete(params.id)))
        .handle("cancel", ({ params }) => close(payments.cancel(params.id)))
    }))
