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
 * - A post that fails after a Fulfill is retried while the ledger is unavailable (backing off up to
 *   `postRetryDelayMaxMs`) until shortly before the reservation would expire (a cluster's view change
 *   after losing its primary takes seconds); the Fulfill is still returned
 *   (the next hop has been paid, refusing it upstream would only add a loss), and the failure is
 *   logged with the transfer ids for reconciliation.
 * - With `postAfterReply` (the TigerBeetle profile) the post (and the local receiver's settle after
 *   it) runs in the background and the Fulfill goes upstream without waiting for it: the post is a
 *   network round trip to the cluster (docs/performance/tigerbeetle.md has the figures and the crash-window
 *   argument: a crash before the post lands leaves the same books either way, and the upstream
 *   peer's own records then agree with the downstream's). Shutdown waits for posts in flight
 *   (`makePostAfterReply`: its scope's finalizer awaits them before the ledger closes). A peer's
 *   post goes through the ledger's `postWith` callback when it has one (no fiber per post; a first
 *   round that did not post goes on in a fiber with the same retries: `postDetached`).
 * - The stages after this one get the reservation (`request.reservation`: the first transfer's id
 *   and the timeout). For a local receiver, once the reservation is posted or voided the receiver is
 *   told (`LocalReceivers.settle`, inside the same uninterruptible release step), so its receipt
 *   totals follow the ledger; not when the receiver refused the packet itself (`ReceiverRejected`).
 *   What the receiver must write once the packet is posted (`LocalReceivers.alongsidePost`) goes
 *   to the post itself: the embedded ledger runs it in the post's transaction, so the receipt total
 *   and the credit commit together (`Ledger.PostAlongside`).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Schedule from "effect/Schedule"
import { ids, type PacketLeg, packetTransfers } from "../../Accounting/Accounts.ts"
import { type LedgerShape, newTransferId, type PostAlongside, type PostError, type TransferSpec } from "../../Accounting/Ledger.ts"
import { type IlpError, InsufficientLiquidity, InternalError } from "../IlpErrors.ts"
import type { LocalReceiversShape, SettleOutcome } from "../LocalReceivers.ts"
import type { MetricsShape } from "../Metrics.ts"
import type { Stage, Timed } from "../Stage.ts"

/** Extra pending time beyond the hold time, for the post (and its retries) after a late fulfill. */
export const settleMarginSeconds = 10
const postRetryDelayMaxMs = 1_000
/** Posts are not retried later than this before the reservation expires. */
const postRetryStopBeforeExpiryMs = 1_000

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

/** Runs a post without making the reply wait for it; see the module comment. */
export interface PostAfterReply {
  (post: Effect.Effect<void>): Effect.Effect<void>
  /**
   * Posts started outside any fiber, through the ledger's `postWith` callback (a peer's packet,
   * when the ledger has one): `begin` when one starts, `end` once the ledger answered it, after
   * `fork` ran what was left of it (a post whose first round did not succeed goes on in a fiber,
   * with its retries, as any other). Counted so that shutdown waits for them too.
   */
  readonly detached?: DetachedPosts
}

export interface DetachedPosts {
  readonly begin: () => void
  readonly end: () => void
  readonly fork: (post: Effect.Effect<void>) => void
  /** Posts begun and not yet ended (for tests and shutdown). */
  readonly inFlight: () => number
}

/**
 * Posts in background fibers of the caller's scope, or through the ledger's callback without a
 * fiber (`detached`: ~1.5–2.5 µs of CPU less per post, docs/performance/tigerbeetle.md); closing
 * the scope waits for every post still running: first the callback posts (each answered within
 * the ledger's request timeout, the TigerBeetle batcher's bound; those whose first round failed
 * are forked into the set before they end), then the set's fibers (each bounded: retried only
 * until shortly before its reservation expires). The callback posts in flight are bounded by the
 * ledger's own bounds (events queued, requests in flight).
 */
