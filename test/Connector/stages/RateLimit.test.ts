/** Stage 4: per-source packet rate (token bucket at the packet's arrival time); empty bucket is T05. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { toReject } from "../../../src/Connector/IlpErrors.ts"
import { makeMemoryService, type RateLimiterShape, RateLimiterUnavailable } from "../../../src/Connector/RateLimiter.ts"
import type { PacketRequest } from "../../../src/Connector/Stage.ts"
import { rateLimit } from "../../../src/Connector/stages/RateLimit.ts"
import { nowMs, ourAddress, request, spy } from "../fixtures.ts"

const limited = { rateLimit: { packetsPerSecond: 1, burst: 2 } }

/** A limiter whose store is down: every take fails. */
const unavailable: RateLimiterShape = {
  takePacket: () => Effect.fail(new RateLimiterUnavailable({ message: "Redis takePacket timed out after 1000 ms" })),
  takeAmount: () => Effect.fail(new RateLimiterUnavailable({ message: "Redis takeAmount timed out after 1000 ms" }))
}

describe("stages/RateLimit", () => {
  it.effect("the burst passes, the next packet is RateLimited and does not reach next", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = rateLimit(makeMemoryService())(terminal.handler)
      yield* handler(request({ source: limited }))
      yield* handler(request({ source: limited }))
      const error = yield* Effect.flip(handler(request({ source: limited })))
      expect(error._tag).toBe("RateLimited")
      expect(terminal.calls).toHaveLength(2)
    }))

  it.effect("refills by the packet's arrival time", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = rateLimit(makeMemoryService())(terminal.handler)
      const source = { rateLimit: { packetsPerSecond: 1, burst: 1 } }
      yield* handler(request({ source, receivedAt: nowMs }))
      expect((yield* Effect.flip(handler(request({ source, receivedAt: nowMs + 999 }))))._tag).toBe("RateLimited")
      yield* handler(request({ source, receivedAt: nowMs + 1_000 }))
      expect(terminal.calls.map((call) => call.receivedAt)).toEqual([nowMs, nowMs + 1_000])
    }))

  it.effect("buckets are per source account key", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = rateLimit(makeMemoryService())(terminal.handler)
      const source = { rateLimit: { packetsPerSecond: 1, burst: 1 } }
      yield* handler(request({ source: { ...source, id: "a", key: "peer:a" } }))
      yield* handler(request({ source: { ...source, id: "b", key: "peer:b" } }))
      yield* handler(request({ source: { ...source, id: "a", key: "local:a" } }))
      expect(terminal.calls).toHaveLength(3)
      const error = yield* Effect.flip(handler(request({ source: { ...source, id: "a", key: "peer:a" } })))
      expect(error._tag).toBe("RateLimited")
    }))

  it.effect("no rate limit configured: never limited", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = rateLimit(makeMemoryService())(terminal.handler)
      for (let i = 0; i < 1_000; i++) yield* handler(request())
      expect(terminal.calls).toHaveLength(1_000)
    }))

  it.effect("an unavailable limiter is an InternalError (T00), never RateLimited, and the packet stops", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const error = yield* Effect.flip(rateLimit(unavailable)(terminal.handler)(request({ source: limited })))
      expect(error._tag).toBe("InternalError")
      expect(error).toMatchObject({ reason: expect.stringContaining("rate limiter unavailable") })
      expect(toReject(error, ourAddress)).toMatchObject({ code: "T00", message: "unexpected internal error" })
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("an unavailable limiter is not asked when no rate limit is configured", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      yield* rateLimit(unavailable)(terminal.handler)(request())
      expect(terminal.calls).toHaveLength(1)
    }))
})
