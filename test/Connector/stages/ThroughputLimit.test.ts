/** Stage 5: optional amount-per-period limit per source account; exceeding it is T04. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { toReject } from "../../../src/Connector/IlpErrors.ts"
import { makeMemoryService, type RateLimiterShape, RateLimiterUnavailable } from "../../../src/Connector/RateLimiter.ts"
import type { PacketRequest } from "../../../src/Connector/Stage.ts"
import { throughputLimit } from "../../../src/Connector/stages/ThroughputLimit.ts"
import { nowMs, ourAddress, request, spy } from "../fixtures.ts"

const source = { throughputLimit: { amount: 1_000n, periodMs: 10_000 } }
const packet = (amount: bigint, receivedAt = nowMs) => request({ prepare: { amount }, source, receivedAt })

/** A limiter whose store is down: every take fails. */
const unavailable: RateLimiterShape = {
  takePacket: () => Effect.fail(new RateLimiterUnavailable({ message: "Redis takePacket timed out after 1000 ms" })),
  takeAmount: () => Effect.fail(new RateLimiterUnavailable({ message: "Redis takeAmount timed out after 1000 ms" }))
}

describe("stages/ThroughputLimit", () => {
  it.effect("exactly the allowance passes, one more unit is InsufficientLiquidity and does not reach next", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(makeMemoryService())(terminal.handler)
      yield* handler(packet(400n))
      yield* handler(packet(600n))
      const error = yield* Effect.flip(handler(packet(1n)))
      expect(error._tag).toBe("InsufficientLiquidity")
      expect(terminal.calls.map((call) => call.prepare.amount)).toEqual([400n, 600n])
    }))

  it.effect("a single packet above the allowance is refused", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const error = yield* Effect.flip(throughputLimit(makeMemoryService())(terminal.handler)(packet(1_001n)))
      expect(error._tag).toBe("InsufficientLiquidity")
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("refills over the period, by the packet's arrival time", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(makeMemoryService())(terminal.handler)
      yield* handler(packet(1_000n))
      expect((yield* Effect.flip(handler(packet(101n, nowMs + 1_000))))._tag).toBe("InsufficientLiquidity")
      yield* handler(packet(100n, nowMs + 1_000))
      expect(terminal.calls).toHaveLength(2)
    }))

  it.effect("zero-amount packets pass even when the allowance is spent", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(makeMemoryService())(terminal.handler)
      yield* handler(packet(1_000n))
      yield* handler(packet(0n))
      expect(terminal.calls).toHaveLength(2)
    }))

  it.effect("no limit configured: any amount passes", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(makeMemoryService())(terminal.handler)
      yield* handler(request({ prepare: { amount: (1n << 64n) - 1n } }))
      yield* handler(request({ prepare: { amount: (1n << 64n) - 1n } }))
      expect(terminal.calls).toHaveLength(2)
    }))

  it.effect("an unavailable limiter is an InternalError (T00), never InsufficientLiquidity, and the packet stops", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const error = yield* Effect.flip(throughputLimit(unavailable)(terminal.handler)(packet(1n)))
      expect(error._tag).toBe("InternalError")
      expect(error).toMatchObject({ reason: expect.stringContaining("rate limiter unavailable") })
      expect(toReject(error, ourAddress)).toMatchObject({ code: "T00", message: "unexpected internal error" })
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("an unavailable limiter is not asked for zero amounts or without a limit", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(unavailable)(terminal.handler)
      yield* handler(packet(0n))
      yield* handler(request({ prepare: { amount: 5n } }))
      expect(terminal.calls).toHaveLength(2)
    }))
})