export const makePostAfterReply = Effect.gen(function*() {
  const posts = yield* FiberSet.make<void, never>()
  const forkInto = yield* FiberSet.runtime(posts)<never>()
  let inFlight = 0
  let drained: (() => void) | undefined
  const detached: DetachedPosts = {
    begin: () => {
      inFlight++
    },
    end: () => {
      inFlight--
      if (inFlight === 0 && drained !== undefined) {
        const resume = drained
        drained = undefined
        resume()
      }
    },
    fork: (post) => void forkInto(post),
    inFlight: () => inFlight
  }
  const detachedDone = Effect.callback<void>((resume) => {
    if (inFlight === 0) return resume(Effect.void)
    drained = () => resume(Effect.void)
  })
  // Added after the set's own finalizer (which interrupts), so it runs first: posts finish, not stop.
  yield* Effect.addFinalizer(() => Effect.andThen(detachedDone, FiberSet.awaitEmpty(posts)))
  const run = (post: Effect.Effect<void>) => Effect.asVoid(FiberSet.run(posts, post))
  return Object.assign(run, { detached }) as PostAfterReply
})

/** Logs a post that failed after a fulfill, for reconciliation, and answers what became of the reservation. */
const reportPostFailure = (pendingIds: ReadonlyArray<bigint>, cause: Cause.Cause<unknown>): Effect.Effect<SettleOutcome> => {
  const failure = Cause.findErrorOption(cause)
  const outcome: SettleOutcome = failure._tag === "Some" &&
      (failure.value as { readonly _tag?: unknown })._tag !== "LedgerUnavailable" ?
    "voided" :
    "unknown"
  return Effect.as(
    Effect.logError("ledger post failed after a fulfill; reconcile these transfers", {
      transferIds: pendingIds.map(String),
      cause
    }),
    outcome
  )
}

/**
 * Posts a fulfilled packet's reservation and answers what became of it: `posted`; `voided` when the
 * ledger says it can no longer be posted (expired, voided, unknown to it); `unknown` when the ledger
 * did not answer. The retry (with its schedule) is built only after a first attempt failed with
 * `LedgerUnavailable`: it then replays that failure to the retry, so attempts and delays are exactly
 * those of retrying the first attempt.
 *
 * Built from the reservation's ids and expiry alone, outside the stage's per-packet closure: a post
 * that runs after the reply (`postAfterReply`) keeps only these alive until the ledger answers, not
 * the packet, its request and every closure of the stage (objects that outlive a scavenge are
 * copied, and promoted into the old generation the concurrent marker traces;
 * docs/performance/tigerbeetle.md).
 */
const postReservation = (
  ledger: LedgerShape,
  metrics: MetricsShape,
  pendingIds: ReadonlyArray<bigint>,
  expiresAtMs: number,
  alongside?: PostAlongside,
  /** The first attempt when it was started elsewhere (`postDetached`): what is left of it. */
  first?: Effect.Effect<void, PostError>
): Effect.Effect<SettleOutcome> => {
  const attempt = timed(metrics, "post", ledger.post(pendingIds, alongside))
  return Effect.matchCauseEffect(first ?? attempt, {
    onSuccess: () => Effect.succeed<SettleOutcome>("posted"),
    onFailure: (cause) => {
      const failure = Cause.findErrorOption(cause)
      if (failure._tag === "None" || failure.value._tag !== "LedgerUnavailable") return reportPostFailure(pendingIds, cause)
      let replayed = false
      const again = Effect.suspend(() => {
        if (replayed) return attempt
        replayed = true
        return Effect.failCause(cause)
      })
      return again.pipe(
        Effect.retry({
          while: (error) => error._tag === "LedgerUnavailable",
          schedule: Schedule.exponential("50 millis").pipe(
            Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.millis(postRetryDelayMaxMs)))),
            Schedule.while(({ duration }) =>
              Effect.map(
                Clock.currentTimeMillis,
                (now) => now + Duration.toMillis(duration) < expiresAtMs - postRetryStopBeforeExpiryMs
              )
            )
          )
        }),
        Effect.as<SettleOutcome>("posted"),
        Effect.catchCause((cause) => reportPostFailure(pendingIds, cause))
      )
    }
  })
}

