/**
 * The strict OER codec at every invalid boundary, against `ilp-packet` 3.1.3 where it has an
 * opinion: type byte, truncation, envelope length, trailing bytes, timestamps, addresses, data size,
 * canonical length prefixes. (Properties and hostile bytes: Packet.test.ts.)
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as IlpPacket from "ilp-packet"
import {
  addressLengthMax,
  dataBytesMax,
  decodeFulfill,
  decodePrepare,
  decodeReject,
  decodeReply,
  type Fulfill,
  formatTimestamp,
  isDecodeFailure,
  PacketType,
  parseTimestamp,
  type Prepare,
  type Reject
} from "../../src/Connector/Packet.ts"
import { patternBytes } from "./bytes.ts"
import { expectFailure, expectSamePrepare, refPrepareBytes, validPrepare } from "./packetArbitraries.ts"

// Deterministic runs: the same inputs every time (change the seed to explore further).
fc.configureGlobal({ seed: 0x11b, numRuns: 100 })

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
