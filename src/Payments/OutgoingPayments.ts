/**
 * Outgoing payments (SPEC §8): a quote, paid. States: `sending` → `completed` | `failed` (and a
 * transient `funding` while the ledger has not confirmed the reservation of the debit amount).
 *
 * Money (`PaymentLedger.ts`). Creating a payment moves the quote's debit amount from the wallet
 * address to the payment's own ledger account; a wallet that cannot cover it refuses the payment
 * before anything is sent (`InsufficientFunds`, and no payment is kept). Packets then debit the
 * payment's account through the in-process plugin, exactly like any source account. At the end,
 * whatever is left goes back to the wallet address. The ledger is the truth for what was sent.
 *
 * Sending (`PaymentWorker.ts`, `Attempts.ts`). A worker fiber per payment (at most `concurrentPaymentsMax` at once) runs
 * attempts: each resolves the receiver (a fresh STREAM connection), runs Pay's setup, and pays what
 * is left — bounded by the account's remaining balance (the ledger) and, for a fixed delivery, by
 * what is still to deliver (and by what an incoming payment of ours may still receive). Temporary
 * failures are retried with backoff up to `attemptsMax`; final ones fail the payment with a reason.
 *
 * One driver at a time, across instances. A worker first takes the payment's lease (a row lease
 * with an expiry, `leaseTtlMs`, in the shared store) and renews it every third of that while it
 * works; if a renewal fails it stops at once. Every instance looks every `takeoverIntervalMs` for
 * unfinished payments without a live lease and starts a worker for them: after a crash (or a
 * SIGKILL) another instance takes the payment over once the lease lapses. What the dead instance
 * sent is in the ledger (its pending reservations settle when the ledger times them out, which the
 * worker waits for), so it is never paid twice. A graceful stop releases the leases.
 *
 * The outcome is recorded (once: a conditional update) before the refund and the state after it,
 * so a crash in between only repeats the (idempotent) refund. Cancelling records the outcome; the
 * driving worker sees it at its next lease renewal, stops sending and refunds.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Semaphore from "effect/Semaphore"
import { randomUUID } from "node:crypto"
import { ids, ledgerOf } from "../Accounting/Accounts.ts"
import { AccountCode, Ledger, type LedgerUnavailable } from "../Accounting/Ledger.ts"
import { NodeConfigService } from "../Config.ts"
import { Plugins } from "../Connector/Plugin.ts"
import { defaultSendingLimits, limitsProblem, type SendingLimits } from "./Limits.ts"
import { makePaymentLedger } from "./PaymentLedger.ts"
import { makeWorker } from "./PaymentWorker.ts"
import { type Amount, type Quote, type QuoteNotFound, Quotes } from "./Quotes.ts"
import { type ReceiverRef, resolveServices } from "./Receivers.ts"
import { type OutgoingPaymentRecord, type OutgoingPaymentState, PaymentsStore } from "./Store.ts"
import { WalletAddresses, type WalletAddressNotFound } from "./WalletAddresses.ts"

export type { OutgoingPaymentState }

export interface OutgoingPayment {
  readonly id: string
  readonly quoteId: string
  readonly walletAddressId: string
  readonly receiver: ReceiverRef
  readonly state: OutgoingPaymentState
  readonly debitAmount: Amount
  readonly receiveAmount: Amount
  /** Sent so far, in the debit asset (the payment account's posted packet debits). */
  readonly sentAmount: bigint
  /** Delivered so far, in the receive asset (as the receiver reported through STREAM). */
  readonly deliveredAmount: bigint
  /** Why the payment failed (or why the last attempt did, while it retries). */
  readonly error: string | undefined
  readonly attempts: number
  readonly createdAt: number
  readonly updatedAt: number
  readonly ledgerAccountId: bigint
}

export class OutgoingPaymentNotFound extends Data.TaggedError("OutgoingPaymentNotFound")<{ readonly id: string }> {}
export class QuoteExpired extends Data.TaggedError("QuoteExpired")<{ readonly quoteId: string }> {}
export class QuoteAlreadyUsed extends Data.TaggedError("QuoteAlreadyUsed")<{ readonly quoteId: string }> {}
export class InvalidOutgoingPayment extends Data.TaggedError("InvalidOutgoingPayment")<{ readonly message: string }> {}
/** The wallet address cannot cover the debit amount: refused before anything was sent. */
export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{ readonly walletAddressId: string }> {}
/** Cancel asked of a payment that already has its outcome. */
export class OutgoingPaymentFinished extends Data.TaggedError("OutgoingPaymentFinished")<{
  readonly id: string
  readonly state: OutgoingPaymentState
}> {}

