/**
 * The post after the reply through the ledger's `postWith` callback (no fiber per post): a peer's
 * reservation is posted exactly once, never lost and never posted again once the ledger said it
 * was; a first round that did not post goes on in a fiber with the Effect path's retries; shutdown
 * (closing `makePostAfterReply`'s scope) waits for callback posts in flight and for what they
 * handed to a fiber. A scripted ledger models TigerBeetle's posts: a pending transfer moves to
 * posted once; a post of a posted one succeeds without moving anything.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import { LedgerUnavailable, type LedgerShape, PendingExpired, type PostError } from "../../../src/Accounting/Ledger.ts"
import * as Metrics from "../../../src/Connector/Metrics.ts"
import type { MetricsShape } from "../../../src/Connector/Metrics.ts"
import type { Timed } from "../../../src/Connector/Stage.ts"
import { ledgerReservation, makePostAfterReply, type PostAfterReply } from "../../../src/Connector/stages/LedgerReservation.ts"
import { fulfill, nowMs, priced, request, routedLocal, routedToPeer, spy, timed } from "../fixtures.ts"

const metrics: MetricsShape = Metrics.make()

/**
 * How the ledger answers one `postWith` first round: `done` (posted), `lost` (unavailable before it
 * applied anything), `late` (applied, but answered unavailable: a timeout after the cluster took
 * it), `expired` (the reservation can no longer be posted), `held` (not answered until `release`).
 */
type FirstRound = "done" | "lost" | "late" | "expired" | "held"

/** A ledger with a model of pending transfers; every call is logged. */
const modelLedger = (firstRounds: Array<FirstRound>, effectPostFailures = 0) => {
  const log: Array<string> = []
  /** Pending id -> times it moved from pending to posted (must end at exactly 1). */
  const postedTimes = new Map<bigint, number>()
  const expired = new Set<bigint>()
  const held: Array<() => void> = []
  let failuresLeft = effectPostFailures
  const apply = (ids: ReadonlyArray<bigint>) => {
    for (const id of ids) if ((postedTimes.get(id) ?? 0) === 0) postedTimes.set(id, 1)
  }
  const effectPost = (ids: ReadonlyArray<bigint>): Effect.Effect<void, PostError> =>
    Effect.suspend((): Effect.Effect<void, PostError> => {
      log.push("post")
      if (failuresLeft-- > 0) return Effect.fail(new LedgerUnavailable({ message: "down" }))
      if (ids.some((id) => expired.has(id))) return Effect.fail(new PendingExpired({ transferId: ids[0]! }))
      apply(ids)
      return Effect.void
    })
  const ledger = {
    reserve: (transfers) =>
      Effect.sync(() => {
        log.push("reserve")
        for (const t of transfers) postedTimes.set(t.id, 0)
      }),
    post: (ids) => effectPost(ids),
    postWith: (ids, done, rest) => {
      log.push("postWith")
      const round = firstRounds.shift() ?? "done"
      if (round === "done") {
        apply(ids)
        return done()
      }
      if (round === "held") return void held.push(() => (apply(ids), done()))
      if (round === "late") apply(ids)
      if (round === "expired") {
        for (const id of ids) expired.add(id)
        return rest(Effect.fail(new PendingExpired({ transferId: ids[0]! })))
      }
      rest(Effect.fail(new LedgerUnavailable({ message: "timed out" })))
    },
    voidPending: () => Effect.sync(() => void log.push("void"))
  } as Pick<LedgerShape, "reserve" | "post" | "postWith" | "voidPending"> as LedgerShape
  return { ledger, log, postedTimes, expired, held }
}

const toPeer = timed(priced(routedToPeer(request())), nowMs + 5_000)
const local = timed(priced(routedLocal(request())), nowMs + 5_000)
const noReceivers = { settle: () => Effect.void }

/** Lets forked fibers run until they wait on the clock. */
const runPending = Effect.repeat(Effect.yieldNow, { times: 50 })

/** `makePostAfterReply` in a scope the test closes itself (shutdown). */
const openPosts = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const posts: PostAfterReply = yield* Scope.provide(makePostAfterReply, scope)
  return { scope, posts }
})

