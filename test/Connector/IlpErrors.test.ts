/**
 * `toReject`: every tagged error becomes the Reject with the code SPEC §3 gives it, triggered by our
 * address; F08 carries its RFC 27 data; a peer's Reject passes through untouched; internal details
 * never reach the wire.
 */
import { describe, expect, it } from "@effect/vitest"
import * as IlpPacket from "ilp-packet"
import {
  AmountTooLarge,
  AmountTooSmall,
  ApplicationRefused,
  codeByTag,
  Expired,
  InsufficientLiquidity,
  InsufficientTimeout,
  InternalError,
  internalErrorReject,
  InvalidPacket,
  type IlpError,
  PeerRejected,
  PeerUnreachable,
  RateLimited,
  RateUnavailable,
  toReject,
  Unreachable,
  WrongCondition
} from "../../src/Connector/IlpErrors.ts"
import { decodeReject, encodeReject, isDecodeFailure, type Reject } from "../../src/Connector/Packet.ts"
import { ourAddress } from "./fixtures.ts"

type CodedTag = keyof typeof codeByTag

/** One instance per tag; the mapped type makes this a compile error when a tag is added. */
const samples: { readonly [Tag in CodedTag]: Extract<IlpError, { readonly _tag: Tag }> } = {
  InvalidPacket: new InvalidPacket({ reason: "bad bytes" }),
  Unreachable: new Unreachable({ reason: "no route to test.nowhere" }),
  AmountTooLarge: new AmountTooLarge({ received: 1001n, maximum: 1000n }),
  WrongCondition: new WrongCondition({ reason: "fulfillment does not match" }),
  RateUnavailable: new RateUnavailable({ reason: "no rate USD→XYZ" }),
  ApplicationRefused: new ApplicationRefused({ reason: "stream says no", data: new Uint8Array([1, 2, 3]) }),
  Expired: new Expired({ reason: "expired" }),
  AmountTooSmall: new AmountTooSmall({ reason: "converts to zero" }),
  InsufficientTimeout: new InsufficientTimeout({ reason: "too little time" }),
  InternalError: new InternalError({ reason: "db password hunter2 rejected at 10.0.0.7" }),
  PeerUnreachable: new PeerUnreachable({ reason: "ECONNREFUSED" }),
  InsufficientLiquidity: new InsufficientLiquidity({ reason: "short" }),
  RateLimited: new RateLimited({ reason: "slow down" })
}

/** SPEC §3, written out independently of `codeByTag`. */
const specCodes: Readonly<Record<CodedTag, string>> = {
  InvalidPacket: "F01",
  Unreachable: "F02",
  WrongCondition: "F05",
  RateUnavailable: "F07",
  AmountTooLarge: "F08",
  ApplicationRefused: "F99",
  Expired: "R00",
  AmountTooSmall: "R01",
  InsufficientTimeout: "R02",
  InternalError: "T00",
  PeerUnreachable: "T01",
  InsufficientLiquidity: "T04",
  RateLimited: "T05"
}

const tags = Object.keys(samples) as Array<CodedTag>

describe("IlpErrors.toReject", () => {
  it("codeByTag agrees with the SPEC table and covers every tag", () => {
    expect(codeByTag).toEqual(specCodes)
    expect(tags.sort()).toEqual(Object.keys(codeByTag).sort())
  })

  it.each(tags)("%s → its code, triggered by our address, with a non-empty message", (tag) => {
    const reject = toReject(samples[tag], ourAddress)
    expect(reject.code).toBe(specCodes[tag])
    expect(reject.code).toBe(codeByTag[tag])
    expect(reject.triggeredBy).toBe(ourAddress)
    expect(reject.message.length).toBeGreaterThan(0)
  })

  it.each(tags)("%s → a Reject that encodes and that ilp-packet decodes", (tag) => {
    const bytes = encodeReject(toReject(samples[tag], ourAddress))
    const ref = IlpPacket.deserializeIlpReject(Buffer.from(bytes))
    expect(ref.code).toBe(specCodes[tag])
    expect(ref.triggeredBy).toBe(ourAddress)
    expect(isDecodeFailure(decodeReject(bytes))).toBe(false)
  })

  it("F08 data is UInt64 received ‖ UInt64 maximum", () => {
    const reject = toReject(new AmountTooLarge({ received: 123_456_789_012n, maximum: 1_000n }), ourAddress)
    expect(reject.data.length).toBe(16)
    const view = new DataView(reject.data.buffer, reject.data.byteOffset, reject.data.byteLength)
    expect(view.getBigUint64(0)).toBe(123_456_789_012n)
    expect(view.getBigUint64(8)).toBe(1_000n)
    expect(reject.message).toContain("123456789012")
  })

  it("F08 data at the u64 extremes", () => {
    const max = (1n << 64n) - 1n
    const reject = toReject(new AmountTooLarge({ received: max, maximum: 0n }), ourAddress)
    expect(Buffer.from(reject.data).toString("hex")).toBe("ffffffffffffffff0000000000000000")
  })

  it("F99 carries the receiver's data; every other code but F08 carries none", () => {
    expect(Array.from(toReject(samples.ApplicationRefused, ourAddress).data)).toEqual([1, 2, 3])
    for (const tag of tags) {
      if (tag === "ApplicationRefused" || tag === "AmountTooLarge") continue
      expect(toReject(samples[tag], ourAddress).data.length, tag).toBe(0)
    }
  })

  it("a reason reaches the message (except for internal errors)", () => {
    expect(toReject(samples.Unreachable, ourAddress).message).toContain("test.nowhere")
  })

  it("an empty reason falls back to the RFC 27 name of the code", () => {
    expect(toReject(new Unreachable({ reason: "" }), ourAddress).message).toBe("unreachable")
    expect(toReject(new RateLimited({ reason: "" }), ourAddress).message).toBe("rate limited")
  })

  it("PeerRejected passes the peer's reject through unchanged (the same object)", () => {
    const peerReject: Reject = { code: "F99", triggeredBy: "test.far.away", message: "their words", data: new Uint8Array([7]) }
    const reject = toReject(new PeerRejected({ reject: peerReject }), ourAddress)
    expect(reject).toBe(peerReject)
    expect(reject).toEqual({ code: "F99", triggeredBy: "test.far.away", message: "their words", data: new Uint8Array([7]) })
  })

  it("InternalError's message carries no details", () => {
    const reject = toReject(samples.InternalError, ourAddress)
    expect(reject.code).toBe("T00")
    expect(reject.message).toBe("unexpected internal error")
    expect(reject.message).not.toContain("hunter2")
    expect(reject.message).not.toContain("10.0.0.7")
    expect(reject.data.length).toBe(0)
    expect(internalErrorReject(ourAddress)).toEqual(reject)
  })
})
