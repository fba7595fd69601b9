/** Stage 5: optional amount-per-period limit per source account; exceeding it is T04. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeMemory } from "../../../src/Connector/RateLimiter.ts"
import type { PacketRequest } from "../../../src/Connector/Stage.ts"
import { throughputLimit } from "../../../src/Connector/stages/ThroughputLimit.ts"
import { nowMs, request, spy } from "../fixtures.ts"

const source = { throughputLimit: { amount: 1_000n, periodMs: 10_000 } }
const packet = (amount: bigint, receivedAt = nowMs) => request({ prepare: { amount }, source, receivedAt })

describe("stages/ThroughputLimit", () => {
  it.effect("exactly the allowance passes, one more unit is InsufficientLiquidity and does not reach next", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(makeMemory())(terminal.handler)
      yield* handler(packet(400n))
      yield* handler(packet(600n))
      const error = yield* Effect.flip(handler(packet(1n)))
      expect(error._tag).toBe("InsufficientLiquidity")
      expect(terminal.calls.map((call) => call.prepare.amount)).toEqual([400n, 600n])
    }))

  it.effect("a single packet above the allowance is refused", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const error = yield* Effect.flip(throughputLimit(makeMemory())(terminal.handler)(packet(1_001n)))
      expect(error._tag).toBe("InsufficientLiquidity")
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("refills over the period, by the packet's arrival time", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(makeMemory())(terminal.handler)
      yield* handler(packet(1_000n))
      expect((yield* Effect.flip(handler(packet(101n, nowMs + 1_000))))._tag).toBe("InsufficientLiquidity")
      yield* handler(packet(100n, nowMs + 1_000))
      expect(terminal.calls).toHaveLength(2)
    }))

  it.effect("zero-amount packets pass even when the allowance is spent", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(makeMemory())(terminal.handler)
      yield* handler(packet(1_000n))
      yield* handler(packet(0n))
      expect(terminal.calls).toHaveLength(2)
    }))

  it.effect("no limit configured: any amount passes", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = throughputLimit(makeMemory())(terminal.handler)
      yield* handler(request({ prepare: { amount: (1n << 64n) - 1n } }))
      yield* handler(request({ prepare: { amount: (1n << 64n) - 1n } }))
      expect(terminal.calls).toHaveLength(2)
    }))
})
