/** Stage 1: bytes → Prepare; anything else is F01 and goes no further. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { RateLimited } from "../../../src/Connector/IlpErrors.ts"
import { encodePrepare, encodeFulfill } from "../../../src/Connector/Packet.ts"
import type { IncomingPacket, PacketRequest } from "../../../src/Connector/Stage.ts"
import { decode } from "../../../src/Connector/stages/Decode.ts"
import { account, fulfill, nowMs, prepare, spy } from "../fixtures.ts"

const incoming = (bytes: Uint8Array, unfulfillable = false): IncomingPacket => ({ bytes, source: account(), unfulfillable })

describe("stages/Decode", () => {
  it.effect("a valid Prepare reaches next, with its source, flag and the clock's arrival time", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      const terminal = spy<PacketRequest>()
      const packet = prepare({ amount: 42n, data: new Uint8Array([5, 6]) })
      const source = account({ id: "zed" })
      const result = yield* decode(terminal.handler)({ bytes: encodePrepare(packet), source, unfulfillable: true })
      expect(result).toBe(fulfill)
      expect(terminal.calls).toHaveLength(1)
      const call = terminal.calls[0]!
      expect(call.source).toBe(source)
      expect(call.unfulfillable).toBe(true)
      expect(call.receivedAt).toBe(nowMs)
      expect(call.prepare.amount).toBe(42n)
      expect(call.prepare.expiresAt).toBe(packet.expiresAt)
      expect(call.prepare.destination).toBe(packet.destination)
      expect(Array.from(call.prepare.data)).toEqual([5, 6])
    }))

  it.effect("receivedAt follows the clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(nowMs)
      yield* TestClock.adjust("1500 millis")
      const terminal = spy<PacketRequest>()
      yield* decode(terminal.handler)(incoming(encodePrepare(prepare())))
      expect(terminal.calls[0]!.receivedAt).toBe(nowMs + 1_500)
    }))

  it.effect.each([
    ["empty", new Uint8Array(0)],
    ["a Fulfill", encodeFulfill(fulfill)],
    ["truncated", encodePrepare(prepare()).subarray(0, 40)],
    ["trailing garbage", Uint8Array.from([...encodePrepare(prepare()), 0])]
  ] as const)("%s → InvalidPacket, next not called", ([_, bytes]) =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const error = yield* Effect.flip(decode(terminal.handler)(incoming(bytes)))
      expect(error._tag).toBe("InvalidPacket")
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("failures of later stages pass through unchanged", () =>
    Effect.gen(function*() {
      const failure = new RateLimited({ reason: "later" })
      const terminal = spy<PacketRequest>(() => Effect.fail(failure))
      const error = yield* Effect.flip(decode(terminal.handler)(incoming(encodePrepare(prepare()))))
      expect(error).toBe(failure)
      expect(terminal.calls).toHaveLength(1)
    }))
})
