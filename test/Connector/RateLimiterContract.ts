/**
 * The rate limiter contract. Every layer runs this one suite (`RateLimiter.test.ts` for memory,
 * `RateLimiterRedis.test.ts` for Redis with `clock: "caller"`, so that time is stepped exactly by
 * the `nowMs` given, as in production the instances' or Redis's clock steps it).
 *
 * Tests use fresh keys, so they run concurrently against one limiter. Settings refill over 10 s or
 * more: Redis expires idle keys by its own (real) clock once they would be full, and these tests
 * step a fake clock, so a refill time shorter than the test's real duration could let a key expire
 * mid-test. Besides the boundaries, two properties compare a layer to the pure model
 * (`makeMemory`) on random sequences: the Redis scripts must compute exactly what it computes
 * (same doubles for tokens, exact decimals for amounts up to u64).
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import fc from "fast-check"
import { randomUUID } from "node:crypto"
import type { RateLimitSettings, ThroughputLimitSettings } from "../../src/Connector/Account.ts"
import {
  makeMemory,
  RateLimiter,
  type RateLimiterShape,
  type RateLimiterUnavailable
} from "../../src/Connector/RateLimiter.ts"

const t0 = 1_700_000_000_000
const u64Max = 2n ** 64n - 1n
const fresh = (label: string) => `${label}:${randomUUID()}`

const takePacket = (key: string, settings: RateLimitSettings, nowMs: number) =>
  RateLimiter.use((limiter) => limiter.takePacket(key, settings, nowMs))
const takeAmount = (key: string, settings: ThroughputLimitSettings, amount: bigint, nowMs: number) =>
  RateLimiter.use((limiter) => limiter.takeAmount(key, settings, amount, nowMs))

/** Runs the takes one after the other and collects the answers. */
const sequence = <E, R>(takes: ReadonlyArray<Effect.Effect<boolean, E, R>>) => Effect.forEach(takes, (take) => take)

/**
 * `burst * 3` concurrent packet takes at one instant, spread over `limiters` (several instances
 * sharing one backend): exactly `burst` pass.
 */
export const concurrentBurstRun = (limiters: ReadonlyArray<RateLimiterShape>, burst: number, nowMs = t0) =>
  Effect.gen(function*() {
    const key = fresh("burst")
    // ~0 refill: one token per 1000 s.
    const settings = { packetsPerSecond: 0.001, burst }
    const results = yield* Effect.forEach(
      Array.from({ length: burst * 3 }, (_, i) => i),
      (i) => limiters[i % limiters.length]!.takePacket(key, settings, nowMs),
      { concurrency: "unbounded" }
    )
    expect(results.filter(Boolean).length).toBe(burst)
  })

/**
 * 200 concurrent random amount takes at one instant over `limiters` against an allowance of half
 * their sum, then 1000 concurrent single units, which must fill the allowance exactly. The period is
 * 30 days, so that with Redis's clock (real time) the run refills less than one unit.
 */
export const concurrentAmountRun = (limiters: ReadonlyArray<RateLimiterShape>, seed: number, nowMs = t0) =>
  Effect.gen(function*() {
    const key = fresh("amount")
    const limiter = (i: number) => limiters[i % limiters.length]!
    const amounts = fc.sample(fc.bigInt({ min: 1n, max: 1_000n }), { numRuns: 200, seed })
    const allowance = amounts.reduce((sum, amount) => sum + amount, 0n) / 2n
    const settings = { amount: allowance, periodMs: 30 * 86_400_000 }
    const results = yield* Effect.forEach(
      amounts,
      (amount, i) => limiter(i).takeAmount(key, settings, amount, nowMs),
      { concurrency: "unbounded" }
    )
    const taken = amounts.filter((_, i) => results[i]).reduce((sum, amount) => sum + amount, 0n)
    expect(taken <= allowance).toBe(true)
    // What is used only grows, so every refused amount must not fit in what is left at the end.
    amounts.forEach((amount, i) => {
      if (!results[i]) expect(taken + amount > allowance).toBe(true)
    })
    const units = yield* Effect.forEach(
      Array.from({ length: 1_000 }, (_, i) => i),
      (i) => limiter(i).takeAmount(key, settings, 1n, nowMs),
      { concurrency: "unbounded" }
    )
    expect(BigInt(units.filter(Boolean).length)).toBe(allowance - taken)
  })

