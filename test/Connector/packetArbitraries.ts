/**
 * Shared by the packet codec tests: fast-check arbitraries of valid packets, the same packets as
 * `ilp-packet` (the independent reference) builds them, and assertions on decoded results.
 */
import { fc } from "@fast-check/vitest"
import { expect } from "vitest"
import * as IlpPacket from "ilp-packet"
import { addressLengthMax, dataBytesMax, type Fulfill, isDecodeFailure, type Prepare, type Reject } from "../../src/Connector/Packet.ts"
import { patternBytes } from "./bytes.ts"

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
export const buf = (bytes: Uint8Array): Buffer => Buffer.from(bytes)

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

export const u64Max = (1n << 64n) - 1n
export const amountArb = fc.oneof(
  fc.constantFrom(0n, 1n, 255n, 256n, 1n << 32n, 1n << 63n, u64Max - 1n, u64Max),
  fc.bigInt({ min: 0n, max: u64Max })
)

// Years 1000..9999: `ilp-packet` does not zero-pad years below 1000, and JS `Date.UTC` maps years
// 0..99 to 1900..1999 (see the `it.fails` below), so the reference comparison stays in this range.
export const expiresAtArb = fc.oneof(
  fc.constantFrom(
    Date.UTC(1000, 0, 1),
    Date.UTC(1970, 0, 1),
    Date.UTC(2024, 1, 29, 23, 59, 59, 999),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999)
  ),
  fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), noInvalidDate: true })
    .map((d) => d.getTime())
)

export const bytes32Arb = fc.uint8Array({ minLength: 32, maxLength: 32 })

export const schemeArb = fc.constantFrom("g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local")
export const segmentArb = fc.stringMatching(/^[a-zA-Z0-9_~-]{1,24}$/)
export const addressArb = fc.tuple(schemeArb, fc.array(segmentArb, { minLength: 1, maxLength: 8 }))
  .map(([scheme, segments]) => [scheme, ...segments].join("."))
  .filter((address) => address.length <= addressLengthMax)

/** Data of any size 0..32767, biased to the OER length-prefix boundaries and the maximum. */
export const dataArb = fc.oneof(
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

export const prepareArb: fc.Arbitrary<Prepare> = fc.record({
  amount: amountArb,
  expiresAt: expiresAtArb,
  executionCondition: bytes32Arb,
  destination: addressArb,
  data: dataArb
})

export const fulfillArb: fc.Arbitrary<Fulfill> = fc.record({ fulfillment: bytes32Arb, data: dataArb })

export const codeArb = fc.tuple(fc.constantFrom("F", "T", "R"), fc.stringMatching(/^[0-9A-Z]{2}$/)).map(([a, b]) => a + b)
export const rejectArb: fc.Arbitrary<Reject> = fc.record({
  code: codeArb,
  triggeredBy: fc.oneof(addressArb, fc.constant("")),
  message: fc.oneof(fc.string({ unit: "grapheme", maxLength: 200 }), fc.stringMatching(/^[a-z ]{0,2000}$/)),
  data: dataArb
})

// ---------------------------------------------------------------------------------------------
// Reference conversions
// ---------------------------------------------------------------------------------------------

export const refPrepare = (p: Prepare): IlpPacket.IlpPrepare => ({
  amount: p.amount.toString(),
  expiresAt: new Date(p.expiresAt),
  executionCondition: buf(p.executionCondition),
  destination: p.destination,
  data: buf(p.data)
})

export const refFulfill = (f: Fulfill): IlpPacket.IlpFulfill => ({ fulfillment: buf(f.fulfillment), data: buf(f.data) })

export const refReject = (r: Reject): IlpPacket.IlpReject => ({
  code: r.code,
  triggeredBy: r.triggeredBy,
  message: r.message,
  data: buf(r.data)
})

export const expectSamePrepare = (actual: Prepare | unknown, expected: Prepare): void => {
  expect(isDecodeFailure(actual)).toBe(false)
  const p = actual as Prepare
  expect(p.amount).toBe(expected.amount)
  expect(p.expiresAt).toBe(expected.expiresAt)
  expect(hex(p.executionCondition)).toBe(hex(expected.executionCondition))
  expect(p.destination).toBe(expected.destination)
  expect(p.data.length).toBe(expected.data.length)
  expect(hex(p.data)).toBe(hex(expected.data))
}

export const validPrepare = (overrides: Partial<Prepare> = {}): Prepare => ({
  amount: 1234n,
  expiresAt: Date.UTC(2030, 5, 15, 12, 30, 45, 678),
  executionCondition: patternBytes(32, 3),
  destination: "test.bob",
  data: new Uint8Array(0),
  ...overrides
})

/** Prepare bytes built by the reference codec (which does not validate destinations on write). */
export const refPrepareBytes = (overrides: Partial<Prepare> = {}): Buffer => IlpPacket.serializeIlpPrepare(refPrepare(validPrepare(overrides)))

export const expectFailure = (result: unknown): void => {
  expect(isDecodeFailure(result), `expected a DecodeFailure, got ${String(result)}`).toBe(true)
}
