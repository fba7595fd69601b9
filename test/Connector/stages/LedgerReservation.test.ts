/**
 * The ledger stage's hand-off to local receivers: the stages after it see the reservation; once it
 * is posted or voided, a local receiver is told (`posted`, `voided`, or `unknown` when the post
 * failed), after the ledger call, except when the receiver refused the packet itself. Peers are
 * never told. A scripted ledger records the order of calls.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import * as TestClock from "effect/testing/TestClock"
import { LedgerUnavailable, type LedgerShape, PendingExpired } from "../../../src/Accounting/Ledger.ts"
import { InternalError, ReceiverRejected } from "../../../src/Connector/IlpErrors.ts"
import type { SettleOutcome } from "../../../src/Connector/LocalReceivers.ts"
import * as Metrics from "../../../src/Connector/Metrics.ts"
import type { MetricsShape } from "../../../src/Connector/Metrics.ts"
import type { Timed } from "../../../src/Connector/Stage.ts"
import { ledgerReservation, settleMarginSeconds } from "../../../src/Connector/stages/LedgerReservation.ts"
import { fulfill, nowMs, ourAddress, priced, request, routedLocal, routedToPeer, spy, timed } from "../fixtures.ts"

const metrics: MetricsShape = Metrics.make()

/** A ledger that answers every call (post as told) and logs the calls in order. */
const scriptedLedger = (log: Array<string>, post: "ok" | "unavailable" | "expired" = "ok") => {
  const reserved: Array<{ ids: Array<bigint>; timeoutSeconds: number }> = []
  const ledger = {
    reserve: (transfers, timeoutSeconds) =>
      Effect.sync(() => {
        log.push("reserve")
        reserved.push({ ids: transfers.map((t) => t.id), timeoutSeconds })
      }),
    post: () =>
      Effect.suspend((): Effect.Effect<void, LedgerUnavailable | PendingExpired> => {
        log.push("post")
        return post === "ok" ?
          Effect.void :
          post === "expired" ?
          Effect.fail(new PendingExpired({ transferId: 1n })) :
          Effect.fail(new LedgerUnavailable({ message: "down" }))
      }),
    voidPending: () => Effect.sync(() => void log.push("void"))
  } as Pick<LedgerShape, "reserve" | "post" | "voidPending"> as LedgerShape
  return { ledger, reserved }
}

const settleSpy = (log: Array<string>) => {
  const settled: Array<{ outcome: SettleOutcome; request: Timed }> = []
  return {
    settled,
    receivers: {
      settle: (req: Timed, _receiver: unknown, outcome: SettleOutcome) =>
        Effect.sync(() => {
          log.push(`settle:${outcome}`)
          settled.push({ outcome, request: req })
        })
    }
  }
}

const local = timed(priced(routedLocal(request())), nowMs + 5_000)
const toPeer = timed(priced(routedToPeer(request())), nowMs + 5_000)

/** Runs at `nowMs` on the test clock. */
const atNow = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.andThen(TestClock.setTime(nowMs), effect)

