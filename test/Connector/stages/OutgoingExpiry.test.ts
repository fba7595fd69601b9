/**
 * Stage 12: next hop's expiry = min(expiresAt − window, now + maxHold); below now + window is R02.
 * Local delivery keeps the packet's expiry and only refuses an expired packet (R00).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import type { Priced, Timed } from "../../../src/Connector/Stage.ts"
import { outgoingExpiry, outgoingExpiryAt } from "../../../src/Connector/stages/OutgoingExpiry.ts"
import { fulfill, nowMs, priced, request, routedLocal, routedToPeer, spy } from "../fixtures.ts"

const settings = { minMessageWindowMs: 1_000, maxHoldTimeMs: 30_000 }

const toPeer = (expiresAt: number): Priced => priced(routedToPeer(request({ prepare: { expiresAt } })))
const toLocal = (expiresAt: number): Priced => priced(routedLocal(request({ prepare: { expiresAt } })))

const forwarded = (input: Priced) =>
  Effect.gen(function*() {
    const terminal = spy<Timed>()
    expect(yield* outgoingExpiry(settings)(terminal.handler)(input)).toBe(fulfill)
    expect(terminal.calls).toHaveLength(1)
    expect(terminal.calls[0]!.prepare).toBe(input.prepare)
    expect(terminal.calls[0]!.destinationAmount).toBe(input.destinationAmount)
    return terminal.calls[0]!.outgoingExpiresAt
  })

const refused = (input: Priced) =>
  Effect.gen(function*() {
    const terminal = spy<Timed>()
    const error = yield* Effect.flip(outgoingExpiry(settings)(terminal.handler)(input))
    expect(terminal.calls).toHaveLength(0)
    return error._tag
  })

describe("stages/OutgoingExpiry", () => {
  it("outgoingExpiryAt is min(expiresAt − window, now + maxHold)", () => {
    expect(outgoingExpiryAt(nowMs + 10_000, nowMs, settings)).toBe(nowMs + 9_000)
    expect(outgoingExpiryAt(nowMs + 31_000, nowMs, settings)).toBe(nowMs + 30_000)
    expect(outgoingExpiryAt(nowMs + 60_000, nowMs, settings)).toBe(nowMs + 30_000)
  })

  it.effect("to a peer: the packet's expiry less the window", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      expect(yield* forwarded(toPeer(nowMs + 10_000))).toBe(nowMs + 9_000)
    }))

  it.effect("to a peer: held at most maxHoldTime from now", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      expect(yield* forwarded(toPeer(nowMs + 3_600_000))).toBe(nowMs + 30_000)
    }))

  it.effect("R02 boundary: exactly now + window passes, one millisecond less is InsufficientTimeout", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      expect(yield* forwarded(toPeer(nowMs + 2_000))).toBe(nowMs + 1_000)
      expect(yield* refused(toPeer(nowMs + 1_999))).toBe("InsufficientTimeout")
      expect(yield* refused(toPeer(nowMs))).toBe("InsufficientTimeout")
    }))

  it.effect("reads the clock at this stage, not the arrival time", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      const input = toPeer(nowMs + 5_000)
      expect(input.receivedAt).toBe(nowMs)
      yield* TestClock.adjust("3001 millis")
      expect(yield* refused(input)).toBe("InsufficientTimeout")
    }))

  it.effect("local delivery keeps the packet's own expiry, even with little time left", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      expect(yield* forwarded(toLocal(nowMs + 1))).toBe(nowMs + 1)
      expect(yield* forwarded(toLocal(nowMs + 3_600_000))).toBe(nowMs + 3_600_000)
    }))

  it.effect("local delivery of an expired packet is Expired (R00), boundary included", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      expect(yield* refused(toLocal(nowMs))).toBe("Expired")
      expect(yield* refused(toLocal(nowMs - 1))).toBe("Expired")
    }))
})
