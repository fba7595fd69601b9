/**
 * The strict OER codec against `ilp-packet` 3.1.3 as an independent reference: byte-for-byte equal
 * encodings, round trips of the reference's bytes, no throws on hostile bytes, and every invalid
 * boundary (type, truncation, envelope length, trailing bytes, timestamp, address, data size).
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as IlpPacket from "ilp-packet"
import {
  addressLengthMax,
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
  formatTimestamp,
  isDecodeFailure,
  isValidAddress,
  PacketType,
  parseTimestamp,
  type Prepare,
  type Reject,
  rejectMessageBytesMax,
  u64
} from "../../src/Connector/Packet.ts"
import { patternBytes } from "./bytes.ts"

// Deterministic runs: the same inputs every time (change the seed to explore further).
fc.configureGlobal({ seed: 0x11b, numRuns: 100 })

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
const buf = (bytes: Uint8Array): Buffer => Buffer.from(bytes)

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const u64Max = (1n << 64n) - 1n
const amountArb = fc.oneof(
  fc.constantFrom(0n, 1n, 255n, 256n, 1n << 32n, 1n << 63n, u64Max - 1n, u64Max),
  fc.bigInt({ min: 0n, max: u64Max })
)

// Years 1000..9999: `ilp-packet` does not zero-pad years below 1000, and JS `Date.UTC` maps years
// 0..99 to 1900..1999 (see the `it.fails` below), so the reference comparison stays in this range.
const expiresAtArb = fc.oneof(
  fc.constantFrom(
    Date.UTC(1000, 0, 1),
    Date.UTC(1970, 0, 1),
    Date.UTC(2024, 1, 29, 23, 59, 59, 999),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999)
  ),
  fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), noInvalidDate: true })
    .map((d) => d.getTime())
)

const bytes32Arb = fc.uint8Array({ minLength: 32, maxLength: 32 })

const schemeArb = fc.constantFrom("g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local")
const segmentArb = fc.stringMatching(/^[a-zA-Z0-9_~-]{1,24}$/)
const addressArb = fc.tuple(schemeArb, fc.array(segmentArb, { minLength: 1, maxLength: 8 }))
  .map(([scheme, segments]) => [scheme, ...segments].join("."))
  .filter((address) => address.length <= addressLengthMax)

/** Data of any size 0..32767, biased to the OER length-prefix boundaries and the maximum. */
const dataArb = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(0, 1, 127, 128, 255, 256, 65, 32766, dataBytesMax), fc.nat())
      .map(([length, seed]) => patternBytes(length, seed))
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 0, max: dataBytesMax }), fc.nat()).map(([length, seed]) => patternBytes(length, seed))
  }
)

const prepareArb: fc.Arbitrary<Prepare> = fc.record({
  amount: amountArb,
  expiresAt: expiresAtArb,
  executionCondition: bytes32Arb,
  destination: addressArb,
  data: dataArb
})

const fulfillArb: fc.Arbitrary<Fulfill> = fc.record({ fulfillment: bytes32Arb, data: dataArb })

const codeArb = fc.tuple(fc.constantFrom("F", "T", "R"), fc.stringMatching(/^[0-9A-Z]{2}$/)).map(([a, b]) => a + b)
const rejectArb: fc.Arbitrary<Reject> = fc.record({
  code: codeArb,
  triggeredBy: fc.oneof(addressArb, fc.constant("")),
  message: fc.oneof(fc.string({ unit: "grapheme", maxLength: 200 }), fc.stringMatching(/^[a-z ]{0,2000}$/)),
  data: dataArb
})

// ---------------------------------------------------------------------------------------------
// Reference conversions
// ---------------------------------------------------------------------------------------------

const refPrepare = (p: Prepare): IlpPacket.IlpPrepare => ({
  amount: p.amount.toString(),
  expiresAt: new Date(p.expiresAt),
  executionCondition: buf(p.executionCondition),
  destination: p.destination,
  data: buf(p.data)
})

const refFulfill = (f: Fulfill): IlpPacket.IlpFulfill => ({ fulfillment: buf(f.fulfillment), data: buf(f.data) })

const refReject = (r: Reject): IlpPacket.IlpReject => ({
  code: r.code,
  triggeredBy: r.triggeredBy,
  message: r.message,
  data: buf(r.data)
})

