/** Stage 3: amount above the source's maxPacketAmount is F08 with both amounts. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { toReject } from "../../../src/Connector/IlpErrors.ts"
import type { PacketRequest } from "../../../src/Connector/Stage.ts"
import { maxPacketAmount } from "../../../src/Connector/stages/MaxPacketAmount.ts"
import { fulfill, ourAddress, request, spy } from "../fixtures.ts"

const u64Max = (1n << 64n) - 1n
const packet = (amount: bigint, max: bigint | undefined) =>
  request({ prepare: { amount }, source: { maxPacketAmount: max } })

describe("stages/MaxPacketAmount", () => {
  it.effect.each([
    ["amount equal to the maximum", 1_000n, 1_000n],
    ["amount below the maximum", 999n, 1_000n],
    ["zero with a zero maximum", 0n, 0n],
    ["u64 max with no maximum configured", u64Max, undefined],
    ["u64 max with a u64 max maximum", u64Max, u64Max]
  ] as const)("%s passes to next", ([_, amount, max]) =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const input = packet(amount, max)
      expect(yield* maxPacketAmount(terminal.handler)(input)).toBe(fulfill)
      expect(terminal.calls).toHaveLength(1)
      expect(terminal.calls[0]).toBe(input)
    }))

  it.effect.each([
    ["one above the maximum", 1_001n, 1_000n],
    ["anything above a zero maximum", 1n, 0n],
    ["u64 max above a small maximum", u64Max, 5n]
  ] as const)("%s → AmountTooLarge with received and maximum, next not called", ([_, amount, max]) =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const error = yield* Effect.flip(maxPacketAmount(terminal.handler)(packet(amount, max)))
      expect(error._tag).toBe("AmountTooLarge")
      expect(error).toMatchObject({ received: amount, maximum: max })
      expect(terminal.calls).toHaveLength(0)
      const reject = toReject(error, ourAddress)
      expect(reject.code).toBe("F08")
      const view = new DataView(reject.data.buffer, reject.data.byteOffset, reject.data.byteLength)
      expect(view.getBigUint64(0)).toBe(amount)
      expect(view.getBigUint64(8)).toBe(max)
    }))
})
