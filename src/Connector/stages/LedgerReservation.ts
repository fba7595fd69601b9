/**
 * Stage 11: two-phase accounting around delivery. The packet's transfers are reserved as one linked
 * chain of pending transfers before it goes on, posted when it comes back fulfilled, and voided on
 * every other outcome — reject, error, timeout, defect or interruption (the release step of
 * `acquireUseRelease` always runs and cannot be interrupted).
 *
 * - Insufficient source balance or destination liquidity: T04. Ledger down: T00 (an outage never
 *   looks like insufficient liquidity).
 * - The pending timeout is the packet's remaining hold time plus `settleMarginSeconds`, so the ledger
 *   never expires a reservation we may still post.
 * - Unfulfillable packets (our own quote probes), packets a local receiver cannot fulfill (another
 *   sender's rate probes: their condition is random) and zero-amount packets create no transfers.
 * - A post that fails after a Fulfill is retried within the margin; the Fulfill is still returned
 *   (the next hop has been paid, refusing it upstream would only add a loss), and the failure is
 *   logged with the transfer ids for reconciliation.
 * - The stages after this one get the reservation (`request.reservation`: the first transfer's id
 *   and the timeout). For a local receiver, once the reservation is posted or voided the receiver is
 *   told (`LocalReceivers.settle`, inside the same uninterruptible release step), so its receipt
 *   totals follow the ledger; not when the receiver refused the packet itself (`ReceiverRejected`).
 */
import { Cause, Clock, Effect, Exit, Schedule } from "effect"
import { ids, type PacketLeg, packetTransfers } from "../../Accounting/Accounts.ts"
import { type LedgerShape, newTransferId } from "../../Accounting/Ledger.ts"
import { type IlpError, InsufficientLiquidity, InternalError } from "../IlpErrors.ts"
import type { LocalReceiversShape, SettleOutcome } from "../LocalReceivers.ts"
import type { MetricsShape } from "../Metrics.ts"
import type { Stage, Timed } from "../Stage.ts"

/** Extra pending time beyond the hold time, for the post (and its retries) after a late fulfill. */
export const settleMarginSeconds = 10
const postAttemptsMax = 5

const destinationLeg = (request: Timed): PacketLeg =>
  request.destination.kind === "peer" ?
    {
      accountId: ids.peerLiquidity(request.destination.peer.config.id),
      asset: request.destination.peer.config.asset,
      amount: request.destinationAmount
    } :
    {
      accountId: request.destination.receiver.ledgerAccountId,
      asset: request.destination.receiver.asset,
      amount: request.destinationAmount
    }

/** Runs a ledger call and records its latency. */
const timed = <A, E>(metrics: MetricsShape, operation: string, call: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const startedAt = performance.now()
    return Effect.ensuring(call, Effect.sync(() => metrics.recordLedger(operation, performance.now() - startedAt)))
  })

/** Packets that can never be fulfilled move no money, so they reserve nothing. Pure. */
export const reservesNothing = (request: Timed): boolean =>
  request.unfulfillable || (request.destination.kind === "local" && !request.destination.receiver.fulfillable)

/** Whether the packet failed because the local receiver refused it (it then holds nothing for it). */
const refusedByReceiver = (exit: Exit.Exit<unknown, IlpError>): boolean =>
  Exit.isFailure(exit) && Cause.findErrorOption(exit.cause).pipe((found) =>
    found._tag === "Some" && found.value._tag === "ReceiverRejected"
  )

export const ledgerReservation = (
  ledger: LedgerShape,
  metrics: MetricsShape,
  localReceivers: Pick<LocalReceiversShape, "settle">
): Stage<Timed> =>
(next) =>
(request) => {
  if (reservesNothing(request)) return next(request)
  const source: PacketLeg = {
    accountId: request.source.ledgerAccountId,
    asset: request.source.asset,
    amount: request.prepare.amount
  }
  const transfers = packetTransfers(source, destinationLeg(request), newTransferId)
  if (transfers.length === 0) return next(request)
  const pendingIds = transfers.map((transfer) => transfer.id)

  const reserve = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const holdSeconds = Math.max(1, Math.ceil((request.outgoingExpiresAt - now) / 1000))
    const timeoutSeconds = holdSeconds + settleMarginSeconds
    return Effect.as(timed(metrics, "reserve", ledger.reserve(transfers, timeoutSeconds)), timeoutSeconds)
  }).pipe(
    Effect.catchTags({
      InsufficientBalance: () => Effect.fail(new InsufficientLiquidity({ reason: "insufficient liquidity" })),
      LedgerUnavailable: (error) => Effect.fail(new InternalError({ reason: `ledger unavailable: ${error.message}` }))
    })
  )

  /**
   * Answers what became of the reservation: `posted`; `voided` when the ledger says it can no longer
   * be posted (expired, voided, unknown to it); `unknown` when the ledger did not answer.
   */
  const post: Effect.Effect<SettleOutcome> = timed(metrics, "post", ledger.post(pendingIds)).pipe(
    Effect.retry({
      while: (error) => error._tag === "LedgerUnavailable",
      schedule: Schedule.exponential("50 millis"),
      times: postAttemptsMax
    }),
    Effect.as<SettleOutcome>("posted"),
    Effect.catchCause((cause) => {
      const failure = Cause.findErrorOption(cause)
      const outcome: SettleOutcome = failure._tag === "Some" && failure.value._tag !== "LedgerUnavailable" ?
        "voided" :
        "unknown"
      return Effect.as(
        Effect.logError("ledger post failed after a fulfill; reconcile these transfers", {
          transferIds: pendingIds.map(String),
          cause
        }),
        outcome
      )
    })
  )

  const voidReservation = timed(metrics, "void", ledger.voidPending(pendingIds)).pipe(
    Effect.catchCause((cause) =>
      Effect.logError("ledger void failed; the reservation will expire at its timeout", {
        transferIds: pendingIds.map(String),
        cause
      })
    )
  )

  const destination = request.destination
  const settle = (reserved: Timed, outcome: SettleOutcome) =>
    destination.kind === "local" ? localReceivers.settle(reserved, destination.receiver, outcome) : Effect.void

  return Effect.acquireUseRelease(
    Effect.map(reserve, (timeoutSeconds): Timed => ({
      ...request,
      reservation: { id: pendingIds[0]!, timeoutMs: timeoutSeconds * 1000 }
    })),
    next,
    (reserved, exit) =>
      Exit.isSuccess(exit) ?
        Effect.flatMap(post, (outcome) => settle(reserved, outcome)) :
        Effect.andThen(voidReservation, refusedByReceiver(exit) ? Effect.void : settle(reserved, "voided"))
  )
}
