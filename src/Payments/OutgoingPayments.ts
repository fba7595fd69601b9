/**
 * Outgoing payments (SPEC §8): a quote, paid. States: `sending` → `completed` | `failed` (and a
 * transient `funding` while the ledger has not confirmed the reservation of the debit amount).
 *
 * Money. Creating a payment moves the quote's debit amount from the wallet address to the payment's
 * own ledger account (posted transfer, `TransferCode.paymentFunding`); a wallet that cannot cover it
 * refuses the payment before anything is sent (`InsufficientFunds`, and no payment is kept). Packets
 * then debit the payment's account through the in-process plugin, exactly like any source account.
 * At the end, whatever is left in the account goes back to the wallet address
 * (`TransferCode.refund`). Both transfers have ids derived from the payment id, so a retry after a
 * crash is idempotent. The ledger is the truth for what was sent: `sentAmount` is the account's
 * posted debits (packets), `deliveredAmount` what the receiver reported through STREAM.
 *
 * Sending. A worker fiber per payment (at most `concurrentPaymentsMax` at once) runs attempts: each
 * resolves the receiver (a fresh STREAM connection), runs Pay's setup, and pays what is left —
 * bounded by the account's remaining balance (the ledger) and, for a fixed delivery, by what is
 * still to deliver (and by what an incoming payment of ours may still receive) — with the quote's
 * rates and max packet amount. Temporary failures (idle timeout, R-code rejects, rates moved, SPSP
 * down, ...) are retried with exponential backoff up to `attemptsMax`; final ones (the receiver is
 * gone, F-code rejects, the receiver closed the connection, ...) fail the payment with a reason.
 *
 * Restarts. State and amounts live in the payments database. `resume` (called at start) restarts
 * every payment still `funding` or `sending`: what was sent before the restart is already debited
 * from the payment's account, so it is never paid twice. The outcome is recorded before the refund
 * and the state after it, so a crash in between only repeats the (idempotent) refund.
 */
import { Cause, Clock, Context, Data, Effect, FiberMap, Layer, Schedule, Semaphore } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { ids, ledgerOf } from "../Accounting/Accounts.ts"
import {
  AccountCode,
  type AccountBalance,
  Ledger,
  LedgerDefect,
  type LedgerUnavailable,
  TransferCode
} from "../Accounting/Ledger.ts"
import { NodeConfigService } from "../Config.ts"
import { localAccount, Plugins } from "../Connector/Plugin.ts"
import { PaymentsDb } from "./Database.ts"
import { backoffMs, defaultSendingLimits, limitsProblem, type SendingLimits } from "./Limits.ts"
import * as Pay from "./Pay.ts"
import { type Amount, describePayFailure, type Quote, type QuoteNotFound, Quotes } from "./Quotes.ts"
import {
  type Destination,
  type Receiver,
  type ReceiverError,
  type ReceiverRef,
  resolve,
  resolveServices
} from "./Receivers.ts"
import { WalletAddresses, type WalletAddressNotFound } from "./WalletAddresses.ts"

export type OutgoingPaymentState = "funding" | "sending" | "completed" | "failed"

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
/** Packet reservations on the payment's account did not settle within `settleWaitMsMax`. */
export class ReservationsPending extends Data.TaggedError("ReservationsPending")<{ readonly paymentId: string }> {}

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
  /** Restarts every unfinished payment (at start-up); answers how many. */
  readonly resume: Effect.Effect<number>
}

export class OutgoingPayments extends Context.Service<OutgoingPayments, OutgoingPaymentsShape>()(
  "Payments/OutgoingPayments"
) {}

export const listLimitMax = 500

// ---------------------------------------------------------------------------------------------
// Pure leaves
// ---------------------------------------------------------------------------------------------

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/** A u128 transfer id derived from a label (first 16 bytes of its SHA-256), like account ids. Pure. */
export const transferIdFor = (label: string): bigint => {
  const bytes = digest(`transfer:${label}`)
  let id = 0n
  for (let i = 0; i < 16; i++) id = (id << 8n) | BigInt(bytes[i]!)
  if (id === 0n || id === (1n << 128n) - 1n) throw new Error(`reserved transfer id for ${label}`)
  return id
}