export const rateLimiterContract = (
  name: string,
  makeLayer: () => Layer.Layer<RateLimiter, RateLimiterUnavailable>
): void => {
  layer(makeLayer(), { excludeTestServices: true, timeout: "30 seconds", concurrent: true })(
    `${name} rate limiter contract`,
    (it) => {
      // --- packets (token bucket) ---------------------------------------------------------------

      it.effect("packets: a fresh bucket allows exactly the burst, then refuses", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          const settings = { packetsPerSecond: 0.1, burst: 3 }
          expect(yield* sequence([1, 2, 3, 4].map(() => takePacket(key, settings, t0)))).toEqual([true, true, true, false])
        }))

      it.effect("packets: refill one token per 1/rate seconds, exactly at the boundary", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          const settings = { packetsPerSecond: 0.1, burst: 1 }
          expect(yield* sequence([
            takePacket(key, settings, t0),
            takePacket(key, settings, t0 + 9_999),
            takePacket(key, settings, t0 + 10_000),
            takePacket(key, settings, t0 + 10_000)
          ])).toEqual([true, false, true, false])
        }))

      it.effect("packets: fractional refill survives refused attempts", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          const settings = { packetsPerSecond: 0.05, burst: 1 }
          const at = [0, 5_000, 10_000, 19_999, 20_000, 20_000, 40_000]
          expect(yield* sequence(at.map((ms) => takePacket(key, settings, t0 + ms)))).toEqual([
            true,
            false,
            false,
            false,
            true,
            false,
            true
          ])
        }))

      it.effect("packets: refill is capped at the burst however long the account was idle", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          const settings = { packetsPerSecond: 0.1, burst: 2 }
          yield* sequence([takePacket(key, settings, t0), takePacket(key, settings, t0)])
          const later = t0 + 3_600_000
          expect(yield* sequence([1, 2, 3].map(() => takePacket(key, settings, later)))).toEqual([true, true, false])
        }))

      it.effect("packets: time going backwards neither mints tokens nor breaks later refill", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          const settings = { packetsPerSecond: 0.1, burst: 1 }
          const at = [100_000, 0, -1_000_000, 109_999, 110_000]
          expect(yield* sequence(at.map((ms) => takePacket(key, settings, t0 + ms)))).toEqual([
            true,
            false,
            false,
            false,
            true
          ])
        }))

      it.effect("packets: accounts have separate buckets, and packet and amount buckets are separate", () =>
        Effect.gen(function*() {
          const [a, b] = [fresh("peer"), fresh("peer")]
          const settings = { packetsPerSecond: 0.1, burst: 1 }
          expect(yield* sequence([
            takePacket(a, settings, t0),
            takePacket(a, settings, t0),
            takePacket(b, settings, t0),
            takeAmount(a, { amount: 5n, periodMs: 10_000 }, 5n, t0)
          ])).toEqual([true, false, true, true])
        }))

      it.effect("packets: matches the pure model on random rates, bursts and times", () =>
        Effect.gen(function*() {
          const cases = fc.sample(
            fc.record({
              // Refill times of 10 s and more (see the header).
              packetsPerSecond: fc.double({ min: 0.0001, max: 0.1, noNaN: true }),
              burst: fc.integer({ min: 1, max: 5 }),
              steps: fc.array(fc.integer({ min: -5_000, max: 60_000 }), { minLength: 1, maxLength: 25 })
            }),
            { numRuns: 25, seed: 11 }
          )
          yield* Effect.forEach(cases, ({ burst, packetsPerSecond, steps }) =>
            Effect.gen(function*() {
              const key = fresh("peer")
              const model = makeMemory()
              const settings = { packetsPerSecond, burst }
              let now = t0
              for (const step of steps) {
                now += step
                expect(yield* takePacket(key, settings, now)).toBe(model.takePacket(key, settings, now))
              }
            }), { concurrency: 5 })
        }))

      it.effect("packets: concurrent takes never pass the burst", () =>
        RateLimiter.use((limiter) => concurrentBurstRun([limiter], 20)))

      // --- amounts (throughput per period) ------------------------------------------------------

      const perPeriod = { amount: 1_000n, periodMs: 60_000 }

      it.effect("amounts: exactly the allowance passes, one more unit fails", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          expect(yield* sequence([takeAmount(key, perPeriod, 1_000n, t0), takeAmount(key, perPeriod, 1n, t0)]))
            .toEqual([true, false])
        }))

      it.effect("amounts: the allowance can be taken in parts; a refused amount takes nothing", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          expect(yield* sequence([600n, 401n, 400n, 1n].map((amount) => takeAmount(key, perPeriod, amount, t0))))
            .toEqual([true, false, true, false])
          const other = fresh("peer")
          expect(yield* sequence([1_001n, 1_000n].map((amount) => takeAmount(other, perPeriod, amount, t0))))
            .toEqual([false, true])
        }))

      it.effect("amounts: zero always passes, even with the allowance spent", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          expect(yield* sequence([1_000n, 0n, 1n].map((amount) => takeAmount(key, perPeriod, amount, t0))))
            .toEqual([true, true, false])
        }))

      it.effect("amounts: refill in proportion to the time elapsed over the period, exactly", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          expect(yield* sequence([
            takeAmount(key, perPeriod, 1_000n, t0),
            takeAmount(key, perPeriod, 501n, t0 + 30_000),
            takeAmount(key, perPeriod, 500n, t0 + 30_000),
            takeAmount(key, perPeriod, 1n, t0 + 30_000)
          ])).toEqual([true, false, true, false])
        }))

      it.effect("amounts: no rounding in the account's favour (3 per 10 s needs a full 3333⅓ ms per unit)", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          const slow = { amount: 3n, periodMs: 10_000 }
          expect(yield* sequence([
            takeAmount(key, slow, 3n, t0),
            takeAmount(key, slow, 1n, t0 + 3_333), // 9999 of 10000 amount·ms
            takeAmount(key, slow, 1n, t0 + 3_334)
          ])).toEqual([true, false, true])
        }))

      it.effect("amounts: refill is capped at the allowance; time going backwards does not refill", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          const later = t0 + 10 * 60_000
          expect(yield* sequence([
            takeAmount(key, perPeriod, 1n, t0),
            takeAmount(key, perPeriod, 1_000n, later),
            takeAmount(key, perPeriod, 1n, later),
            takeAmount(key, perPeriod, 1n, t0),
            takeAmount(key, perPeriod, 1n, later + 59),
            takeAmount(key, perPeriod, 1n, later + 60)
          ])).toEqual([true, true, false, false, false, true])
        }))

      it.effect("amounts: exact at u64 (allowance 2^64 - 1 per day, refill of one millisecond)", () =>
        Effect.gen(function*() {
          const key = fresh("peer")
          const day = 86_400_000
          const huge = { amount: u64Max, periodMs: day }
          expect(yield* sequence([
            takeAmount(key, huge, u64Max - 1n, t0),
            takeAmount(key, huge, 2n, t0),
            takeAmount(key, huge, 1n, t0),
            takeAmount(key, huge, 1n, t0)
          ])).toEqual([true, false, true, false])
          // One millisecond refills (2^64 - 1) / 86 400 000 = 213 503 982 334.6… units.
          const perMs = u64Max / BigInt(day)
          expect(yield* sequence([
            takeAmount(key, huge, perMs + 1n, t0 + 1),
            takeAmount(key, huge, perMs, t0 + 1),
            takeAmount(key, huge, 1n, t0 + 1)
          ])).toEqual([false, true, false])
          // A whole day refills exactly the allowance, and no more.
          expect(yield* sequence([
            takeAmount(key, huge, u64Max, t0 + 1 + day),
            takeAmount(key, huge, 1n, t0 + 1 + day)
          ])).toEqual([true, false])
        }))

      it.effect("amounts: matches the pure model on random u64 sequences", () =>
        Effect.gen(function*() {
          const cases = fc.sample(
            fc.record({
              allowance: fc.bigInt({ min: 0n, max: u64Max }),
              periodMs: fc.integer({ min: 10_000, max: 7 * 86_400_000 }),
              steps: fc.array(
                fc.tuple(fc.integer({ min: -1_000, max: 100_000 }), fc.bigInt({ min: 0n, max: u64Max })),
                { minLength: 1, maxLength: 12 }
              )
            }),
            { numRuns: 30, seed: 7 }
          )
          yield* Effect.forEach(cases, ({ allowance, periodMs, steps }) =>
            Effect.gen(function*() {
              const key = fresh("peer")
              const model = makeMemory()
              const settings = { amount: allowance, periodMs }
              let now = t0
              for (const [step, raw] of steps) {
                now += step
                // Amounts near the allowance too, where the boundary is.
                const amount = raw % 2n === 0n ? raw : allowance - raw % (allowance + 1n)
                expect(yield* takeAmount(key, settings, amount, now)).toBe(model.takeAmount(key, settings, amount, now))
              }
            }), { concurrency: 5 })
        }))

      it.effect("amounts: concurrent takes never pass the allowance and fill it exactly", () =>
        RateLimiter.use((limiter) => concurrentAmountRun([limiter], 42)))
    }
  )
}
