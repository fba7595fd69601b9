/** Stage 2: `expiresAt <= receivedAt` is R00 and goes no further. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { PacketRequest } from "../../../src/Connector/Stage.ts"
import { expiryOnArrival } from "../../../src/Connector/stages/ExpiryOnArrival.ts"
import { fulfill, nowMs, request, spy } from "../fixtures.ts"

const at = (expiresAt: number) => request({ prepare: { expiresAt }, receivedAt: nowMs })

describe("stages/ExpiryOnArrival", () => {
  it.effect("one millisecond left: passes to next unchanged", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const input = at(nowMs + 1)
      expect(yield* expiryOnArrival(terminal.handler)(input)).toBe(fulfill)
      expect(terminal.calls).toEqual([input])
      expect(terminal.calls[0]).toBe(input)
    }))

  it.effect.each([
    ["expiring exactly on arrival", nowMs],
    ["expired a millisecond ago", nowMs - 1],
    ["expired long ago", 0]
  ] as const)("%s → Expired, next not called", ([_, expiresAt]) =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const error = yield* Effect.flip(expiryOnArrival(terminal.handler)(at(expiresAt)))
      expect(error._tag).toBe("Expired")
      expect(terminal.calls).toHaveLength(0)
    }))
})