export const transferIds = {
  funding: (paymentId: string) => transferIdFor(`outgoing-payment-funding:${paymentId}`),
  refund: (paymentId: string) => transferIdFor(`outgoing-payment-refund:${paymentId}`)
} as const

/** How an attempt ended. */
export type AttemptResult =
  | { readonly kind: "done" }
  | { readonly kind: "final"; readonly reason: string }
  | { readonly kind: "temporary"; readonly reason: string }

const done: AttemptResult = { kind: "done" }
const final = (reason: string): AttemptResult => ({ kind: "final", reason })
const temporary = (reason: string): AttemptResult => ({ kind: "temporary", reason })

/** Pay errors that a later attempt can get past (a new connection, rates that recovered, a path that recovered). */
const temporaryPayErrors = new Set([
  "IdleTimeout",
  "EstablishmentFailed",
  "RateProbeFailed",
  "InsufficientExchangeRate",
  "Timeout",
  "UnexpectedError"
])

/**
 * Whether a Pay failure is worth another attempt. An F-code reject on the way (unreachable, bad
 * packet, ...) is final whatever Pay made of it (`ConnectorError`, or `EstablishmentFailed` when
 * the receiver could not be reached at all); an R-code (timing) is temporary; otherwise Pay's
 * error decides. Pay's failure carries the reject as a readable reason. Pure.
 */
export const classify = (failure: Pay.PayFailed): AttemptResult => {
  const reason = describePayFailure(failure)
  const code = failure.finalReject?.code
  if (code !== undefined) return code.startsWith("F") ? final(reason) : temporary(reason)
  return temporaryPayErrors.has(failure.error) || failure.error === "ConnectorError" ? temporary(reason) : final(reason)
}

const receiverResult = (error: ReceiverError): AttemptResult =>
  error._tag === "ReceiverUnavailable" ? temporary(error.reason) : final(error.reason)

/** Pay's `minDeliveryAmount` for a fixed send of `amount` at `minRate`: ceil((amount - 1) * rate). Pure. */
export const minDeliveryFor = (amount: bigint, minRate: { readonly num: bigint; readonly den: bigint }): bigint => {
  if (amount <= 1n) return 0n
  const product = (amount - 1n) * minRate.num
  return (product + minRate.den - 1n) / minRate.den
}

const minOf = (a: bigint, b: bigint | undefined): bigint => (b === undefined || a < b ? a : b)

/** Where a payment stands before an attempt. */
interface Left {
  /** Still in the payment's account: the most this attempt may send. */
  readonly source: bigint
  /** Sent by earlier attempts (the account's posted debits). */
  readonly sent: bigint
  /** Delivered by earlier attempts. */
  readonly delivered: bigint
  /** Still to deliver for a fixed delivery; undefined for a fixed send. */
  readonly delivery: bigint | undefined
}

/** The quote Pay sends with for what is left: the stored rates and max packet, the amounts reduced. Pure. */
export const sendQuoteFor = (quote: Quote, source: bigint, delivery: bigint | undefined): Pay.SendQuote => ({
  paymentType: quote.paymentType,
  maxSourceAmount: source,
  minDeliveryAmount: delivery ?? minDeliveryFor(source, quote.minExchangeRate),
  maxPacketAmount: quote.maxPacketAmount,
  minExchangeRate: quote.minExchangeRate,
  lowEstimatedExchangeRate: quote.lowEstimatedExchangeRate,
  highEstimatedExchangeRate: quote.highEstimatedExchangeRate
})

/**
 * Runs `attempt` until it is done or fails finally, waiting `backoffMs` between temporary failures;
 * after `attemptsMax` attempts a temporary failure is final. `onTemporary` records each one.
 */