/**
 * A peer's post after the reply through the ledger's `postWith` callback, without a fiber: the
 * same first attempt as `postReservation`'s (timed the same way, once per attempt); when it did
 * not post everything at once, what is left of it goes on in a fiber as `postReservation`, with
 * the same retries, delays and reports. Counted in `detached` from start to answer.
 */
const postDetached = (
  ledger: LedgerShape,
  postWith: NonNullable<LedgerShape["postWith"]>,
  metrics: MetricsShape,
  detached: DetachedPosts,
  pendingIds: ReadonlyArray<bigint>,
  expiresAtMs: number
): void => {
  const startedAt = performance.now()
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    detached.end()
  }
  detached.begin()
  try {
    postWith(pendingIds, () => {
      metrics.recordLedger("post", performance.now() - startedAt)
      end()
    }, (rest) => {
      if (ended) return
      const first = Effect.ensuring(rest, Effect.sync(() => metrics.recordLedger("post", performance.now() - startedAt)))
      detached.fork(Effect.asVoid(postReservation(ledger, metrics, pendingIds, expiresAtMs, undefined, first)))
      end()
    })
  } catch (cause) {
    // Not expected (`postWith` answers through its callbacks): the post goes the Effect way.
    if (ended) return
    detached.fork(Effect.asVoid(postReservation(ledger, metrics, pendingIds, expiresAtMs, undefined, Effect.die(cause))))
    end()
  }
}

/** What the stage keeps for one packet between its reservation and the settlement. */
interface Held {
  readonly pendingIds: ReadonlyArray<bigint>
  /** When the reservation expires in the ledger (set by `reserve`). */
  expiresAtMs: number
}

const postNow: PostAfterReply = (posting) => posting

const transferId = (transfer: TransferSpec): bigint => transfer.id

/**
 * Per packet, the stage allocates its transfers, one `Held` (the pending ids and the expiry) and
 * the Effects of the reservation; what does not depend on the packet (reserving, the void, the
 * settlement, the release) is built once here and takes the packet's `Held` and request, rather
 * than ~8 closures per packet (docs/performance/hot-path.md, "Allocation per packet"). The post
 * itself is `postReservation`, from the ids and the expiry alone (see there).
 */