describe("LedgerReservation: the post after the reply through the ledger's callback", () => {
  it.effect("a peer's post goes through postWith once, not through a fiber's post; counted until answered", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      const model = modelLedger(["held"])
      const { scope, posts } = yield* openPosts
      const stage = ledgerReservation(model.ledger, metrics, noReceivers, posts)
      expect(yield* stage(spy<Timed>().handler)(toPeer)).toEqual(fulfill)
      expect(model.log).toEqual(["reserve", "postWith"])
      expect(posts.detached!.inFlight()).toBe(1)
      // Shutdown waits for it.
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* runPending
      expect(closing.pollUnsafe()).toBeUndefined()
      model.held[0]!()
      expect(posts.detached!.inFlight()).toBe(0)
      yield* Fiber.join(closing)
      expect(model.log).toEqual(["reserve", "postWith"])
      expect([...model.postedTimes.values()]).toEqual([1])
    }))

  it.effect("a first round lost as unavailable goes on in a fiber: retried after 50 ms, posted once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      const model = modelLedger(["lost"])
      const { scope, posts } = yield* openPosts
      yield* ledgerReservation(model.ledger, metrics, noReceivers, posts)(spy<Timed>().handler)(toPeer)
      yield* runPending
      expect(model.log).toEqual(["reserve", "postWith"])
      yield* TestClock.adjust(49)
      yield* runPending
      expect(model.log).toEqual(["reserve", "postWith"])
      yield* TestClock.adjust(1)
      yield* runPending
      expect(model.log).toEqual(["reserve", "postWith", "post"])
      yield* TestClock.adjust(60_000)
      yield* Scope.close(scope, Exit.void)
      expect(model.log).toEqual(["reserve", "postWith", "post"])
      expect([...model.postedTimes.values()]).toEqual([1])
    }))

  it.effect("a first round refused as expired is reported, not retried", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      const model = modelLedger(["expired"])
      const { scope, posts } = yield* openPosts
      yield* ledgerReservation(model.ledger, metrics, noReceivers, posts)(spy<Timed>().handler)(toPeer)
      yield* TestClock.adjust(60_000)
      yield* Scope.close(scope, Exit.void)
      expect(model.log).toEqual(["reserve", "postWith"])
      expect([...model.postedTimes.values()]).toEqual([0])
    }))

  it.effect("a local receiver's post still runs in a fiber through the ledger's post (it settles after it)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      const model = modelLedger([])
      const settled: Array<string> = []
      const receivers = { settle: (_: Timed, __: unknown, outcome: string) => Effect.sync(() => void settled.push(outcome)) }
      const { scope, posts } = yield* openPosts
      yield* ledgerReservation(model.ledger, metrics, receivers, posts)(spy<Timed>().handler)(local)
      yield* Scope.close(scope, Exit.void)
      expect(model.log).toEqual(["reserve", "post"])
      expect(settled).toEqual(["posted"])
    }))

  it.effect("shutdown waits for callback posts in flight, and for the fiber a failed first round handed its retry to", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      // Packet 1 is held by the ledger; packet 2's first round is lost and its retry waits 50 ms.
      const model = modelLedger(["held", "lost"])
      const { scope, posts } = yield* openPosts
      const stage = ledgerReservation(model.ledger, metrics, noReceivers, posts)
      yield* stage(spy<Timed>().handler)(toPeer)
      yield* stage(spy<Timed>().handler)(toPeer)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* runPending
      expect(closing.pollUnsafe()).toBeUndefined()
      model.held[0]!()
      yield* runPending
      // The held post answered; the lost one's retry has not run yet.
      expect(closing.pollUnsafe()).toBeUndefined()
      expect(model.log.filter((entry) => entry === "post")).toHaveLength(0)
      yield* TestClock.adjust(50)
      yield* Fiber.join(closing)
      expect(model.log).toEqual(["reserve", "postWith", "reserve", "postWith", "post"])
      expect([...model.postedTimes.values()]).toEqual([1, 1])
    }))

  it.effect(
    "any mix of first rounds and unavailable retries, then shutdown: every reservation posted exactly once, none retried after it was posted",
    () =>
      Effect.gen(function*() {
        // 60 cases from fast-check (seeded, so a failure reproduces), each in a fresh scope and model.
        const cases = fc.sample(
          fc.record({
            rounds: fc.array(fc.constantFrom<FirstRound>("done", "lost", "late", "held"), { minLength: 1, maxLength: 12 }),
            retryFailures: fc.integer({ min: 0, max: 3 }),
            releaseFirst: fc.boolean()
          }),
          { numRuns: 60, seed: 9013 }
        )
        for (const { rounds, retryFailures, releaseFirst } of cases) {
          yield* TestClock.setTime(nowMs)
          const model = modelLedger([...rounds], retryFailures)
          const { scope, posts } = yield* openPosts
          const stage = ledgerReservation(model.ledger, metrics, noReceivers, posts)
          for (let i = 0; i < rounds.length; i++) expect(yield* stage(spy<Timed>().handler)(toPeer)).toEqual(fulfill)
          if (releaseFirst) for (const release of model.held.splice(0)) release()
          const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
          yield* runPending
          // Shutdown never ends while a post is still unanswered.
          if (model.held.length > 0) expect(closing.pollUnsafe()).toBeUndefined()
          for (const release of model.held.splice(0)) release()
          // Retries back off at most 1 s each; the reservations last 15 s.
          for (let i = 0; i < 40 && closing.pollUnsafe() === undefined; i++) {
            yield* runPending
            yield* TestClock.adjust(500)
          }
          yield* Fiber.join(closing)
          expect(posts.detached!.inFlight()).toBe(0)
          expect([...model.postedTimes.values()]).toEqual(rounds.map(() => 1))
          // Fiber posts: one per failed first round, plus one per scripted failure (each retried).
          const failedFirst = rounds.filter((round) => round === "lost" || round === "late").length
          const effectPosts = model.log.filter((entry) => entry === "post").length
          expect(effectPosts).toBe(failedFirst === 0 ? 0 : failedFirst + retryFailures)
          expect(model.log.filter((entry) => entry === "postWith")).toHaveLength(rounds.length)
        }
      })
  )
})
