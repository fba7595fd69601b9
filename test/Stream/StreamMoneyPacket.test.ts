/**
 * `readMoneyPacket` against the library's `Packet._deserializeUnencrypted`: the same type, sequence
 * and amount whenever it answers, and it answers only for what the library reads without throwing
 * (StreamMoney frames only); everything else is left to the library.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  ConnectionNewAddressFrame,
  FrameType,
  Packet,
  StreamMaxMoneyFrame,
  StreamMoneyFrame
} from "ilp-protocol-stream/dist/src/packet.js"
import Long from "long"
import { readMoneyPacket } from "../../src/Stream/StreamMoneyPacket.ts"

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
const long = (value: bigint) => Long.fromString(value.toString(), true)

const moneyPacket = fc.record({
  type: fc.constantFrom(12, 13, 14, 0, 255),
  sequence: u64,
  amount: u64,
  frames: fc.array(fc.record({ streamId: u64, shares: u64 }), { maxLength: 5 })
}).map(({ type, sequence, amount, frames }) =>
  ({
    type,
    sequence,
    amount,
    bytes: new Packet(long(sequence), type as never, long(amount), frames.map((f) => new StreamMoneyFrame(long(f.streamId), long(f.shares))))
      ._serialize()
  })
)

/** The library's reading, or "throws". */
const library = (bytes: Buffer) => {
  try {
    const packet = Packet._deserializeUnencrypted(bytes)
    return {
      type: +packet.ilpPacketType,
      sequence: BigInt(packet.sequence.toString()),
      amount: BigInt(packet.prepareAmount.toString()),
      moneyOnly: packet.frames.every((frame) => frame.type === FrameType.StreamMoney)
    }
  } catch {
    return "throws" as const
  }
}

/** Whenever `readMoneyPacket` answers, the library reads the same (and StreamMoney frames only). */
const agrees = (bytes: Buffer): boolean => {
  const fast = readMoneyPacket(bytes)
  if (fast === undefined) return true
  const slow = library(bytes)
  return slow !== "throws" && slow.moneyOnly && slow.type === fast.type && slow.sequence === fast.sequence &&
    slow.amount === fast.amount
}

describe("readMoneyPacket", () => {
  it("reads every packet of StreamMoney frames as the library does", () => {
    fc.assert(fc.property(moneyPacket, ({ type, sequence, amount, bytes }) => {
      expect(readMoneyPacket(bytes)).toEqual({ type, sequence, amount })
      expect(agrees(bytes)).toBe(true)
    }), { numRuns: 2_000 })
  })

  it("leaves packets with any other frame to the library", () => {
    const withOthers = [
      new Packet(1, 12 as never, 10, [new StreamMoneyFrame(1, 1), new ConnectionNewAddressFrame("test.x")]),
      new Packet(1, 12 as never, 10, [new StreamMaxMoneyFrame(1, 10, 0)])
    ]
    for (const packet of withOthers) expect(readMoneyPacket(packet._serialize())).toBeUndefined()
  })

  it("never answers for bytes the library refuses, nor differently: truncated, mutated and random packets", () => {
    fc.assert(fc.property(moneyPacket, fc.nat(), fc.nat(255), fc.nat(), ({ bytes }, at, value, cut) => {
      const mutated = Buffer.from(bytes)
      mutated[at % mutated.length] = value
      expect(agrees(mutated)).toBe(true)
      expect(agrees(bytes.subarray(0, cut % (bytes.length + 1)))).toBe(true)
      // Trailing bytes are ignored by both.
      expect(agrees(Buffer.concat([bytes, Buffer.from([value])]))).toBe(true)
    }), { numRuns: 5_000 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (random) => {
      expect(agrees(Buffer.from(random))).toBe(true)
    }), { numRuns: 5_000 })
  })

  it("boundaries: empty, wrong version, zero-length and 9-byte integers, long-form length prefixes", () => {
    const valid = new Packet(5, 12 as never, 7, [new StreamMoneyFrame(1, 2)])._serialize()
    expect(readMoneyPacket(valid)).toEqual({ type: 12, sequence: 5n, amount: 7n })
    expect(readMoneyPacket(Buffer.alloc(0))).toBeUndefined()
    expect(readMoneyPacket(Buffer.from([2, ...valid.subarray(1)]))).toBeUndefined()
    // A zero-length sequence (the library throws "UInt of length 0").
    expect(readMoneyPacket(Buffer.from([1, 12, 0, 1, 7, 1, 0]))).toBeUndefined()
    expect(library(Buffer.from([1, 12, 0, 1, 7, 1, 0]))).toBe("throws")
    // A 9-byte sequence (the library throws "too large").
    const nine = Buffer.from([1, 12, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 7, 1, 0])
    expect(readMoneyPacket(nine)).toBeUndefined()
    expect(library(nine)).toBe("throws")
    // A long-form length prefix is left to the library (which reads it when canonical).
    const longForm = Buffer.from([1, 12, 0x81, 1, 5, 1, 7, 1, 0])
    expect(readMoneyPacket(longForm)).toBeUndefined()
    // A frame count of 0 bytes or 7 bytes.
    expect(readMoneyPacket(Buffer.from([1, 12, 1, 5, 1, 7, 0]))).toBeUndefined()
    expect(readMoneyPacket(Buffer.from([1, 12, 1, 5, 1, 7, 7, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined()
    // No frames at all.
    expect(readMoneyPacket(Buffer.from([1, 12, 1, 5, 1, 7, 1, 0]))).toEqual({ type: 12, sequence: 5n, amount: 7n })
  })
})