export type CreateOutgoingPaymentError =
  | QuoteNotFound
  | QuoteExpired
  | QuoteAlreadyUsed
  | InvalidOutgoingPayment
  | InsufficientFunds
  | WalletAddressNotFound
  | LedgerUnavailable

export interface OutgoingPaymentsShape {
  /** Funds the payment from its wallet address and starts sending it (answers at once). */
  readonly create: (input: { readonly quoteId: string }) => Effect.Effect<OutgoingPayment, CreateOutgoingPaymentError>
  readonly get: (id: string) => Effect.Effect<OutgoingPayment, OutgoingPaymentNotFound>
  readonly list: (
    walletAddressId: string,
    options: { readonly limit: number; readonly after?: string | undefined }
  ) => Effect.Effect<ReadonlyArray<OutgoingPayment>>
  /**
   * Stops sending and refunds what is left to the wallet address (outcome `failed`, error
   * "cancelled by the operator"). Answers at once; the instance driving it stops within
   * `takeoverIntervalMs` and refunds.
   */
  readonly cancel: (id: string) => Effect.Effect<OutgoingPayment, OutgoingPaymentNotFound | OutgoingPaymentFinished>
  /** Starts every unfinished payment nobody drives (at start-up); answers how many. */
  readonly resume: Effect.Effect<number>
}

export class OutgoingPayments extends Context.Service<OutgoingPayments, OutgoingPaymentsShape>()(
  "Payments/OutgoingPayments"
) {}

export const listLimitMax = 500

/** The error recorded when the operator cancels a payment. */
export const cancelledReason = "cancelled by the operator"

const fromRecord = (record: OutgoingPaymentRecord, quote: Quote): OutgoingPayment => ({
  id: record.id,
  quoteId: record.quoteId,
  walletAddressId: record.walletAddressId,
  receiver: quote.receiver,
  state: record.state,
  debitAmount: quote.debitAmount,
  receiveAmount: quote.receiveAmount,
  sentAmount: record.sentAmount,
  deliveredAmount: record.deliveredAmount,
  error: record.error ?? undefined,
  attempts: record.attempts,
  createdAt: record.createdAt,
  updatedAt: record.updatedAt,
  ledgerAccountId: ids.outgoingPayment(record.id)
})

