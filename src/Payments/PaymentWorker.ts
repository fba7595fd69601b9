/**
 * The worker that drives one outgoing payment from where it stands to its end, on the instance
 * holding its lease (see OutgoingPayments.ts for the whole story). Each attempt: what is left (the
 * ledger first), a fresh STREAM connection to the receiver, Pay for the rest, progress recorded as
 * Pay reports it. The lease is renewed every third of its lifetime; the work stops at once when a
 * renewal fails (another instance drives it now), and stops sending when an outcome is recorded
 * elsewhere (a cancellation), then refunds.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Semaphore from "effect/Semaphore"
import { ids } from "../Accounting/Accounts.ts"
import { LedgerDefect } from "../Accounting/Ledger.ts"
import { localAccount, type PluginsShape } from "../Connector/Plugin.ts"
import {
  type AttemptResult,
  classify,
  done,
  final,
  type Left,
  minOf,
  receiverResult,
  retrying,
  sendQuoteFor,
  temporary
} from "./Attempts.ts"
import type { SendingLimits } from "./Limits.ts"
import * as Pay from "./Pay.ts"
import type { makePaymentLedger } from "./PaymentLedger.ts"
import type { Quote, QuotesShape } from "./Quotes.ts"
import { type Destination, type Receiver, resolve, type ResolveServices } from "./Receivers.ts"
import type { OutgoingPaymentRecord, OutgoingPaymentRepository } from "./Store.ts"
import type { WalletAddressesShape } from "./WalletAddresses.ts"

export interface WorkerDeps {
  readonly store: OutgoingPaymentRepository
  readonly money: ReturnType<typeof makePaymentLedger>
  readonly quotes: QuotesShape
  readonly walletAddresses: WalletAddressesShape
  readonly plugins: PluginsShape
  readonly ourAddress: string
  readonly services: ResolveServices
  readonly limits: SendingLimits
  /** This process, as a lease owner. */
  readonly instanceId: string
  /** At most `concurrentPaymentsMax` payments sending at once. */
  readonly slots: Semaphore.Semaphore
}

