/**
 * The strict OER codec against `ilp-packet` 3.1.3 as an independent reference: byte-for-byte equal
 * encodings, round trips of the reference's bytes, no throws on hostile bytes, and the encoder's own
 * rules. Every invalid boundary (type, truncation, envelope length, trailing bytes, timestamp,
 * address, data size) is in PacketBoundaries.test.ts; the shared arbitraries in packetArbitraries.ts.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as IlpPacket from "ilp-packet"
import {
  amountTooLargeData,
  dataBytesMax,
  decodeFulfill,
  decodePrepare,
  decodeReject,
  decodeReply,
  encodeFulfill,
  encodePrepare,
  encodeReject,
  type Fulfill,
  isDecodeFailure,
  isValidAddress,
  PacketType,
  type Reject,
  rejectMessageBytesMax,
  u64
} from "../../src/Connector/Packet.ts"

// Deterministic runs: the same inputs every time (change the seed to explore further).
fc.configureGlobal({ seed: 0x11b, numRuns: 100 })

import { buf, expectSamePrepare, fulfillArb, hex, prepareArb, refFulfill, refPrepare, refReject, rejectArb, u64Max, validPrepare } from "./packetArbitraries.ts"


// ---------------------------------------------------------------------------------------------
// Properties against the reference
// ---------------------------------------------------------------------------------------------

describe("Packet codec vs ilp-packet", () => {
  test.prop([prepareArb])("encodePrepare equals serializeIlpPrepare byte for byte", (p) => {
    expect(hex(encodePrepare(p))).toBe(hex(IlpPacket.serializeIlpPrepare(refPrepare(p))))
  })

  test.prop([prepareArb])("decodePrepare round-trips the reference's bytes", (p) => {
    expectSamePrepare(decodePrepare(IlpPacket.serializeIlpPrepare(refPrepare(p))), p)
  })

  // (The reference refuses the instant 0 — `if (!date.valueOf())` — so that one value is left out here.)
  test.prop([prepareArb.filter((p) => p.expiresAt !== 0)])("the reference decodes our bytes to the same packet", (p) => {
    const ref = IlpPacket.deserializeIlpPrepare(buf(encodePrepare(p)))
    expect(ref.amount).toBe(p.amount.toString())
    expect(ref.expiresAt.getTime()).toBe(p.expiresAt)
    expect(ref.destination).toBe(p.destination)
    expect(hex(ref.executionCondition)).toBe(hex(p.executionCondition))
    expect(hex(ref.data)).toBe(hex(p.data))
  })

  test.prop([fulfillArb])("encodeFulfill equals serializeIlpFulfill; decodeFulfill round-trips", (f) => {
    const reference = IlpPacket.serializeIlpFulfill(refFulfill(f))
    expect(hex(encodeFulfill(f))).toBe(hex(reference))
    const decoded = decodeFulfill(reference)
    expect(isDecodeFailure(decoded)).toBe(false)
    expect(hex((decoded as Fulfill).fulfillment)).toBe(hex(f.fulfillment))
    expect(hex((decoded as Fulfill).data)).toBe(hex(f.data))
  })

  test.prop([rejectArb])("encodeReject equals serializeIlpReject; decodeReject round-trips", (r) => {
    const reference = IlpPacket.serializeIlpReject(refReject(r))
    expect(hex(encodeReject(r))).toBe(hex(reference))
    const decoded = decodeReject(reference)
    expect(decoded).toEqual({ code: r.code, triggeredBy: r.triggeredBy, message: r.message, data: expect.anything() })
    expect(hex((decoded as Reject).data)).toBe(hex(r.data))
  })

  test.prop([fc.oneof(fulfillArb.map((f) => ({ f })), rejectArb.map((r) => ({ r })))])(
    "decodeReply tells a Fulfill from a Reject",
    (reply) => {
      if ("f" in reply) {
        const decoded = decodeReply(IlpPacket.serializeIlpFulfill(refFulfill(reply.f)))
        expect(isDecodeFailure(decoded)).toBe(false)
        expect((decoded as { type: number }).type).toBe(PacketType.Fulfill)
      } else {
        const decoded = decodeReply(IlpPacket.serializeIlpReject(refReject(reply.r)))
        expect(isDecodeFailure(decoded)).toBe(false)
        expect(decoded).toMatchObject({ type: PacketType.Reject, reject: { code: reply.r.code, message: reply.r.message } })
      }
    }
  )
})

// ---------------------------------------------------------------------------------------------
// Hostile bytes
// ---------------------------------------------------------------------------------------------

/** Valid packets with a few bytes overwritten, truncated or extended: close to valid, so deep paths run. */
const mutatedArb = (base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> =>
  fc.tuple(
    base,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.option(fc.nat()),
    fc.uint8Array({ maxLength: 3 })
  ).map(([bytes, edits, cut, extra]) => {
    const copy = Uint8Array.from(bytes)
    for (const [at, value] of edits) copy[at % copy.length] = value
    const cutAt = cut === null ? copy.length : cut % (copy.length + 1)
    return Uint8Array.from([...copy.subarray(0, cutAt), ...extra])
  })

const smallPrepareArb = prepareArb.map((p) => ({ ...p, data: p.data.subarray(0, 200) }))
const hostileArb = fc.oneof(
  fc.uint8Array({ maxLength: 400 }),
  fc.tuple(fc.constantFrom(12, 13, 14), fc.uint8Array({ maxLength: 400 })).map(([t, rest]) => Uint8Array.from([t, ...rest])),
  mutatedArb(smallPrepareArb.map(encodePrepare)),
  mutatedArb(fulfillArb.map((f) => encodeFulfill({ ...f, data: f.data.subarray(0, 200) }))),
  mutatedArb(rejectArb.map((r) => encodeReject({ ...r, data: r.data.subarray(0, 200) })))
)

describe("Packet decoding of arbitrary bytes", () => {
  test.prop([hostileArb], { numRuns: 1000 })("decodePrepare never throws: a Prepare or a DecodeFailure", (bytes) => {
    const result = decodePrepare(bytes)
    if (isDecodeFailure(result)) {
      expect(typeof result.reason).toBe("string")
    } else {
      expect(typeof result.amount).toBe("bigint")
      expect(result.amount <= u64.max).toBe(true)
      expect(Number.isFinite(result.expiresAt)).toBe(true)
      expect(result.executionCondition.length).toBe(32)
      expect(isValidAddress(result.destination)).toBe(true)
      expect(result.data.length).toBeLessThanOrEqual(dataBytesMax)
    }
  })

  test.prop([hostileArb], { numRuns: 1000 })("decodeReply never throws: a Fulfill, a Reject or a DecodeFailure", (bytes) => {
    const result = decodeReply(bytes)
    if (isDecodeFailure(result)) return
    if (result.type === PacketType.Fulfill) {
      expect(result.fulfill.fulfillment.length).toBe(32)
    } else {
      expect(result.type).toBe(PacketType.Reject)
      expect(result.reject.code).toMatch(/^[FTR][0-9A-Z]{2}$/)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Boundaries: each invalid case is a DecodeFailure, the valid side of each boundary decodes
// ---------------------------------------------------------------------------------------------


describe("Packet encoding", () => {
  it("amountTooLargeData is UInt64 received ‖ UInt64 maximum, big-endian", () => {
    const data = amountTooLargeData(0x0102030405060708n, 0x1112131415161718n)
    expect(hex(data)).toBe("0102030405060708" + "1112131415161718")
    expect(hex(amountTooLargeData(0n, u64Max))).toBe("0000000000000000ffffffffffffffff")
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
    expect(data.length).toBe(16)
    expect(view.getBigUint64(0)).toBe(0x0102030405060708n)
    expect(view.getBigUint64(8)).toBe(0x1112131415161718n)
  })

  it("amountTooLargeData clamps values beyond u64 to 2^64-1", () => {
    expect(hex(amountTooLargeData(u64Max + 5n, 1n))).toBe("ffffffffffffffff0000000000000001")
  })

  it("refuses to encode what is not a packet (programmer errors throw)", () => {
    expect(() => encodePrepare(validPrepare({ amount: -1n }))).toThrow(RangeError)
    expect(() => encodePrepare(validPrepare({ amount: u64Max + 1n }))).toThrow(RangeError)
    expect(() => encodePrepare(validPrepare({ executionCondition: new Uint8Array(31) }))).toThrow(RangeError)
    expect(() => encodeFulfill({ fulfillment: new Uint8Array(33), data: new Uint8Array(0) })).toThrow(RangeError)
  })

  it("reject messages are truncated to rejectMessageBytesMax bytes", () => {
    const encoded = encodeReject({ code: "F99", triggeredBy: "test.a", message: "x".repeat(rejectMessageBytesMax + 100), data: new Uint8Array(0) })
    const decoded = decodeReject(encoded) as Reject
    expect(decoded.message).toBe("x".repeat(rejectMessageBytesMax))
  })

  // The cut is at a byte offset, so a multi-byte character straddling byte 8192 is split and the
  // wire carries invalid UTF-8 (RFC 30: strings MUST be UTF-8); e.g. a long peer message passed back.
  it("truncating a reject message never splits a UTF-8 character", () => {
    const message = "\u20ac".repeat(3_000) // 3 bytes each: byte 8192 falls inside a character
    const encoded = encodeReject({ code: "F99", triggeredBy: "test.a", message, data: new Uint8Array(0) })
    const decoded = decodeReject(encoded) as Reject
    expect(decoded.message).not.toContain("\ufffd")
    expect(decoded.message).toBe("\u20ac".repeat(Math.floor(rejectMessageBytesMax / 3)))
  })
})