describe("LedgerReservation: hand-off to local receivers", () => {
  it.effect("a fulfilled local packet: the next stage sees the reservation; posted, then the receiver is told", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { ledger, reserved } = scriptedLedger(log)
      const { settled, receivers } = settleSpy(log)
      const next = spy<Timed>()
      const result = yield* atNow(ledgerReservation(ledger, metrics, receivers)(next.handler)(local))
      expect(result).toEqual(fulfill)
      expect(log).toEqual(["reserve", "post", "settle:posted"])
      const reservation = next.calls[0]!.reservation!
      expect(reservation.id).toBe(reserved[0]!.ids[0])
      expect(reserved[0]!.timeoutSeconds).toBe(5 + settleMarginSeconds)
      expect(reservation.timeoutMs).toBe((5 + settleMarginSeconds) * 1000)
      expect(settled[0]!.request.reservation).toEqual(reservation)
    }))

  it.effect("a local packet that failed after the receiver may have reserved: voided, then the receiver is told", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { ledger } = scriptedLedger(log)
      const { receivers } = settleSpy(log)
      const next = spy<Timed>(() => Effect.fail(new InternalError({ reason: "receipt store unavailable" })))
      const exit = yield* Effect.exit(atNow(ledgerReservation(ledger, metrics, receivers)(next.handler)(local)))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(log).toEqual(["reserve", "void", "settle:voided"])
    }))

  it.effect("a local packet interrupted in the next stage: voided, then the receiver is told", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { ledger } = scriptedLedger(log)
      const { receivers } = settleSpy(log)
      const next = spy<Timed>(() => Effect.never)
      const fiber = yield* Effect.forkChild(atNow(ledgerReservation(ledger, metrics, receivers)(next.handler)(local)))
      yield* Effect.yieldNow
      while (next.calls.length === 0) yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      expect(log).toEqual(["reserve", "void", "settle:voided"])
    }))

  it.effect("a packet the receiver refused itself: voided, the receiver is not told", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { ledger } = scriptedLedger(log)
      const { receivers } = settleSpy(log)
      const reject = { code: "F99", triggeredBy: ourAddress, message: "", data: new Uint8Array(0) }
      const next = spy<Timed>(() => Effect.fail(new ReceiverRejected({ reject })))
      yield* Effect.exit(atNow(ledgerReservation(ledger, metrics, receivers)(next.handler)(local)))
      expect(log).toEqual(["reserve", "void"])
    }))

  it.effect("a post that keeps failing: the Fulfill is returned and the receiver is told `unknown`", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { ledger } = scriptedLedger(log, "unavailable")
      const { receivers } = settleSpy(log)
      const next = spy<Timed>()
      const fiber = yield* Effect.forkChild(atNow(ledgerReservation(ledger, metrics, receivers)(next.handler)(local)))
      // The post's retries back off on the clock.
      for (let i = 0; i < 10 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust(10_000)
      expect(yield* Fiber.join(fiber)).toEqual(fulfill)
      expect(log.at(-1)).toBe("settle:unknown")
      expect(log.filter((entry) => entry === "post").length).toBeGreaterThan(1)
    }))

  it.effect("a post the ledger refuses twice as unavailable is retried after 50 then 100 ms, then posted", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      let failuresLeft = 2
      const ledger = {
        reserve: () => Effect.sync(() => void log.push("reserve")),
        post: () =>
          Effect.suspend((): Effect.Effect<void, LedgerUnavailable> => {
            log.push("post")
            return failuresLeft-- > 0 ? Effect.fail(new LedgerUnavailable({ message: "down" })) : Effect.void
          }),
        voidPending: () => Effect.sync(() => void log.push("void"))
      } as Pick<LedgerShape, "reserve" | "post" | "voidPending"> as LedgerShape
      const { receivers } = settleSpy(log)
      const posts = () => log.filter((entry) => entry === "post").length
      // Lets the forked packet run until it waits on the clock.
      const runPending = Effect.repeat(Effect.yieldNow, { times: 50 })
      const fiber = yield* Effect.forkChild(atNow(ledgerReservation(ledger, metrics, receivers)(spy<Timed>().handler)(local)))
      yield* runPending
      expect(posts()).toBe(1)
      yield* TestClock.adjust(49)
      yield* runPending
      expect(posts()).toBe(1)
      yield* TestClock.adjust(1)
      yield* runPending
      expect(posts()).toBe(2)
      yield* TestClock.adjust(99)
      yield* runPending
      expect(posts()).toBe(2)
      yield* TestClock.adjust(1)
      expect(yield* Fiber.join(fiber)).toEqual(fulfill)
      expect(log).toEqual(["reserve", "post", "post", "post", "settle:posted"])
    }))

  it.effect("a post refused because the reservation expired: the receiver is told `voided`", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { ledger } = scriptedLedger(log, "expired")
      const { receivers } = settleSpy(log)
      expect(yield* atNow(ledgerReservation(ledger, metrics, receivers)(spy<Timed>().handler)(local))).toEqual(fulfill)
      expect(log).toEqual(["reserve", "post", "settle:voided"])
    }))

  it.effect("packets to a peer: no receiver is told", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { ledger } = scriptedLedger(log)
      const { receivers } = settleSpy(log)
      yield* atNow(ledgerReservation(ledger, metrics, receivers)(spy<Timed>().handler)(toPeer))
      const failing = spy<Timed>(() => Effect.fail(new InternalError({ reason: "x" })))
      yield* Effect.exit(atNow(ledgerReservation(ledger, metrics, receivers)(failing.handler)(toPeer)))
      expect(log).toEqual(["reserve", "post", "reserve", "void"])
    }))

  it.effect("with post-after-reply, the post and the receiver's settlement go through it, in that order; a void does not", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { ledger } = scriptedLedger(log)
      const { receivers } = settleSpy(log)
      const deferred: Array<Effect.Effect<void>> = []
      // Holds the post back, as the TigerBeetle profile's background fibers do until they run.
      const postAfterReply = (post: Effect.Effect<void>) => Effect.sync(() => void deferred.push(post))
      const stage = ledgerReservation(ledger, metrics, receivers, postAfterReply)
      expect(yield* atNow(stage(spy<Timed>().handler)(local))).toEqual(fulfill)
      expect(log).toEqual(["reserve"])
      expect(deferred).toHaveLength(1)
      yield* deferred[0]!
      expect(log).toEqual(["reserve", "post", "settle:posted"])
      const failing = spy<Timed>(() => Effect.fail(new InternalError({ reason: "x" })))
      yield* Effect.exit(atNow(stage(failing.handler)(local)))
      expect(log).toEqual(["reserve", "post", "settle:posted", "reserve", "void", "settle:voided"])
      expect(deferred).toHaveLength(1)
    }))
})