/** `work(id)`: takes the payment's lease (or returns at once if another instance holds it) and drives it. */
export const makeWorker = (deps: WorkerDeps) => {
  const { store, money, quotes, walletAddresses, plugins, services, limits, instanceId, slots } = deps
  const now = Clock.currentTimeMillis
  const recordOf = (id: string) => Effect.map(store.byId(id), (record) => record!)

  // ----- one attempt -------------------------------------------------------------------------

  const sourceOf = (id: string, quote: Quote) =>
    localAccount({
      id: `payment-${id}`,
      asset: quote.debitAmount.asset,
      ledgerAccountId: ids.outgoingPayment(id),
      ourAddress: deps.ourAddress
    })

  /** What is left to send (the ledger) and to deliver (undefined for a fixed send). */
  const leftOf = (id: string, quote: Quote) =>
    Effect.map(Effect.zip(money.settledBalance(id), recordOf(id)), ([balance, record]): Left => ({
      source: balance.creditsPosted - balance.debitsPosted,
      sent: balance.debitsPosted,
      delivered: record.deliveredAmount,
      delivery: quote.paymentType === "FixedDelivery" ? quote.receiveAmount.value - record.deliveredAmount : undefined
    }))

  /**
   * Pay's progress on top of what earlier attempts did. Pay reports it synchronously; a fiber
   * writes the latest report as soon as the previous write is done (a sliding queue of one), and
   * the scope's finalizer writes the last one (also when the attempt is interrupted).
   */
  const recorder = (id: string, left: Left) =>
    Effect.gen(function*() {
      const reports = yield* Queue.sliding<Pay.PaymentProgress>(1)
      // One write at a time, so an older figure never lands after a newer one; only while this
      // instance holds the lease (Store.recordProgress).
      const writing = yield* Semaphore.make(1)
      let latest: Pay.PaymentProgress | undefined
      let written: Pay.PaymentProgress | undefined
      const flush = writing.withPermits(1)(Effect.suspend(() => {
        const progress = latest
        if (progress === undefined || progress === written) return Effect.void
        written = progress
        return Effect.flatMap(now, (at) =>
          Effect.asVoid(store.recordProgress(id, instanceId, {
            sentAmount: left.sent + progress.amountSent,
            deliveredAmount: left.delivered + progress.amountDelivered
          }, at)))
      }))
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(Queue.take(reports), flush)))
      yield* Effect.addFinalizer(() => Effect.ignore(flush))
      const record = (progress: Pay.PaymentProgress) => {
        latest = progress
        Queue.offerUnsafe(reports, progress)
      }
      return { record, flush }
    })

  /** Pay's setup towards the receiver, then Pay for what is left, from the payment's account. */
  const pay = (id: string, quote: Quote, left: Left, destination: Destination, delivery: bigint | undefined) =>
    Effect.scoped(Effect.gen(function*() {
      yield* Effect.flatMap(now, (at) => store.addAttempt(id, at))
      const session = yield* Pay.session(plugins, { sourceAccount: sourceOf(id, quote), unfulfillable: false })
      const resolved = yield* Pay.setup(session, destination, limits.setupTimeoutMs)
      const asset = resolved.destinationAsset
      if (asset.code !== quote.receiveAmount.asset.code || asset.scale !== quote.receiveAmount.asset.scale) {
        return final(`the receiver's asset changed to ${asset.code}:${asset.scale}`)
      }
      const progressLog = yield* recorder(id, left)
      const { progress, failure } = yield* Pay.send(session, resolved, sendQuoteFor(quote, left.source, delivery), {
        onProgress: progressLog.record,
        timeoutMs: limits.attemptDurationMsMax
      })
      if (progress !== undefined) progressLog.record(progress)
      yield* progressLog.flush
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
   * Records the outcome (unless one is recorded: a cancellation, an earlier run), returns what is
   * left to the wallet address, then sets the state and the ledger's sent amount. Retried (with
   * backoff) while the ledger is unavailable or reservations are still pending; after that the
   * payment stays unfinished and a later worker finishes it.
   */
  const finish = (id: string, quote: Quote, outcome: "completed" | "failed", reason: string | undefined) =>
    Effect.gen(function*() {
      const wallet = yield* Effect.orDie(walletAddresses.get(quote.walletAddressId))
      const balance = yield* money.settledBalance(id)
      yield* store.decide(id, { outcome, error: reason ?? null, sentAmount: balance.debitsPosted }, yield* now)
      const record = yield* recordOf(id)
      yield* money.refund(quote, id, wallet.ledgerAccountId, balance.creditsPosted - balance.debitsPosted)
      yield* store.update(id, { state: record.outcome ?? outcome, sentAmount: balance.debitsPosted }, yield* now)
      const error = record.error ?? undefined
      yield* Effect.logInfo(`outgoing payment ${id} ${record.outcome ?? outcome}${error === undefined ? "" : `: ${error}`}`)
    }).pipe(Effect.retry({ schedule: Schedule.exponential(limits.backoffMsBase), times: limits.attemptsMax }))

  /** Funds a payment left in `funding` (the ledger was unavailable when it was created). */
  const fundLater = (id: string, quote: Quote) =>
    Effect.gen(function*() {
      const wallet = yield* Effect.orDie(walletAddresses.get(quote.walletAddressId))
      return yield* retrying(limits, () =>
        money.fund(quote, id, wallet.ledgerAccountId).pipe(
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

  /** Sending until done or final: funding first if needed, then attempts. */
  const send = (id: string, quote: Quote, record: OutgoingPaymentRecord) =>
    Effect.gen(function*() {
      if (record.state === "funding") {
        const funded = yield* fundLater(id, quote)
        if (funded.kind === "final") return funded
        yield* store.update(id, { state: "sending" }, yield* now)
      }
      const receiver = yield* quotes.receiverOf(quote)
      return yield* retrying(
        limits,
        () => attempt(id, quote, receiver),
        (reason) => Effect.flatMap(now, (at) => store.update(id, { error: reason }, at))
      )
    })

  /** Completes when an outcome is recorded for the payment (a cancellation), polled. */
  const decidedElsewhere = (id: string) =>
    Effect.repeat(
      Effect.map(recordOf(id), (record) => record.outcome !== null),
      { until: (decided) => decided, schedule: Schedule.spaced(limits.takeoverIntervalMs) }
    )

  /** Renews the lease every third of its lifetime; completes (so the work is interrupted) once it is lost. */
  const keepLease = (id: string) =>
    Effect.repeat(
      Effect.flatMap(now, (at) => store.lease(id, instanceId, at, at + limits.leaseTtlMs)),
      { while: (held) => held, schedule: Schedule.spaced(Math.floor(limits.leaseTtlMs / 3)) }
    ).pipe(Effect.andThen(Effect.logWarning(`outgoing payment ${id}: lease lost, another instance drives it now`)))

  /** The payment from where it stands to its end, while this instance holds its lease. */
  const drive = (id: string) =>
    Effect.gen(function*() {
      const record = yield* store.byId(id)
      if (record === undefined || record.state === "completed" || record.state === "failed") return
      const quote = yield* Effect.orDie(quotes.get(record.quoteId))
      if (record.outcome === null) {
        const sending = yield* Effect.forkChild(send(id, quote, record))
        const cancelled = yield* Effect.forkChild(decidedElsewhere(id))
        const first = yield* Effect.raceFirst(
          Effect.map(Fiber.join(sending), (result) => ({ kind: "sent" as const, result })),
          Effect.as(Fiber.join(cancelled), { kind: "decided" as const })
        )
        yield* Fiber.interrupt(sending)
        yield* Fiber.interrupt(cancelled)
        if (first.kind === "sent") {
          const { result } = first
          return yield* finish(id, quote, result.kind === "done" ? "completed" : "failed", result.kind === "final" ? result.reason : undefined)
        }
      }
      const decided = yield* recordOf(id)
      return yield* finish(id, quote, decided.outcome ?? "failed", decided.error ?? undefined)
    })

  const work = (id: string) =>
    Effect.gen(function*() {
      const at = yield* now
      if (!(yield* store.lease(id, instanceId, at, at + limits.leaseTtlMs))) return
      yield* Effect.raceFirst(drive(id), keepLease(id)).pipe(
        Effect.ensuring(Effect.ignore(store.release(id, instanceId)))
      )
    }).pipe(
      slots.withPermits(1),
      Effect.catchCause((cause) =>
        // Interrupted at shutdown: nothing to report, the lease is released and another instance
        // (or the next start) carries on.
        Cause.hasInterruptsOnly(cause) ?
          Effect.failCause(cause) :
          Effect.logError(`outgoing payment ${id} stopped; an instance takes it up again`, cause)
      )
    )

  return { work }
}
