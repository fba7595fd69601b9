/**
 * The Redis rate limiter against real `redis-server` processes (never mocked): the shared contract
 * (with `clock: "caller"`, so its fake times are exact), then what only Redis has: Redis's own clock,
 * several instances sharing one bucket, key layout and expiry, outages, start-up failures.
 * If `redis-server` is not installed these tests fail with a message saying to install it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { RateLimiter, type RateLimiterUnavailable } from "../../src/Connector/RateLimiter.ts"
import { layerRedis, type RedisOptions } from "../../src/Connector/RateLimiterRedis.ts"
import { freePort } from "../support/redis.ts"
import { acquireRawClient, acquireServer, elapsedMs } from "../support/redisEffects.ts"
import { concurrentAmountRun, concurrentBurstRun, rateLimiterContract } from "./RateLimiterContract.ts"

const t0 = 1_700_000_000_000

/**
 * Builds a limiter (its own ioredis client: one "instance") in the test's scope. Tests not about
 * timeouts get generous ones: these tests run concurrently, each with its own redis-server, on a
 * machine that may be busy (a 1 s command timeout failed there).
 */
const buildLimiter = (options: RedisOptions) =>
  Effect.map(
    Layer.build(layerRedis({ commandTimeoutMs: 10_000, connectTimeoutMs: 20_000, ...options })),
    (context) => Context.get(context, RateLimiter)
  )

/** A first take on a limiter with a short command timeout: retried until the machine lets it through. */
const warmUp = (limiter: RateLimiter["Service"]) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    for (let i = 0; ; i++) {
      const exit = yield* Effect.exit(limiter.takePacket(`warm-up:${i}`, tight, t0))
      if (Exit.isSuccess(exit) || Date.now() > deadline) return expect(Exit.isSuccess(exit)).toBe(true)
    }
  })

const expectUnavailable = <A>(exit: Exit.Exit<A, RateLimiterUnavailable>) => {
  expect(Exit.isFailure(exit) && !Exit.hasDies(exit)).toBe(true)
  if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain("RateLimiterUnavailable")
}

const tight = { packetsPerSecond: 0.001, burst: 2 }
/**
 * "Fails within the timeout instead of hanging": the bound above the timeout is generous, since a
 * busy machine may add seconds (a hang would never end).
 */
const hangMarginMs = 5_000
const hourly = { amount: 10n, periodMs: 3_600_000 }

rateLimiterContract(
  "redis",
  () => Layer.unwrap(Effect.map(acquireServer(), (server) => layerRedis({ url: server.url, clock: "caller", commandTimeoutMs: 10_000 })))
)

