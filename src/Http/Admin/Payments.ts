/** Sending: quotes (`/quotes`) and outgoing payments (`/outgoing-payments`). */
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { OutgoingPayments } from "../../Payments/OutgoingPayments.ts"
import { Quotes } from "../../Payments/Quotes.ts"
import * as Payments from "../PaymentsJson.ts"
import type { AdminApi } from "./Api.ts"
import { AdminAuth, BadRequest, badRequest, Conflict, conflict, idParam, ledgerDown, NotFound, notFound, Unavailable, doc } from "./Common.ts"

export class QuotesGroup extends HttpApiGroup.make("quotes").add(
  HttpApiEndpoint.post("create", "/quotes", {
    payload: Payments.CreateQuoteRequest,
    success: Payments.QuoteJson,
    error: [BadRequest, NotFound, Conflict, Unavailable]
  }).annotateMerge(doc(
    "Create a quote",
    "Probes the rate to a receiver (an incoming payment URL, SPSP URL or STREAM credentials) from a local wallet address, for a debit amount or a receive amount; the quote expires after 5 minutes."
  )),
  HttpApiEndpoint.get("get", "/quotes/:id", { params: idParam, success: Payments.QuoteJson, error: NotFound }).annotateMerge(doc(
    "Read a quote",
    "One quote with its amounts, rates and expiry. 404 when unknown."
  ))
).middleware(AdminAuth) {}

export class OutgoingPaymentsGroup extends HttpApiGroup.make("outgoingPayments").add(
  HttpApiEndpoint.post("create", "/outgoing-payments", {
    payload: Payments.CreateOutgoingPaymentRequest,
    success: Payments.OutgoingPaymentJson,
    error: [NotFound, Conflict, Unavailable]
  }).annotateMerge(doc(
    "Pay a quote",
    "Reserves the quote's debit amount from the wallet address and sends it with STREAM; the payment resumes after a restart and refunds what it did not send. 409 when the quote expired, is already used or the balance is short."
  )),
  HttpApiEndpoint.get("get", "/outgoing-payments/:id", {
    params: idParam,
    success: Payments.OutgoingPaymentJson,
    error: NotFound
  }).annotateMerge(doc(
    "Read an outgoing payment",
    "One outgoing payment with its state and the amounts sent and delivered. 404 when unknown."
  )),
  // Operator action: stop sending; what is left is refunded to the wallet address.
  HttpApiEndpoint.post("cancel", "/outgoing-payments/:id/cancel", {
    params: idParam,
    success: Payments.OutgoingPaymentJson,
    error: [NotFound, Conflict]
  }).annotateMerge(doc(
    "Cancel an outgoing payment",
    "Stops a payment that is still sending (on whichever instance drives it) and refunds what it did not send to the wallet address. 409 when it already completed or failed."
  ))
).middleware(AdminAuth) {}

export const quotesHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "quotes", (handlers) =>
    Effect.gen(function*() {
      const quotes = yield* Quotes
      return handlers
        .handle("create", ({ payload }) =>
          quotes.create({
            walletAddressId: payload.walletAddressId,
            // The schema's check guarantees a receiver.
            receiver: Payments.receiverOf(payload.receiver)!,
            debitAmount: payload.debitAmount === undefined ? undefined : Payments.parseU64(payload.debitAmount),
            receiveAmount: payload.receiveAmount === undefined ? undefined : Payments.parseU64(payload.receiveAmount)
          }).pipe(
            Effect.map(Payments.quoteJson),
            Effect.catchTags({
              InvalidQuoteRequest: badRequest,
              InvalidReceiver: (error) => Effect.fail(new BadRequest({ message: `receiver: ${error.reason}` })),
              WalletAddressNotFound: notFound("walletAddressId"),
              ReceiverGone: (error) => Effect.fail(new Conflict({ message: `receiver: ${error.reason}` })),
              ReceiverUnavailable: (error) => Effect.fail(new Unavailable({ message: `receiver: ${error.reason}` })),
              QuoteFailed: (error) =>
                Effect.fail(
                  error.retryable ?
                    new Unavailable({ message: `quote failed: ${error.reason}` }) :
                    new Conflict({ message: `quote failed: ${error.reason}` })
                )
            })
          ))
        .handle("get", ({ params }) =>
          quotes.get(params.id).pipe(Effect.map(Payments.quoteJson), Effect.catchTag("QuoteNotFound", notFound("id"))))
    }))

export const outgoingPaymentsHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "outgoingPayments", (handlers) =>
    Effect.gen(function*() {
      const payments = yield* OutgoingPayments
      return handlers
        .handle("create", ({ payload }) =>
          payments.create({ quoteId: payload.quoteId }).pipe(
            Effect.map(Payments.outgoingPaymentJson),
            Effect.catchTags({
              QuoteNotFound: notFound("quoteId"),
              WalletAddressNotFound: notFound("the quote's wallet address"),
              QuoteExpired: conflict("quoteId: the quote has expired"),
              QuoteAlreadyUsed: conflict("quoteId: the quote is already paid by another outgoing payment"),
              InvalidOutgoingPayment: (error) => Effect.fail(new Conflict({ message: error.message })),
              InsufficientFunds: conflict("the wallet address's balance does not cover the debit amount"),
              LedgerUnavailable: ledgerDown
            })
          ))
        .handle("get", ({ params }) =>
          payments.get(params.id).pipe(
            Effect.map(Payments.outgoingPaymentJson),
            Effect.catchTag("OutgoingPaymentNotFound", notFound("id"))
          ))
        .handle("cancel", ({ params }) =>
          payments.cancel(params.id).pipe(
            Effect.map(Payments.outgoingPaymentJson),
            Effect.catchTags({
              OutgoingPaymentNotFound: notFound("id"),
              OutgoingPaymentFinished: (error) => Effect.fail(new Conflict({ message: `the outgoing payment is already ${error.state}` }))
            })
          ))
    }))