export const ledgerReservation = (
  ledger: LedgerShape,
  metrics: MetricsShape,
  localReceivers: Pick<LocalReceiversShape, "settle" | "alongsidePost">,
  postAfterReply?: PostAfterReply
): Stage<Timed> => {
  /**
   * Reserves and answers the request the next stages get. One clock read and one match (which
   * records the latency on every outcome, as `timed` does, and maps the ledger's errors), rather
   * than timed + as + catchTags + map: fewer frames and allocations on every packet.
   */
  const reserve = (request: Timed, transfers: ReadonlyArray<TransferSpec>, held: Held): Effect.Effect<Timed, IlpError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const holdSeconds = Math.max(1, Math.ceil((request.outgoingExpiresAt - now) / 1000))
      const timeoutSeconds = holdSeconds + settleMarginSeconds
      held.expiresAtMs = now + timeoutSeconds * 1000
      const startedAt = performance.now()
      return Effect.matchCauseEffect(ledger.reserve(transfers, timeoutSeconds), {
        onSuccess: (): Effect.Effect<Timed> => {
          metrics.recordLedger("reserve", performance.now() - startedAt)
          return Effect.succeed({ ...request, reservation: { id: held.pendingIds[0]!, timeoutMs: timeoutSeconds * 1000 } })
        },
        onFailure: (cause): Effect.Effect<never, IlpError> => {
          metrics.recordLedger("reserve", performance.now() - startedAt)
          const failure = Cause.findErrorOption(cause)
          if (failure._tag === "Some") {
            if (failure.value._tag === "InsufficientBalance") {
              return Effect.fail(new InsufficientLiquidity({ reason: "insufficient liquidity" }))
            }
            if (failure.value._tag === "LedgerUnavailable") {
              return Effect.fail(new InternalError({ reason: `ledger unavailable: ${failure.value.message}` }))
            }
          }
          // No typed failure left: a defect (or an interruption) passes through unchanged.
          return Effect.failCause(cause as Cause.Cause<never>)
        }
      })
    })

  /** Built only when the packet was not fulfilled. */
  const voidReservation = (held: Held) =>
    timed(metrics, "void", ledger.voidPending(held.pendingIds)).pipe(
      Effect.catchCause((cause) =>
        Effect.logError("ledger void failed; the reservation will expire at its timeout", {
          transferIds: held.pendingIds.map(String),
          cause
        })
      )
    )

  const fulfilled = (request: Timed) =>
    Effect.sync(() =>
      metrics.recordFulfilled(
        request.source,
        request.prepare.amount,
        request.destination.kind === "peer" ? request.destination.peer.config.id : undefined,
        request.destinationAmount
      )
    )

  const settle = (reserved: Timed, outcome: SettleOutcome, alongside?: PostAlongside) =>
    reserved.destination.kind === "local" ?
      localReceivers.settle(reserved, reserved.destination.receiver, outcome, alongside) :
      Effect.void

  const postThenSettle = postAfterReply ?? postNow
  const detached = postAfterReply?.detached
  const postWith = ledger.postWith

  /**
   * Built only when the packet was fulfilled; a peer's packet has nothing to settle after the post.
   * A local receiver's write for a posted packet goes to the post itself, committed in the post's
   * own transaction where the ledger can (`alongsidePost`), and back to its settle.
   */
  const postThenSettleReservation = (held: Held, reserved: Timed): Effect.Effect<void> => {
    const destination = reserved.destination
    if (destination.kind !== "local") {
      if (detached !== undefined && postWith !== undefined) {
        return Effect.sync(() => postDetached(ledger, postWith, metrics, detached, held.pendingIds, held.expiresAtMs))
      }
      return postThenSettle(Effect.asVoid(postReservation(ledger, metrics, held.pendingIds, held.expiresAtMs)))
    }
    const alongside = localReceivers.alongsidePost?.(reserved, destination.receiver)
    const posting = postReservation(ledger, metrics, held.pendingIds, held.expiresAtMs, alongside)
    return postThenSettle(Effect.flatMap(posting, (outcome) => settle(reserved, outcome, alongside)))
  }

  /** Posts on a fulfill, voids otherwise; runs uninterruptibly (the release of `acquireUseRelease`). */
  const release = (held: Held, reserved: Timed, exit: Exit.Exit<unknown, IlpError>): Effect.Effect<void> =>
    Exit.isSuccess(exit) ?
      Effect.andThen(fulfilled(reserved), postThenSettleReservation(held, reserved)) :
      Effect.andThen(voidReservation(held), refusedByReceiver(exit) ? Effect.void : settle(reserved, "voided"))

  return (next) => (request) => {
    if (reservesNothing(request)) return next(request)
    const source: PacketLeg = {
      accountId: request.source.ledgerAccountId,
      asset: request.source.asset,
      amount: request.prepare.amount
    }
    const transfers = packetTransfers(source, destinationLeg(request), newTransferId)
    if (transfers.length === 0) return next(request)
    const held: Held = { pendingIds: transfers.map(transferId), expiresAtMs: 0 }
    return Effect.acquireUseRelease(reserve(request, transfers, held), next, (reserved, exit) => release(held, reserved, exit))
  }
}
