/**
 * The Redis layer against real `redis-server` processes (never mocked). If `redis-server` is not
 * installed these tests fail with a message saying to install it.
 *
 * Timing: command timeouts are 3 s (15 s where the test is not about timeouts); every bound on how
 * long something took is generous (a busy machine makes calls late, never early); waits poll a
 * condition with a deadline. Checked with `stress-ng --cpu 2` running beside it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { type ReceiptStoreUnavailable, ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { layerRedis, type RedisOptions } from "../../src/Stream/ReceiptTotalsRedis.ts"
import { freePort, startRedis } from "../support/redis.ts"
import { acquireRawClient, acquireServer, elapsedMs } from "../support/redisEffects.ts"
import { concurrentCapRun, concurrentReserveRun, receiptTotalsContract } from "./ReceiptTotalsContract.ts"

/** Generous slack on "fails at once" bounds: enough for a loaded machine, far below a hang. */
const slackMs = 10_000

/** Retries `effect` every 100 ms until it succeeds, for at most 30 s. */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.retry({ schedule: Schedule.spaced(100), times: 300 }))

/** Builds a store (its own ioredis client: one "instance") in the test's scope. */
const buildStore = (options: RedisOptions) =>
  Effect.map(Layer.build(layerRedis(options)), (context) => Context.get(context, ReceiptTotals))

const expectUnavailable = <A>(exit: Exit.Exit<A, ReceiptStoreUnavailable>) => {
  expect(Exit.isFailure(exit) && !Exit.hasDies(exit)).toBe(true)
  if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain("ReceiptStoreUnavailable")
}

/**
 * Bound on calls in the tests that are not about timeouts: 1000 concurrent calls against one Redis
 * on a loaded machine can take longer than the production default of 1 s.
 */
const patientMs = 15_000

receiptTotalsContract(
  "redis",
  (connectionTtlSeconds) =>
    Layer.unwrap(Effect.map(
      acquireServer(),
      (server) => layerRedis({ url: server.url, connectionTtlSeconds, commandTimeoutMs: patientMs })
    )),
  "live"
)

