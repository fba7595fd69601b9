import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as CoalescingCache from "../../src/Rates/CoalescingCache.ts"

/** A lookup that counts calls and answers `key.length`, failing for keys starting with "!". */
const counting = () => {
  const calls: Array<string> = []
  const lookup = (key: string): Effect.Effect<number, string> =>
    Effect.suspend(() => {
      calls.push(key)
      return key.startsWith("!") ? Effect.fail(`bad ${key}`) : Effect.succeed(key.length)
    })
  return { calls, lookup }
}

const options = (lookup: (key: string) => Effect.Effect<number, string>, overrides: Partial<CoalescingCache.Options<number, string>> = {}) => ({
  lookup,
  successTtlMs: 1_000,
  failureTtlMs: 0,
  entriesMax: 10,
  ...overrides
})

describe("CoalescingCache", () => {
  it.effect("a hit is served by peek without a lookup; a miss is undefined", () =>
    Effect.gen(function*() {
      const { calls, lookup } = counting()
      const cache = yield* CoalescingCache.make(options(lookup))
      expect(cache.peek("abc")).toBeUndefined()
      expect(yield* cache.get("abc")).toBe(3)
      expect(cache.peek("abc")).toBe(3)
      expect(yield* cache.get("abc")).toBe(3)
      expect(calls).toEqual(["abc"])
    }))

  it.effect("expires successes after successTtlMs", () =>
    Effect.gen(function*() {
      const { calls, lookup } = counting()
      const cache = yield* CoalescingCache.make(options(lookup))
      yield* cache.get("abc")
      yield* TestClock.adjust(999)
      expect(cache.peek("abc")).toBe(3)
      yield* TestClock.adjust(1)
      expect(cache.peek("abc")).toBeUndefined()
      yield* cache.get("abc")
      expect(calls).toEqual(["abc", "abc"])
    }))

  it.effect("keeps failures for failureTtlMs only (0 = not at all); peek never returns them", () =>
    Effect.gen(function*() {
      const none = counting()
      const uncached = yield* CoalescingCache.make(options(none.lookup))
      yield* Effect.flip(uncached.get("!x"))
      yield* Effect.flip(uncached.get("!x"))
      expect(none.calls).toEqual(["!x", "!x"])

      const some = counting()
      const cached = yield* CoalescingCache.make(options(some.lookup, { failureTtlMs: 100 }))
      expect(yield* Effect.flip(cached.get("!x"))).toBe("bad !x")
      expect(yield* Effect.flip(cached.get("!x"))).toBe("bad !x")
      expect(cached.peek("!x")).toBeUndefined()
      expect(some.calls).toEqual(["!x"])
      yield* TestClock.adjust(100)
      yield* Effect.flip(cached.get("!x"))
      expect(some.calls).toEqual(["!x", "!x"])
    }))

  it.effect("coalesces concurrent gets, including effects built before any of them ran", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      let calls = 0
      const cache = yield* CoalescingCache.make(options((key) =>
        Effect.andThen(Effect.sync(() => calls++), Effect.as(Deferred.await(gate), key.length))
      ))
      const gets = Array.from({ length: 100 }, () => cache.get("abcd"))
      const fiber = yield* Effect.forkChild(Effect.all(gets, { concurrency: "unbounded" }))
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      const results = yield* Fiber.join(fiber)
      expect(results).toEqual(Array.from({ length: 100 }, () => 4))
      expect(calls).toBe(1)
    }))

  it.effect("an interrupted caller does not cancel the shared lookup", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const { calls, lookup } = counting()
      const cache = yield* CoalescingCache.make(options((key) => Effect.andThen(Deferred.await(gate), lookup(key))))
      const first = yield* Effect.forkChild(cache.get("abc"))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(first)
      const second = yield* Effect.forkChild(cache.get("abc"))
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(second)).toBe(3)
      expect(calls).toEqual(["abc"])
    }))

  it.effect("holds at most entriesMax keys, dropping the oldest insertion", () =>
    Effect.gen(function*() {
      const { calls, lookup } = counting()
      const cache = yield* CoalescingCache.make(options(lookup, { entriesMax: 2 }))
      yield* cache.get("a")
      yield* cache.get("bb")
      yield* cache.get("ccc")
      expect(cache.peek("a")).toBeUndefined()
      expect(cache.peek("bb")).toBe(2)
      expect(cache.peek("ccc")).toBe(3)
      yield* cache.get("a")
      expect(calls).toEqual(["a", "bb", "ccc", "a"])
    }))

  it.effect("closing the cache's scope interrupts a pending lookup and its waiters", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cache = yield* CoalescingCache.make(options(() => Effect.never)).pipe(Scope.provide(scope))
      const waiter = yield* Effect.forkChild(cache.get("abc"))
      yield* Effect.yieldNow
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.await(waiter)
      expect(Exit.hasInterrupts(exit)).toBe(true)
    }))

  it("ttlFor: success, failure, interruption", () => {
    const o = options(() => Effect.succeed(0), { successTtlMs: 10, failureTtlMs: 5 })
    expect(CoalescingCache.ttlFor(Exit.succeed(1), o)).toBe(10)
    expect(CoalescingCache.ttlFor(Exit.fail("x"), o)).toBe(5)
    expect(CoalescingCache.ttlFor(Exit.interrupt(), o)).toBe(0)
  })
})