export const retrying = <R>(
  limits: Pick<SendingLimits, "attemptsMax" | "backoffMsBase" | "backoffMsMax">,
  attempt: (n: number) => Effect.Effect<AttemptResult, never, R>,
  onTemporary: (reason: string) => Effect.Effect<void, never, R> = () => Effect.void
): Effect.Effect<Exclude<AttemptResult, { kind: "temporary" }>, never, R> => {
  const loop = (n: number): Effect.Effect<Exclude<AttemptResult, { kind: "temporary" }>, never, R> =>
    Effect.flatMap(attempt(n), (result) => {
      if (result.kind !== "temporary") return Effect.succeed(result)
      if (n >= limits.attemptsMax) return Effect.succeed({ kind: "final", reason: `${result.reason} (after ${n} attempts)` } as const)
      return onTemporary(result.reason).pipe(
        Effect.andThen(Effect.sleep(backoffMs(limits, n))),
        Effect.andThen(Effect.suspend(() => loop(n + 1)))
      )
    })
  return loop(1)
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

interface Row {
  id: string
  quote_id: string
  wallet_address_id: string
  state: OutgoingPaymentState
  outcome: "completed" | "failed" | null
  sent_amount: string
  delivered_amount: string
  error: string | null
  attempts: number
  created_at: number
  updated_at: number
}

const fromRow = (row: Row, quote: Quote): OutgoingPayment => ({
  id: row.id,
  quoteId: row.quote_id,
  walletAddressId: row.wallet_address_id,
  receiver: quote.receiver,
  state: row.state,
  debitAmount: quote.debitAmount,
  receiveAmount: quote.receiveAmount,
  sentAmount: BigInt(row.sent_amount),
  deliveredAmount: BigInt(row.delivered_amount),
  error: row.error ?? undefined,
  attempts: row.attempts,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  ledgerAccountId: ids.outgoingPayment(row.id)
})

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

export const make = (limits: SendingLimits = defaultSendingLimits) =>
  Effect.gen(function*() {
    const problem = limitsProblem(limits)
    if (problem !== undefined) return yield* Effect.die(new Error(`sending limits: ${problem}`))
    const { db } = yield* PaymentsDb
    const ledger = yield* Ledger
    const quotes = yield* Quotes
    const walletAddresses = yield* WalletAddresses
    const plugins = yield* Plugins
    const config = yield* NodeConfigService
    const services = yield* resolveServices({ timeoutMs: limits.spspTimeoutMs, bodyBytesMax: limits.spspBodyBytesMax })
    const workers = yield* FiberMap.make<string>()
    const slots = yield* Semaphore.make(limits.concurrentPaymentsMax)

    const sql = {
      insert: db.prepare(
        `INSERT INTO outgoing_payments (id, quote_id, wallet_address_id, state, sent_amount, delivered_amount, attempts,
           created_at, updated_at) VALUES (?, ?, ?, 'funding', '0', '0', 0, ?, ?)`
      ),
      quoteUsed: db.prepare("SELECT 1 FROM outgoing_payments WHERE quote_id = ?"),
      byId: db.prepare("SELECT * FROM outgoing_payments WHERE id = ?"),
      remove: db.prepare("DELETE FROM outgoing_payments WHERE id = ? AND state = 'funding'"),
      page: db.prepare("SELECT * FROM outgoing_payments WHERE wallet_address_id = ? AND id > ? ORDER BY id LIMIT ?"),
      unfinished: db.prepare(
        `SELECT id, created_at FROM outgoing_payments WHERE state IN ('funding', 'sending')
           AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?`
      ),
      setState: db.prepare("UPDATE outgoing_payments SET state = ?, updated_at = ? WHERE id = ?"),
      setProgress: db.prepare("UPDATE outgoing_payments SET sent_amount = ?, delivered_amount = ?, updated_at = ? WHERE id = ?"),
      setError: db.prepare("UPDATE outgoing_payments SET error = ?, updated_at = ? WHERE id = ?"),
      addAttempt: db.prepare("UPDATE outgoing_payments SET attempts = attempts + 1, updated_at = ? WHERE id = ?"),
      setOutcome: db.prepare("UPDATE outgoing_payments SET outcome = ?, error = ?, sent_amount = ?, updated_at = ? WHERE id = ?")
    }

    const rowOf = (id: string) => sql.byId.get(id) as Row | undefined

    const get = (id: string) =>
      Effect.suspend(() => {
        const row = rowOf(id)
        if (row === undefined) return Effect.fail(new OutgoingPaymentNotFound({ id }))
        return Effect.map(Effect.orDie(quotes.get(row.quote_id)), (quote) => fromRow(row, quote))
      })

    const touch = <A>(f: (now: number) => A) => Effect.map(Clock.currentTimeMillis, f)

    // ----- ledger ------------------------------------------------------------------------------

    const balanceOf = (id: string) =>
      Effect.map(ledger.balances([ids.outgoingPayment(id)]), ([balance]): AccountBalance =>
        balance ?? { id: ids.outgoingPayment(id), debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n })

    /** The payment account's balance once no packet reservation is pending (bounded wait). */
    const settledBalance = (id: string) =>
      balanceOf(id).pipe(
        Effect.flatMap((balance) =>
          balance.debitsPending === 0n ? Effect.succeed(balance) : Effect.fail(new ReservationsPending({ paymentId: id }))
        ),
        Effect.retry({ while: (error) => error._tag === "ReservationsPending", schedule: Schedule.spaced("50 millis") }),
        Effect.timeoutOrElse({
          duration: limits.settleWaitMsMax,
          orElse: () => Effect.fail(new ReservationsPending({ paymentId: id }))
        })
      )

    const fund = (quote: Quote, id: string, walletAccountId: bigint) =>
      ledger.transfer([{
        id: transferIds.funding(id),
        debitAccountId: walletAccountId,
        creditAccountId: ids.outgoingPayment(id),
        amount: quote.debitAmount.value,
        ledger: ledgerOf(quote.debitAmount.asset),
        code: TransferCode.paymentFunding
      }])

    const refund = (quote: Quote, id: string, walletAccountId: bigint, amount: bigint) =>
      amount === 0n ? Effect.void : ledger.transfer([{
        id: transferIds.refund(id),
        debitAccountId: ids.outgoingPayment(id),
        creditAccountId: walletAccountId,
        amount,
        ledger: ledgerOf(quote.debitAmount.asset),
        code: TransferCode.refund
      }]).pipe(
        Effect.retry({ while: (error) => error._tag === "LedgerUnavailable", schedule: Schedule.exponential("100 millis"), times: 5 })
      )

    // ----- one attempt -------------------------------------------------------------------------

    const sourceOf = (id: string, quote: Quote) =>
      localAccount({
        id: `payment-${id}`,
        asset: quote.debitAmount.asset,
        ledgerAccountId: ids.outgoingPayment(id),
        ourAddress: config.ilpAddress
      })

    /** What is left to send (the ledger) and to deliver (undefined for a fixed send). */
    const leftOf = (id: string, quote: Quote) =>
      Effect.map(settledBalance(id), (balance): Left => {
        const row = rowOf(id)!
        const delivered = BigInt(row.delivered_amount)
        return {
          source: balance.creditsPosted - balance.debitsPosted,
          sent: balance.debitsPosted,
          delivered,
          delivery: quote.paymentType === "FixedDelivery" ? quote.receiveAmount.value - delivered : undefined
        }
      })

    /** Records Pay's progress on top of what earlier attempts did (best effort while shutting down). */
    const recorder = (id: string, left: Left) => (progress: Pay.PaymentProgress) => {
      try {
        sql.setProgress.run(
          (left.sent + progress.amountSent).toString(),
          (left.delivered + progress.amountDelivered).toString(),
          Date.now(),
          id
        )
      } catch {
        // The store is closing: the ledger keeps what was sent, read again on resume.
      }
    }

    /** Pay's setup towards the receiver, then Pay for what is left, from the payment's account. */
    const pay = (id: string, quote: Quote, left: Left, destination: Destination, delivery: bigint | undefined) =>
      Effect.scoped(Effect.gen(function*() {
        yield* touch((now) => sql.addAttempt.run(now, id))
        const session = yield* Pay.session(plugins, { sourceAccount: sourceOf(id, quote), unfulfillable: false })
        const resolved = yield* Pay.setup(session, destination, limits.setupTimeoutMs)
        const asset = resolved.destinationAsset
        if (asset.code !== quote.receiveAmount.asset.code || asset.scale !== quote.receiveAmount.asset.scale) {
          return final(`the receiver's asset changed to ${asset.code}:${asset.scale}`)
        }
        const record = recorder(id, left)
        const { progress, failure } = yield* Pay.send(session, resolved, sendQuoteFor(quote, left.source, delivery), {
          onProgress: record,
          timeoutMs: limits.attemptDurationMsMax
        })
        if (progress !== undefined) record(progress)
        if (failure === undefined) return done
        const reached = delivery !== undefined && progress !== undefined && progress.amountDelivered >= delivery
        return reached ? done : classify(failure)
      }))

    /** One attempt: what is left (ledger first), a fresh connection to the receiver, Pay. */
    const attempt = (id: string, quote: Quote, receiver: Receiver): Effect.Effect<AttemptResult> =>
      Effect.gen(function*() {
        const left = yield* leftOf(id, quote)
        if (left.source <= 0n || (left.delivery !== undefined && left.delivery <= 0n)) return done
        const destination = yield* resolve(services, receiver)
        const delivery = left.delivery === undefined ? undefined : minOf(left.delivery, destination.local?.receivable)
        return yield* pay(id, quote, left, destination, delivery)
      }).pipe(
        Effect.catchTags({
          PayFailed: (failure) => Effect.succeed(classify(failure)),
          ReceiverGone: (error) => Effect.succeed(receiverResult(error)),
          ReceiverUnavailable: (error) => Effect.succeed(receiverResult(error)),
          InvalidReceiver: (error) => Effect.succeed(receiverResult(error)),
          LedgerUnavailable: () => Effect.succeed(temporary("ledger unavailable")),
          ReservationsPending: () => Effect.succeed(temporary("packet reservations still pending"))
        })
      )

    // ----- the worker --------------------------------------------------------------------------

    /**
     * Records the outcome, returns what is left to the wallet address, then sets the state. Retried
     * (with backoff) while the ledger is unavailable or reservations are still pending; after that the
     * payment stays unfinished and the next start finishes it.
     */
    const finish = (id: string, quote: Quote, outcome: "completed" | "failed", reason: string | undefined) =>
      Effect.gen(function*() {
        const wallet = yield* Effect.orDie(walletAddresses.get(quote.walletAddressId))
        const row = rowOf(id)!
        const balance = yield* settledBalance(id)
        if (row.outcome === null) {
          yield* touch((now) => sql.setOutcome.run(outcome, reason ?? null, balance.debitsPosted.toString(), now, id))
        }
        yield* refund(quote, id, wallet.ledgerAccountId, balance.creditsPosted - balance.debitsPosted)
        yield* touch((now) => sql.setState.run(row.outcome ?? outcome, now, id))
        yield* Effect.logInfo(`outgoing payment ${id} ${row.outcome ?? outcome}${reason === undefined ? "" : `: ${reason}`}`)
      }).pipe(Effect.retry({ schedule: Schedule.exponential(limits.backoffMsBase), times: limits.attemptsMax }))

    /** Funds a payment left in `funding` (the ledger was unavailable when it was created). */
    const fundLater = (id: string, quote: Quote) =>
      Effect.gen(function*() {
        const wallet = yield* Effect.orDie(walletAddresses.get(quote.walletAddressId))
        return yield* retrying(limits, () =>
          fund(quote, id, wallet.ledgerAccountId).pipe(
            Effect.as(done),
            Effect.catchTags({
              InsufficientBalance: () => Effect.succeed(final("insufficient balance")),
              LedgerUnavailable: () => Effect.succeed(temporary("ledger unavailable"))
            }),
            // A retried id whose first try failed unseen is refused by the ledger as a defect.
            Effect.catchDefect((defect) =>
              defect instanceof LedgerDefect ?
                Effect.succeed(final("funding outcome unknown; reconcile the wallet address")) :
                Effect.die(defect)
            )
          ))
      })

    const work = (id: string) =>
      Effect.gen(function*() {
        const row = rowOf(id)
        if (row === undefined || row.state === "completed" || row.state === "failed") return
        const quote = yield* Effect.orDie(quotes.get(row.quote_id))
        if (row.outcome !== null) return yield* finish(id, quote, row.outcome, row.error ?? undefined)
        if (row.state === "funding") {
          const funded = yield* fundLater(id, quote)
          if (funded.kind === "final") return yield* finish(id, quote, "failed", funded.reason)
          yield* touch((now) => sql.setState.run("sending", now, id))
        }
        const receiver = yield* quotes.receiverOf(quote)
        const result = yield* retrying(
          limits,
          () => attempt(id, quote, receiver),
          (reason) => touch((now) => sql.setError.run(reason, now, id))
        )
        yield* finish(id, quote, result.kind === "done" ? "completed" : "failed", result.kind === "final" ? result.reason : undefined)
      }).pipe(
        slots.withPermits(1),
        Effect.catchCause((cause) =>
          // Interrupted at shutdown: nothing to report, the next start resumes it.
          Cause.hasInterruptsOnly(cause) ?
            Effect.failCause(cause) :
            Effect.logError(`outgoing payment ${id} stopped; it resumes at the next start`, cause)
        )
      )

    const startWorker = (id: string) => Effect.asVoid(FiberMap.run(workers, id, work(id), { onlyIfMissing: true }))

    // ----- operations --------------------------------------------------------------------------

    const create = Effect.fn("OutgoingPayments.create")(function*(input: { readonly quoteId: string }) {
      const quote = yield* quotes.get(input.quoteId)
      const now = yield* Clock.currentTimeMillis
      if (quote.expiresAt <= now) return yield* new QuoteExpired({ quoteId: quote.id })
      if (sql.quoteUsed.get(quote.id) !== undefined) return yield* new QuoteAlreadyUsed({ quoteId: quote.id })
      const wallet = yield* walletAddresses.get(quote.walletAddressId)
      if (!wallet.active) return yield* new InvalidOutgoingPayment({ message: "the wallet address is inactive" })
      const id = randomUUID()
      yield* ledger.createAccounts([{
        id: ids.outgoingPayment(id),
        ledger: ledgerOf(quote.debitAmount.asset),
        code: AccountCode.outgoingPayment,
        flags: { debitsMustNotExceedCredits: true }
      }])
      try {
        sql.insert.run(id, quote.id, wallet.id, now, now)
      } catch (error) {
        // The UNIQUE quote_id: another request took the quote between the check and the insert.
        if (error instanceof Error && /UNIQUE/.test(error.message)) return yield* new QuoteAlreadyUsed({ quoteId: quote.id })
        throw error
      }
      const funded = yield* Effect.result(fund(quote, id, wallet.ledgerAccountId))
      if (funded._tag === "Failure" && funded.failure._tag === "InsufficientBalance") {
        sql.remove.run(id)
        return yield* new InsufficientFunds({ walletAddressId: wallet.id })
      }
      // Funded, or unknown (ledger unavailable): the worker funds it (idempotently) and sends.
      if (funded._tag === "Success") yield* touch((at) => sql.setState.run("sending", at, id))
      yield* startWorker(id)
      return yield* Effect.orDie(get(id))
    })

    const resume = Effect.gen(function*() {
      let count = 0
      let cursor = { createdAt: -1, id: "" }
      for (;;) {
        const rows = sql.unfinished.all(cursor.createdAt, cursor.createdAt, cursor.id, limits.resumePageSize) as unknown as Array<
          { id: string; created_at: number }
        >
        for (const row of rows) yield* startWorker(row.id)
        count += rows.length
        const last = rows.at(-1)
        if (last === undefined || rows.length < limits.resumePageSize) return count
        cursor = { createdAt: last.created_at, id: last.id }
      }
    })

    const list = (walletAddressId: string, options: { readonly limit: number; readonly after?: string | undefined }) =>
      Effect.forEach(
        sql.page.all(walletAddressId, options.after ?? "", Math.min(Math.max(1, options.limit), listLimitMax)) as unknown as Array<Row>,
        (row) => Effect.map(Effect.orDie(quotes.get(row.quote_id)), (quote) => fromRow(row, quote))
      )

    return OutgoingPayments.of({ create, get, list, resume })
  })

export const layer = (limits: SendingLimits = defaultSendingLimits) => Layer.effect(OutgoingPayments, make(limits))
