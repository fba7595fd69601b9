/** How an unfulfillable probe's reject is handed to Pay (`probeReply`), and which codes end a payment. */
import { describe, expect, it } from "vitest"
import { decodeReject, encodeFulfill, encodeReject, isDecodeFailure } from "../../src/Connector/Packet.ts"
import { endsPayment, probeReply } from "../../src/Payments/Pay.ts"

const reject = (code: string, data: Uint8Array) => encodeReject({ code, message: "wrong condition", triggeredBy: "test.r", data })

describe("Pay.probeReply", () => {
  it("an F05 carrying STREAM data becomes F99 with the message, triggeredBy and data unchanged", () => {
    const data = new Uint8Array([1, 2, 3, 4])
    const out = decodeReject(probeReply(reject("F05", data)))
    expect(isDecodeFailure(out)).toBe(false)
    if (isDecodeFailure(out)) return
    expect({ ...out, data: [...out.data] }).toEqual({ code: "F99", message: "wrong condition", triggeredBy: "test.r", data: [...data] })
    expect(endsPayment("F05")).toBe(true)
    expect(endsPayment("F99")).toBe(false)
  })

  it("leaves an F05 without data, other codes and fulfills alone", () => {
    const bare = reject("F05", new Uint8Array(0))
    expect(probeReply(bare)).toBe(bare)
    const f02 = reject("F02", new Uint8Array([1]))
    expect(probeReply(f02)).toBe(f02)
    const fulfill = encodeFulfill({ fulfillment: new Uint8Array(32), data: new Uint8Array(0) })
    expect(probeReply(fulfill)).toBe(fulfill)
  })
})
