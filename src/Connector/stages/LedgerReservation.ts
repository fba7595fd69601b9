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
 */
import { Clock, Effect, Exit, Schedule } from "effect"
import { ids, type PacketLeg, packetTransfers } from "../../Accounting/Accounts.ts"
import { type LedgerShape, newTransferId } from "../../Accounting/Ledger.ts"
import { InsufficientLiquidity, InternalError } from "../IlpErrors.ts"
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

export const ledgerReservation = (ledger: LedgerShape, metrics: MetricsShape): Stage<Timed> => (next) => (request) => {
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
    return timed(metrics, "reserve", ledger.reserve(transfers, holdSeconds + settleMarginSeconds))
  }).pipe(
    Effect.catchTags({
      InsufficientBalance: () => Effect.fail(new InsufficientLiquidity({ reason: "insufficient liquidity" })),
      LedgerUnavailable: (error) => Effect.fail(new InternalError({ reason: `ledger unavailable: ${error.message}` }))
    })
  )

  const post = timed(metrics, "post", ledger.post(pendingIds)).pipe(
    Effect.retry({
      while: (error) => error._tag === "LedgerUnavailable",
      schedule: Schedule.exponential("50 millis"),
      times: postAttemptsMax
    }),
    Effect.catchCause((cause) =>
      Effect.logError("ledger post failed after a fulfill; reconcile these transfers", {
        transferIds: pendingIds.map(String),
        cause
      })
    )
  )

  const voidReservation = timed(metrics, "void", ledger.voidPending(pendingIds)).pipe(
    Effect.catchCause((cause) =>
      Effect.logError("ledger void failed; the reservation will expire at its timeout", {
        transferIds: pendingIds.map(String),
        cause
      })
    )
  )

  const fulfilled = Effect.sync(() =>
    metrics.recordFulfilled(
      request.source,
      request.prepare.amount,
      request.destination.kind === "peer" ? request.destination.peer.config.id : undefined,
      request.destinationAmount
    )
  )

  return Effect.acquireUseRelease(
    reserve,
    () => next(request),
    (_, exit) => (Exit.isSuccess(exit) ? Effect.andThen(fulfilled, post) : voidReservation)
  )
}
