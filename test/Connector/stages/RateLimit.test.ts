/** Stage 4: per-source packet rate (token bucket at the packet's arrival time); empty bucket is T05. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeMemory } from "../../../src/Connector/RateLimiter.ts"
import type { PacketRequest } from "../../../src/Connector/Stage.ts"
import { rateLimit } from "../../../src/Connector/stages/RateLimit.ts"
import { nowMs, request, spy } from "../fixtures.ts"

const limited = { rateLimit: { packetsPerSecond: 1, burst: 2 } }

describe("stages/RateLimit", () => {
  it.effect("the burst passes, the next packet is RateLimited and does not reach next", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = rateLimit(makeMemory())(terminal.handler)
      yield* handler(request({ source: limited }))
      yield* handler(request({ source: limited }))
      const error = yield* Effect.flip(handler(request({ source: limited })))
      expect(error._tag).toBe("RateLimited")
      expect(terminal.calls).toHaveLength(2)
    }))

  it.effect("refills by the packet's arrival time", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = rateLimit(makeMemory())(terminal.handler)
      const source = { rateLimit: { packetsPerSecond: 1, burst: 1 } }
      yield* handler(request({ source, receivedAt: nowMs }))
      expect((yield* Effect.flip(handler(request({ source, receivedAt: nowMs + 999 }))))._tag).toBe("RateLimited")
      yield* handler(request({ source, receivedAt: nowMs + 1_000 }))
      expect(terminal.calls.map((call) => call.receivedAt)).toEqual([nowMs, nowMs + 1_000])
    }))

  it.effect("buckets are per source account key", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = rateLimit(makeMemory())(terminal.handler)
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
      const handler = rateLimit(makeMemory())(terminal.handler)
      for (let i = 0; i < 1_000; i++) yield* handler(request())
      expect(terminal.calls).toHaveLength(1_000)
    }))
})