const expectSamePrepare = (actual: Prepare | unknown, expected: Prepare): void => {
  expect(isDecodeFailure(actual)).toBe(false)
  const p = actual as Prepare
  expect(p.amount).toBe(expected.amount)
  expect(p.expiresAt).toBe(expected.expiresAt)
  expect(hex(p.executionCondition)).toBe(hex(expected.executionCondition))
  expect(p.destination).toBe(expected.destination)
  expect(p.data.length).toBe(expected.data.length)
  expect(hex(p.data)).toBe(hex(expected.data))
}

const validPrepare = (overrides: Partial<Prepare> = {}): Prepare => ({
  amount: 1234n,
  expiresAt: Date.UTC(2030, 5, 15, 12, 30, 45, 678),
  executionCondition: patternBytes(32, 3),
  destination: "test.bob",
  data: new Uint8Array(0),
  ...overrides
})

/** Prepare bytes built by the reference codec (which does not validate destinations on write). */
const refPrepareBytes = (overrides: Partial<Prepare> = {}): Buffer => IlpPacket.serializeIlpPrepare(refPrepare(validPrepare(overrides)))

const expectFailure = (result: unknown): void => {
  expect(isDecodeFailure(result), `expected a DecodeFailure, got ${String(result)}`).toBe(true)
}

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