export const make = (limits: SendingLimits = defaultSendingLimits) =>
  Effect.gen(function*() {
    const problem = limitsProblem(limits)
    if (problem !== undefined) return yield* Effect.die(new Error(`sending limits: ${problem}`))
    const store = (yield* PaymentsStore).outgoingPayments
    const ledger = yield* Ledger
    const quotes = yield* Quotes
    const walletAddresses = yield* WalletAddresses
    const plugins = yield* Plugins
    const config = yield* NodeConfigService
    const services = yield* resolveServices({ timeoutMs: limits.spspTimeoutMs, bodyBytesMax: limits.spspBodyBytesMax })
    const workers = yield* FiberMap.make<string>()
    const slots = yield* Semaphore.make(limits.concurrentPaymentsMax)
    const money = makePaymentLedger(ledger, limits)
    /** This process, as a lease owner. */
    const instanceId = randomUUID()

    const recordOf = (id: string) => Effect.map(store.byId(id), (record) => record!)

    const get = (id: string) =>
      Effect.flatMap(store.byId(id), (record) =>
        record === undefined ?
          Effect.fail(new OutgoingPaymentNotFound({ id })) :
          Effect.map(Effect.orDie(quotes.get(record.quoteId)), (quote) => fromRecord(record, quote)))

    const now = Clock.currentTimeMillis

    const { work } = makeWorker({
      store,
      money,
      quotes,
      walletAddresses,
      plugins,
      ourAddress: config.ilpAddress,
      services,
      limits,
      instanceId,
      slots
    })

    const startWorker = (id: string) => Effect.asVoid(FiberMap.run(workers, id, work(id), { onlyIfMissing: true }))

    /** Starts a worker for every unfinished payment without a live lease; answers how many. */
    const takeOver = Effect.gen(function*() {
      let count = 0
      let cursor = { createdAt: -1, id: "" }
      const at = yield* now
      for (;;) {
        const rows = yield* store.unleased(at, cursor, limits.resumePageSize)
        for (const row of rows) yield* startWorker(row.id)
        count += rows.length
        const last = rows.at(-1)
        if (last === undefined || rows.length < limits.resumePageSize) return count
        cursor = last
      }
    })

    yield* Effect.forkScoped(
      Effect.repeat(
        Effect.catchCause(takeOver, (cause) => Effect.logWarning("outgoing payments: takeover scan failed", cause)),
        Schedule.spaced(limits.takeoverIntervalMs)
      ).pipe(Effect.delay(limits.takeoverIntervalMs))
    )

    // ----- operations --------------------------------------------------------------------------

    const create = Effect.fn("OutgoingPayments.create")(function*(input: { readonly quoteId: string }) {
      const quote = yield* quotes.get(input.quoteId)
      const at = yield* now
      if (quote.expiresAt <= at) return yield* new QuoteExpired({ quoteId: quote.id })
      if ((yield* store.byQuote(quote.id)) !== undefined) return yield* new QuoteAlreadyUsed({ quoteId: quote.id })
      const wallet = yield* walletAddresses.get(quote.walletAddressId)
      if (!wallet.active) return yield* new InvalidOutgoingPayment({ message: "the wallet address is inactive" })
      const id = randomUUID()
      yield* ledger.createAccounts([{
        id: ids.outgoingPayment(id),
        ledger: ledgerOf(quote.debitAmount.asset),
        code: AccountCode.outgoingPayment,
        flags: { debitsMustNotExceedCredits: true }
      }])
      // The UNIQUE quote_id decides a race between two requests (on any instances) for one quote.
      if ((yield* store.insert({ id, quoteId: quote.id, walletAddressId: wallet.id, createdAt: at })) === "quoteUsed") {
        return yield* new QuoteAlreadyUsed({ quoteId: quote.id })
      }
      const funded = yield* Effect.result(money.fund(quote, id, wallet.ledgerAccountId))
      if (funded._tag === "Failure" && funded.failure._tag === "InsufficientBalance") {
        yield* store.removeFunding(id)
        return yield* new InsufficientFunds({ walletAddressId: wallet.id })
      }
      // Funded, or unknown (ledger unavailable): the worker funds it (idempotently) and sends.
      if (funded._tag === "Success") yield* store.update(id, { state: "sending" }, yield* now)
      yield* startWorker(id)
      return yield* Effect.orDie(get(id))
    })

    const cancel = Effect.fn("OutgoingPayments.cancel")(function*(id: string) {
      const record = yield* store.byId(id)
      if (record === undefined) return yield* new OutgoingPaymentNotFound({ id })
      const decided = record.outcome === null &&
        (yield* store.decide(id, { outcome: "failed", error: cancelledReason, sentAmount: null }, yield* now))
      if (!decided) {
        const current = yield* recordOf(id)
        return yield* new OutgoingPaymentFinished({ id, state: current.state })
      }
      yield* Effect.logInfo(`outgoing payment ${id} cancelled by the operator`)
      // Whoever holds the lease sees the outcome and refunds; if nobody does, this instance does.
      yield* startWorker(id)
      return yield* Effect.orDie(get(id))
    })

    const list = (walletAddressId: string, options: { readonly limit: number; readonly after?: string | undefined }) =>
      Effect.flatMap(
        store.page(walletAddressId, { after: options.after ?? "", limit: Math.min(Math.max(1, options.limit), listLimitMax) }),
        (records) =>
          Effect.forEach(records, (record) => Effect.map(Effect.orDie(quotes.get(record.quoteId)), (quote) => fromRecord(record, quote)))
      )

    return OutgoingPayments.of({ create, get, list, cancel, resume: takeOver })
  })

export const layer = (limits: SendingLimits = defaultSendingLimits) => Layer.effect(OutgoingPayments, make(limits))