// Each test runs its own redis-server, so they run concurrently.
describe.concurrent("RateLimiter.layerRedis", () => {
  it.live("two instances (two clients) taking concurrently from one bucket never exceed it together", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      // Redis's clock (the production default) and the caller's clock.
      const first = yield* buildLimiter({ url: server.url })
      const second = yield* buildLimiter({ url: server.url })
      yield* concurrentBurstRun([first, second], 50)
      yield* concurrentAmountRun([first, second], 3)
      const callerFirst = yield* buildLimiter({ url: server.url, clock: "caller" })
      const callerSecond = yield* buildLimiter({ url: server.url, clock: "caller" })
      yield* concurrentBurstRun([callerSecond, callerFirst], 50)
      yield* concurrentAmountRun([callerSecond, callerFirst], 4)
    }))

  it.live("by default refills by Redis's clock and ignores the nowMs it is given", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const limiter = yield* buildLimiter({ url: server.url })
      // A caller clock an hour ahead (or behind) mints nothing.
      expect([
        yield* limiter.takePacket("peer:a", tight, t0),
        yield* limiter.takePacket("peer:a", tight, t0),
        yield* limiter.takePacket("peer:a", tight, t0 + 3_600_000),
        yield* limiter.takePacket("peer:a", tight, 0)
      ]).toEqual([true, true, false, false])
      expect([
        yield* limiter.takeAmount("peer:a", hourly, 10n, t0),
        yield* limiter.takeAmount("peer:a", hourly, 1n, t0 + 3_600_000)
      ]).toEqual([true, false])
      // Real time refills, whatever nowMs says: 5 packets/s is one token per 200 ms; 1000 per 200 ms
      // refills the allowance in 200 ms. (Drain first: a loaded machine may have refilled already.)
      const fast = { packetsPerSecond: 5, burst: 1 }
      while (yield* limiter.takePacket("peer:b", fast, 0));
      const quick = { amount: 1_000n, periodMs: 200 }
      expect(yield* limiter.takeAmount("peer:b", quick, 1_000n, 0)).toBe(true)
      yield* Effect.sleep(250)
      expect([yield* limiter.takePacket("peer:b", fast, 0), yield* limiter.takeAmount("peer:b", quick, 1_000n, 0)])
        .toEqual([true, true])
    }))

  it.live("keeps each bucket in a hash under the prefix that expires once it would be full", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const raw = yield* acquireRawClient(server)
      const limiter = yield* buildLimiter({ url: server.url, keyPrefix: "t1:", clock: "caller" })
      yield* limiter.takePacket("peer:a", { packetsPerSecond: 0.5, burst: 3 }, t0)
      expect(yield* Effect.promise(() => raw.hgetall("t1:p:peer:a"))).toEqual({ t: "2", u: String(t0) })
      // Empty to full: 3 tokens at 0.5/s = 6 s.
      const packetTtl = yield* Effect.promise(() => raw.pttl("t1:p:peer:a"))
      expect(packetTtl > 3_000 && packetTtl <= 6_000).toBe(true) // ~6 s, minus a busy machine's delay
      const u64Max = 2n ** 64n - 1n
      yield* limiter.takeAmount("peer:a", { amount: u64Max, periodMs: 60_000 }, 1n, t0)
      // amount·ms, exact: (2^64 - 1) × 60 000 - 60 000.
      expect(yield* Effect.promise(() => raw.hgetall("t1:a:peer:a"))).toEqual({
        a: (u64Max * 60_000n - 60_000n).toString(),
        u: String(t0)
      })
      const amountTtl = yield* Effect.promise(() => raw.pttl("t1:a:peer:a"))
      expect(amountTtl > 50_000 && amountTtl <= 60_000).toBe(true)
      // Refills over 20 ms: the key is gone after that, and a missing key is a full bucket.
      const fast = { packetsPerSecond: 100, burst: 2 }
      expect([yield* limiter.takePacket("peer:b", fast, 0), yield* limiter.takePacket("peer:b", fast, 0)])
        .toEqual([true, true])
      yield* Effect.sleep(60)
      expect(yield* Effect.promise(() => raw.exists("t1:p:peer:b"))).toBe(0)
    }))

  it.live("a stored value it cannot read is a defect, not an outage and not a refusal", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const raw = yield* acquireRawClient(server)
      const limiter = yield* buildLimiter({ url: server.url, keyPrefix: "t2:" })
      yield* Effect.promise(() => raw.hset("t2:a:peer:bad", "a", "12x", "u", "1"))
      yield* Effect.promise(() => raw.hset("t2:p:peer:bad", "t", "many", "u", "1"))
      yield* Effect.promise(() => raw.set("t2:p:peer:string", "1"))
      expect(Exit.hasDies(yield* Effect.exit(limiter.takeAmount("peer:bad", hourly, 1n, t0)))).toBe(true)
      expect(Exit.hasDies(yield* Effect.exit(limiter.takePacket("peer:bad", tight, t0)))).toBe(true)
      expect(Exit.hasDies(yield* Effect.exit(limiter.takePacket("peer:string", tight, t0)))).toBe(true)
      expect(Exit.hasDies(yield* Effect.exit(limiter.takeAmount("peer:x", hourly, -1n, t0)))).toBe(true)
      expect(Exit.hasDies(yield* Effect.exit(limiter.takePacket("", tight, t0)))).toBe(true)
    }))

  it.live("a stopped Redis fails every take with RateLimiterUnavailable at once", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      // Long: failing "at once" means failing on the closed connection, well before this timeout.
      const commandTimeoutMs = 10_000
      const limiter = yield* buildLimiter({ url: server.url, commandTimeoutMs })
      expect(yield* limiter.takePacket("peer:a", tight, t0)).toBe(true)
      yield* Effect.promise(() => server.stop())
      const packet = yield* elapsedMs(limiter.takePacket("peer:a", tight, t0))
      expectUnavailable(packet.exit)
      expect(packet.ms).toBeLessThan(commandTimeoutMs)
      const amount = yield* elapsedMs(limiter.takeAmount("peer:a", hourly, 1n, t0))
      expectUnavailable(amount.exit)
      expect(amount.ms).toBeLessThan(commandTimeoutMs)
    }))

  it.live("a hung Redis (SIGSTOP) fails the take within commandTimeoutMs", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const commandTimeoutMs = 250
      const limiter = yield* buildLimiter({ url: server.url, commandTimeoutMs })
      yield* warmUp(limiter)
      server.pause()
      const packet = yield* elapsedMs(limiter.takePacket("peer:a", tight, t0))
      const amount = yield* elapsedMs(limiter.takeAmount("peer:a", hourly, 1n, t0))
      server.resume()
      for (const { exit, ms } of [packet, amount]) {
        expectUnavailable(exit)
        expect(ms).toBeGreaterThanOrEqual(commandTimeoutMs - 10)
        expect(ms).toBeLessThan(commandTimeoutMs + hangMarginMs)
      }
    }))

  it.live("reloads its scripts after SCRIPT FLUSH (NOSCRIPT → EVAL)", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const raw = yield* acquireRawClient(server)
      const limiter = yield* buildLimiter({ url: server.url })
      expect(yield* limiter.takePacket("peer:a", tight, t0)).toBe(true)
      yield* Effect.promise(() => raw.script("FLUSH"))
      expect(yield* limiter.takePacket("peer:a", tight, t0)).toBe(true)
      expect(yield* limiter.takePacket("peer:a", tight, t0)).toBe(false)
      expect(yield* limiter.takeAmount("peer:a", hourly, 10n, t0)).toBe(true)
    }))

  it.live("fails the layer with RateLimiterUnavailable when Redis does not answer at start", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const { exit, ms } = yield* elapsedMs(
        Effect.scoped(buildLimiter({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1_000 }))
      )
      expectUnavailable(exit)
      expect(ms).toBeLessThan(1_000 + hangMarginMs)
    }))

  it.live("keeps no secret from the URL in its errors", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const secret = `pw-${randomUUID()}`
      const exit = yield* Effect.exit(Effect.scoped(buildLimiter({ url: `redis://user:${secret}@127.0.0.1:${port}` })))
      expectUnavailable(exit)
      expect(JSON.stringify(exit)).not.toContain(secret)
    }))
})