// Each test runs its own redis-server, so they run concurrently.
describe.concurrent("ReceiptTotals.layerRedis", () => {
  it.live("stores canonical decimal strings under the prefix, with a TTL only on connections", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const raw = yield* acquireRawClient(server)
      const store = yield* buildStore({ url: server.url, keyPrefix: "t1:", connectionTtlSeconds: 60, commandTimeoutMs: patientMs })
      yield* store.add({ connectionKey: "c", amount: 2n ** 64n - 1n, payment: { key: "p" } })
      expect(yield* Effect.promise(() => raw.get("t1:c:c"))).toBe("18446744073709551615")
      expect(yield* Effect.promise(() => raw.get("t1:p:p"))).toBe("18446744073709551615")
      const ttlMs = yield* Effect.promise(() => raw.pttl("t1:c:c"))
      expect(ttlMs > 60_000 - slackMs && ttlMs <= 60_000).toBe(true)
      expect(yield* Effect.promise(() => raw.pttl("t1:p:p"))).toBe(-1)
    }))

  it.live("adds digit by digit: carries through every digit and compares u128 caps exactly", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const raw = yield* acquireRawClient(server)
      const store = yield* buildStore({ url: server.url, keyPrefix: "t2:", commandTimeoutMs: patientMs })
      const nines = "9".repeat(38)
      yield* Effect.promise(() => raw.set("t2:p:carry", nines))
      expect(yield* store.add({ connectionKey: "c1", amount: 1n, payment: { key: "carry" } })).toEqual({
        accepted: true,
        connectionTotal: 1n,
        paymentTotal: 10n ** 38n
      })
      const u128Max = 2n ** 128n - 1n
      yield* Effect.promise(() => raw.set("t2:p:top", (u128Max - 2n).toString()))
      const payment = { key: "top", cap: u128Max }
      expect(yield* store.add({ connectionKey: "c2", amount: 3n, payment })).toEqual({
        accepted: false,
        paymentTotal: u128Max - 2n,
        remaining: 2n
      })
      expect(yield* store.add({ connectionKey: "c2", amount: 2n, payment })).toMatchObject({ paymentTotal: u128Max })
      expect(yield* store.add({ connectionKey: "c2", amount: 1n, payment })).toEqual({
        accepted: false,
        paymentTotal: u128Max,
        remaining: 0n
      })
      expect(yield* Effect.promise(() => raw.get("t2:p:top"))).toBe(u128Max.toString())
    }))

  it.live("a stored value that is not a decimal total is a defect, not an outage", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const raw = yield* acquireRawClient(server)
      const store = yield* buildStore({ url: server.url, keyPrefix: "t3:", commandTimeoutMs: patientMs })
      yield* Effect.promise(() => raw.set("t3:p:bad", "12x"))
      yield* Effect.promise(() => raw.hset("t3:c:hash", "f", "1"))
      const payment = { key: "bad" }
      expect(Exit.hasDies(yield* Effect.exit(store.add({ connectionKey: "c", amount: 1n, payment })))).toBe(true)
      expect(Exit.hasDies(yield* Effect.exit(store.paymentTotal("bad")))).toBe(true)
      expect(Exit.hasDies(yield* Effect.exit(store.add({ connectionKey: "hash", amount: 1n })))).toBe(true)
      expect(yield* Effect.promise(() => raw.get("t3:p:bad"))).toBe("12x")
    }))

  it.live("two instances (two clients) adding concurrently never pass the cap and fill it exactly", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const first = yield* buildStore({ url: server.url, commandTimeoutMs: patientMs })
      const second = yield* buildStore({ url: server.url, commandTimeoutMs: patientMs })
      yield* concurrentCapRun(7, [first, second])
      yield* concurrentCapRun(8, [second, first])
      yield* concurrentReserveRun(9, [first, second])
    }))

  it.live("keeps pending packets in a per-payment hash and packet records with a TTL", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const raw = yield* acquireRawClient(server)
      const store = yield* buildStore({ url: server.url, keyPrefix: "t5:", settleGraceMs: 60_000, commandTimeoutMs: patientMs })
      const payment = { key: "p", cap: 100n }
      yield* store.reserve({ packetId: "a", connectionKey: "c", amount: 40n, payment, pendingMs: 30_000 })
      expect(yield* Effect.promise(() => raw.hget("t5:h:p", "a"))).toBe("40")
      expect(yield* Effect.promise(() => raw.get("t5:s:p"))).toBe("40")
      const lapseAtMs = yield* Effect.promise(() => raw.zscore("t5:z:p", "a"))
      const [seconds] = yield* Effect.promise(() => raw.time())
      expect(Number(lapseAtMs) - Number(seconds) * 1000).toBeGreaterThan(30_000 - slackMs)
      expect(yield* Effect.promise(() => raw.get("t5:e:a"))).toBe("p 40")
      const recordTtl = yield* Effect.promise(() => raw.pttl("t5:e:a"))
      expect(recordTtl > 90_000 - slackMs && recordTtl <= 90_000).toBe(true)
      yield* store.commit({ packetId: "a", connectionKey: "c", paymentKey: "p" })
      expect(yield* Effect.promise(() => raw.exists("t5:h:p", "t5:s:p", "t5:z:p"))).toBe(0)
      expect(yield* Effect.promise(() => raw.get("t5:e:a"))).toBe("c 40")
      expect(yield* Effect.promise(() => raw.get("t5:p:p"))).toBe("40")
      // A release of a packet never seen leaves a tombstone for the grace period.
      yield* store.release({ packetId: "b", connectionKey: "c", paymentKey: "p" })
      expect(yield* Effect.promise(() => raw.get("t5:e:b"))).toBe("r 0")
      expect(yield* Effect.promise(() => raw.pttl("t5:e:b"))).toBeGreaterThan(60_000 - slackMs)
    }))

  it.live("a reserve that timed out in a stalled Redis and ran when it resumed is undone by the release", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const commandTimeoutMs = 3_000
      const store = yield* buildStore({ url: server.url, commandTimeoutMs })
      const payment = { key: "p", cap: 100n }
      const packet = { packetId: "late", connectionKey: "c", paymentKey: "p" }
      server.pause()
      const reserved = yield* Effect.exit(
        store.reserve({ ...packet, amount: 100n, payment, pendingMs: 600_000 })
      ).pipe(Effect.ensuring(Effect.sync(() => server.resume())))
      expectUnavailable(reserved)
      // The caller treats the packet as not posted and releases it until the release is answered.
      expect(yield* eventually(store.release(packet))).toBe("released")
      // Redis ran the reserve (queued before the release) and then the release: nothing counts.
      const raw = yield* acquireRawClient(server)
      expect(yield* Effect.promise(() => raw.get("ilp:receipts:e:late"))).toBe("r 100")
      expect(yield* Effect.promise(() => raw.exists("ilp:receipts:h:p", "ilp:receipts:s:p", "ilp:receipts:z:p"))).toBe(0)
      expect(yield* store.paymentTotal("p")).toBe(0n)
      expect(yield* store.reserve({ packetId: "next", connectionKey: "c", amount: 100n, payment, pendingMs: 600_000 }))
        .toMatchObject({ accepted: true, paymentTotal: 100n })
    }))

  it.live("a stopped Redis fails every call with ReceiptStoreUnavailable at once", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const commandTimeoutMs = 3_000
      const store = yield* buildStore({ url: server.url, commandTimeoutMs })
      yield* store.add({ connectionKey: "c", amount: 1n, payment: { key: "p", cap: 10n } })
      yield* Effect.promise(() => server.stop())
      const { exit, ms } = yield* elapsedMs(store.add({ connectionKey: "c", amount: 1n, payment: { key: "p", cap: 10n } }))
      expectUnavailable(exit)
      expect(ms).toBeLessThan(commandTimeoutMs + slackMs)
      expectUnavailable(yield* Effect.exit(store.reserve({ packetId: "x", connectionKey: "c", amount: 1n, pendingMs: 1_000 })))
      expectUnavailable(yield* Effect.exit(store.commit({ packetId: "x", connectionKey: "c" })))
      expectUnavailable(yield* Effect.exit(store.release({ packetId: "x", connectionKey: "c" })))
      expectUnavailable(yield* Effect.exit(store.get("c")))
      expectUnavailable(yield* Effect.exit(store.paymentTotal("p")))
      expectUnavailable(yield* Effect.exit(store.deletePayment("p")))
    }))

  it.live("a hung Redis (SIGSTOP) fails the call within commandTimeoutMs", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const commandTimeoutMs = 3_000
      const store = yield* buildStore({ url: server.url, commandTimeoutMs })
      yield* store.add({ connectionKey: "c", amount: 1n })
      server.pause()
      const { exit, ms } = yield* elapsedMs(store.add({ connectionKey: "c", amount: 1n })).pipe(
        Effect.ensuring(Effect.sync(() => server.resume()))
      )
      expectUnavailable(exit)
      expect(ms).toBeGreaterThanOrEqual(commandTimeoutMs - 10)
      expect(ms).toBeLessThan(commandTimeoutMs + slackMs)
      // The outcome of the timed-out add is unknown: Redis ran it after resuming.
      const next = yield* store.add({ connectionKey: "c", amount: 1n })
      expect(next.accepted && [2n, 3n].includes(next.connectionTotal)).toBe(true)
    }))

  it.live("reconnects after Redis restarts and reloads the script (NOSCRIPT → EVAL)", () =>
    Effect.gen(function*() {
      const server = yield* acquireServer()
      const store = yield* buildStore({ url: server.url, commandTimeoutMs: 3_000, reconnectDelayMsMax: 50 })
      yield* store.add({ connectionKey: "c", amount: 5n })
      yield* Effect.promise(() => server.stop())
      yield* acquireServer({ port: server.port })
      const result = yield* eventually(store.add({ connectionKey: "c", amount: 7n }))
      // The restarted server has no data (no persistence) and no cached script.
      expect(result).toEqual({ accepted: true, connectionTotal: 7n })
    }))

  it.live("fails the layer with ReceiptStoreUnavailable when Redis does not answer at start", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const { exit, ms } = yield* elapsedMs(
        Effect.scoped(buildStore({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1_000 }))
      )
      expectUnavailable(exit)
      expect(ms).toBeLessThan(1_000 + slackMs)
    }))

  it.live("keeps no secret from the URL in its errors", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const secret = `pw-${randomUUID()}`
      const exit = yield* Effect.exit(Effect.scoped(buildStore({ url: `redis://user:${secret}@127.0.0.1:${port}` })))
      expectUnavailable(exit)
      expect(JSON.stringify(exit)).not.toContain(secret)
    }))
})

describe("test/support/redis", () => {
  it.live("fails loudly, asking to install it, when redis-server is missing", () =>
    Effect.gen(function*() {
      const path = process.env["PATH"]
      process.env["PATH"] = "/nonexistent"
      const error = yield* Effect.flip(Effect.tryPromise({ try: () => startRedis(), catch: (e) => e as Error })).pipe(
        Effect.ensuring(Effect.sync(() => {
          process.env["PATH"] = path
        }))
      )
      expect(error.message).toMatch(/redis-server is not installed.*install it/)
    }))
})