describe("Packet decoding boundaries", () => {
  const prepares = [
    refPrepareBytes(), // short-form envelope
    refPrepareBytes({ data: patternBytes(127) }), // long-form envelope, short-form data length
    refPrepareBytes({ data: patternBytes(128) }), // long-form data length (0x81)
    refPrepareBytes({ data: patternBytes(300) }) // two length bytes (0x82)
  ]

  it("every valid fixture decodes (control for the cases below)", () => {
    for (const bytes of prepares) expect(isDecodeFailure(decodePrepare(bytes))).toBe(false)
  })

  it("wrong type byte: every type other than 12 is refused by decodePrepare", () => {
    const bytes = Uint8Array.from(prepares[0]!)
    for (let type = 0; type < 256; type++) {
      bytes[0] = type
      const result = decodePrepare(bytes)
      expect(isDecodeFailure(result), `type ${type}`).toBe(type !== PacketType.Prepare)
    }
  })

  it("decodeReply refuses Prepares and unknown types, and decodeFulfill/decodeReject check their type", () => {
    expectFailure(decodeReply(prepares[0]!))
    expectFailure(decodeReply(new Uint8Array(0)))
    const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.alloc(0) })
    const reject = IlpPacket.serializeIlpReject({ code: "F02", triggeredBy: "test.x", message: "", data: Buffer.alloc(0) })
    expectFailure(decodeReject(fulfill))
    expectFailure(decodeFulfill(reject))
    for (let type = 0; type < 256; type++) {
      const bytes = Uint8Array.from(fulfill)
      bytes[0] = type
      expect(isDecodeFailure(decodeReply(bytes)), `type ${type}`).toBe(type !== PacketType.Fulfill)
    }
  })

  it("truncated at every prefix length of a valid Prepare", () => {
    for (const bytes of prepares) {
      for (let length = 0; length < bytes.length; length++) {
        expect(isDecodeFailure(decodePrepare(bytes.subarray(0, length))), `prefix ${length}/${bytes.length}`).toBe(true)
      }
    }
  })

  it("truncated at every prefix length of a valid Fulfill and Reject", () => {
    const replies = [
      IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32, 1), data: Buffer.from(patternBytes(130)) }),
      IlpPacket.serializeIlpReject({ code: "T04", triggeredBy: "test.c", message: "hi", data: Buffer.from(patternBytes(130)) })
    ]
    for (const bytes of replies) {
      expect(isDecodeFailure(decodeReply(bytes))).toBe(false)
      for (let length = 0; length < bytes.length; length++) {
        expect(isDecodeFailure(decodeReply(bytes.subarray(0, length))), `prefix ${length}/${bytes.length}`).toBe(true)
      }
    }
  })

  it("one trailing garbage byte after a valid packet", () => {
    for (const bytes of prepares) expectFailure(decodePrepare(Buffer.concat([bytes, Buffer.from([0])])))
    const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.alloc(3) })
    const reject = IlpPacket.serializeIlpReject({ code: "F02", triggeredBy: "test.x", message: "m", data: Buffer.alloc(0) })
    expectFailure(decodeReply(Buffer.concat([fulfill, Buffer.from([0])])))
    expectFailure(decodeReply(Buffer.concat([reject, Buffer.from([0xff])])))
  })

  it("trailing bytes inside the envelope (contents longer than their fields)", () => {
    const bytes = Buffer.concat([prepares[0]!, Buffer.from([0])])
    bytes[1] = bytes[1]! + 1 // the envelope now covers the extra byte
    expectFailure(decodePrepare(bytes))
  })

  it("envelope length longer or shorter than the buffer (short and long form)", () => {
    const short = Uint8Array.from(prepares[0]!)
    expect(short[1]).toBe(short.length - 2)
    for (const delta of [1, -1]) {
      const bytes = Uint8Array.from(short)
      bytes[1] = bytes[1]! + delta
      expectFailure(decodePrepare(bytes))
    }
    const long = Uint8Array.from(prepares[3]!)
    expect(long[1]).toBe(0x82)
    const declared = (long[2]! << 8) | long[3]!
    expect(declared).toBe(long.length - 4)
    for (const delta of [1, -1]) {
      const bytes = Uint8Array.from(long)
      bytes[2] = ((declared + delta) >> 8) & 0xff
      bytes[3] = (declared + delta) & 0xff
      expectFailure(decodePrepare(bytes))
    }
  })

  it("envelope length prefixes that are malformed (0x80, 4 length bytes)", () => {
    expectFailure(decodePrepare(Uint8Array.from([12, 0x80])))
    expectFailure(decodePrepare(Uint8Array.from([12, 0x84, 0, 0, 0, 1, 0])))
  })

  it("an inner length that runs past the envelope (destination, data)", () => {
    const bytes = Uint8Array.from(prepares[0]!)
    const destinationAt = 2 + 8 + 17 + 32
    expect(bytes[destinationAt]).toBe("test.bob".length)
    bytes[destinationAt] = 100
    expectFailure(decodePrepare(bytes))
    const data = Uint8Array.from(prepares[0]!)
    data[data.length - 1] = 1 // data length 1, but no byte follows
    expectFailure(decodePrepare(data))
  })

  describe("timestamps", () => {
    const timestampAt = 2 + 8
    const withTimestamp = (text: string): Uint8Array => {
      const bytes = Uint8Array.from(prepares[0]!)
      expect(text.length).toBe(17)
      bytes.set(Buffer.from(text, "latin1"), timestampAt)
      return bytes
    }

    it.each([
      ["non-digit", "2024010112000000a"],
      ["space", "2024 101120000000"],
      ["sign", "+0240101120000000"],
      ["month 13", "20241301000000000"],
      ["month 00", "20240001000000000"],
      ["day 00", "20240100000000000"],
      ["Feb 30", "20240230000000000"],
      ["Feb 29 in a common year", "20230229000000000"],
      ["April 31", "20240431000000000"],
      ["hour 24 (midnight is 00 of the next day)", "20171224240000000"],
      ["minute 60", "20240101126000000"],
      ["unsmeared leap second", "20161231235960852"],
      ["high byte", "2024010112000000\u00b9"]
    ])("invalid: %s", (_, text) => {
      expectFailure(decodePrepare(withTimestamp(text)))
      expect(parseTimestamp(text)).toBeUndefined()
    })

    it.each([
      ["leap day", "20240229000000000", Date.UTC(2024, 1, 29)],
      ["year 9999", "99991224161432279", Date.UTC(9999, 11, 24, 16, 14, 32, 279)],
      ["last millisecond of a day", "20171224235959999", Date.UTC(2017, 11, 24, 23, 59, 59, 999)],
      ["midnight", "20171225000000000", Date.UTC(2017, 11, 25)]
    ])("valid: %s", (_, text, epochMs) => {
      const result = decodePrepare(withTimestamp(text))
      expect(isDecodeFailure(result)).toBe(false)
      expect((result as Prepare).expiresAt).toBe(epochMs)
      expect(formatTimestamp(epochMs)).toBe(text)
    })

    // Both functions remember the last whole second: interleaved calls within one second and
    // across seconds must give exactly what a fresh computation gives.
    it("format and parse agree with a fresh computation, for times within and across seconds", () => {
      const minMs = Date.UTC(1000, 0, 1)
      const maxMs = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
      const reference = (epochMs: number) => new Date(epochMs).toISOString().replace(/[^0-9]/g, "")
      fc.assert(fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: minMs, max: maxMs }), fc.array(fc.integer({ min: -1500, max: 1500 }), { maxLength: 6 })),
          { minLength: 1, maxLength: 20 }
        ),
        (groups) => {
          for (const [base, offsets] of groups) {
            for (const epochMs of [base, ...offsets.map((offset) => base + offset)]) {
              if (epochMs < minMs || epochMs > maxMs) continue
              const text = formatTimestamp(epochMs)
              expect(text).toBe(reference(epochMs))
              expect(parseTimestamp(text)).toBe(epochMs)
            }
          }
        }
      ))
    })

    // formatTimestamp writes "0050…" for the year 50, but parseTimestamp goes through Date.UTC, which
    // maps two-digit years to 19xx, so the codec refuses its own encoding of a real instant.
    it("years 0000-0099 round-trip (Date.UTC maps them to 1900-1999)", () => {
      const year50 = new Date(0)
      year50.setUTCFullYear(50, 0, 1)
      const text = formatTimestamp(year50.getTime())
      expect(text).toBe("00500101000000000")
      expect(parseTimestamp(text)).toBe(year50.getTime())
    })
  })

  describe("addresses", () => {
    it.each([
      ["bad scheme", "foo.bar"],
      ["uppercase scheme", "TEST.bob"],
      ["scheme only", "test"],
      ["empty segment", "test..bob"],
      ["trailing dot", "test.bob."],
      ["leading dot", ".test.bob"],
      ["space", "test.bo b"],
      ["bad character", "test.bob!"],
      ["non-ascii", "test.b\u00f6b"],
      ["empty", ""],
      ["1024 characters", `test.${"a".repeat(1024 - 5)}`]
    ])("invalid destination: %s", (_, destination) => {
      expectFailure(decodePrepare(refPrepareBytes({ destination })))
    })

    it("1023 characters and every scheme are accepted", () => {
      const longest = `test.${"a".repeat(addressLengthMax - 5)}`
      expect(longest.length).toBe(1023)
      expectSamePrepare(decodePrepare(refPrepareBytes({ destination: longest })), validPrepare({ destination: longest }))
      for (const scheme of ["g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local"]) {
        const destination = `${scheme}.a-b_c~d.0`
        expectSamePrepare(decodePrepare(refPrepareBytes({ destination })), validPrepare({ destination }))
      }
    })

    it("Reject triggeredBy: empty is tolerated, invalid is refused", () => {
      const reject = (triggeredBy: string) =>
        decodeReject(IlpPacket.serializeIlpReject({ code: "F02", triggeredBy, message: "", data: Buffer.alloc(0) }))
      expect(reject("")).toMatchObject({ triggeredBy: "" })
      expectFailure(reject("nope"))
      expectFailure(reject("test..x"))
    })

    it("Reject code must be [FTR] and two digits or capitals", () => {
      for (const code of ["X01", "f01", "F0a", "T  "]) {
        expectFailure(decodeReject(IlpPacket.serializeIlpReject({ code, triggeredBy: "test.a", message: "", data: Buffer.alloc(0) })))
      }
    })
  })

  describe("data size", () => {
    it("32767 bytes are accepted, 32768 refused (Prepare, Fulfill, Reject)", () => {
      const max = Buffer.from(patternBytes(dataBytesMax))
      const over = Buffer.from(patternBytes(dataBytesMax + 1))
      expectSamePrepare(decodePrepare(refPrepareBytes({ data: max })), validPrepare({ data: max }))
      expectFailure(decodePrepare(refPrepareBytes({ data: over })))

      const fulfill = (data: Buffer) => decodeFulfill(IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data }))
      expect((fulfill(max) as Fulfill).data.length).toBe(dataBytesMax)
      expectFailure(fulfill(over))

      const reject = (data: Buffer) =>
        decodeReject(IlpPacket.serializeIlpReject({ code: "F99", triggeredBy: "test.a", message: "", data }))
      expect((reject(max) as Reject).data.length).toBe(dataBytesMax)
      expectFailure(reject(over))
    })
  })

  // RFC 30 (canonical OER): a length below 128 MUST use the short form and a long-form length MUST
  // NOT have leading zeros. `ilp-packet` (oer-utils) refuses both; our "strict" reader accepts both.
  it("non-canonical length prefixes are refused (RFC 30 canonical OER)", () => {
    const data = Buffer.from([1, 2, 3, 4, 5])
    const canonical = refPrepareBytes({ data })
    const head = canonical.subarray(0, canonical.length - data.length - 1)
    const withDataLength = (prefix: Array<number>): Buffer => {
      const bytes = Buffer.concat([head, Buffer.from(prefix), data])
      bytes[1] = bytes.length - 2
      return bytes
    }
    const longForm = withDataLength([0x81, 5])
    const leadingZero = withDataLength([0x82, 0, 5])
    expect(() => IlpPacket.deserializeIlpPrepare(longForm)).toThrow(/canonical/)
    expect(() => IlpPacket.deserializeIlpPrepare(leadingZero)).toThrow(/canonical/)
    expectFailure(decodePrepare(longForm))
    expectFailure(decodePrepare(leadingZero))
  })
})

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
