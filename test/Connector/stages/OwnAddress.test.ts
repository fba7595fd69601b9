/**
 * Stage 6: ILDCP (`peer.config`) answered from the source account; echo requests to our address
 * rewritten into echo responses to the return address; malformed requests are F01.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as IlpPacket from "ilp-packet"
import * as Ildcp from "ilp-protocol-ildcp"
import { encodeFulfill, type Fulfill, sha256 } from "../../../src/Connector/Packet.ts"
import type { PacketRequest } from "../../../src/Connector/Stage.ts"
import { encodeIldcpResponse, ownAddress } from "../../../src/Connector/stages/OwnAddress.ts"
import { nowMs, ourAddress, request, spy } from "../fixtures.ts"

const zeros = new Uint8Array(32)
const ildcpCondition = sha256(zeros)

const ildcpRequest = (overrides: { amount?: bigint; executionCondition?: Uint8Array } = {}) =>
  request({
    prepare: { destination: "peer.config", amount: 0n, executionCondition: ildcpCondition, data: new Uint8Array(0), ...overrides },
    source: { ilpAddress: "test.us.child", asset: { code: "XRP", scale: 9 } }
  })

/** What a standard ILDCP client makes of our answer. */
const asIldcpClient = (fulfill: Fulfill) => Ildcp.deserializeIldcpResponse(Buffer.from(encodeFulfill(fulfill)))

const echoPrefix = Buffer.from("ECHOECHOECHOECHO", "ascii")
const echoRequestData = (returnAddress: string): Uint8Array =>
  Buffer.concat([echoPrefix, Buffer.from([0, returnAddress.length]), Buffer.from(returnAddress, "ascii")])

describe("stages/OwnAddress: ILDCP", () => {
  it("the request condition we expect is the one ILDCP clients send", () => {
    const standard = IlpPacket.deserializeIlpPrepare(Ildcp.serializeIldcpRequest({ expiresAt: new Date(nowMs + 30_000) }))
    expect(Buffer.from(standard.executionCondition).equals(Buffer.from(ildcpCondition))).toBe(true)
    expect(standard.destination).toBe("peer.config")
  })

  it.effect("answers with the source account's address and asset, decodable by ilp-protocol-ildcp; next not called", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const fulfill = yield* ownAddress(ourAddress)(terminal.handler)(ildcpRequest())
      expect(terminal.calls).toHaveLength(0)
      expect(Array.from(fulfill.fulfillment)).toEqual(Array.from(zeros))
      expect(sha256(fulfill.fulfillment)).toEqual(ildcpCondition)
      expect(asIldcpClient(fulfill)).toEqual({ clientAddress: "test.us.child", assetScale: 9, assetCode: "XRP" })
    }))

  it("encodeIldcpResponse bytes, decoded by hand: var address ‖ u8 scale ‖ var code", () => {
    const bytes = Buffer.from(encodeIldcpResponse("test.a", 2, "USD"))
    expect(bytes.toString("hex")).toBe("06" + Buffer.from("test.a").toString("hex") + "02" + "03" + Buffer.from("USD").toString("hex"))
  })

  it.each([6, 127, 256, 1023])("addresses of %i characters are decodable by ilp-protocol-ildcp", (length) => {
    const address = `test.${"a".repeat(length - 5)}`
    expect(address.length).toBe(length)
    const data = encodeIldcpResponse(address, 255, "ABCDEFGHIJKL")
    expect(asIldcpClient({ fulfillment: zeros, data })).toEqual({ clientAddress: address, assetScale: 255, assetCode: "ABCDEFGHIJKL" })
  })

  // varOctets writes every length >= 128 as 0x82 hi lo; for 128..255 the high byte is a leading zero,
  // which canonical OER forbids (RFC 30) and oer-utils refuses: a peer with such an address cannot
  // learn it over ILDCP from a standard client.
  it.each([128, 200, 255])("addresses of %i characters are decodable by ilp-protocol-ildcp", (length) => {
    const address = `test.${"a".repeat(length - 5)}`
    const data = encodeIldcpResponse(address, 2, "USD")
    expect(asIldcpClient({ fulfillment: zeros, data })).toEqual({ clientAddress: address, assetScale: 2, assetCode: "USD" })
  })

  it.effect.each([
    ["a non-zero amount", { amount: 1n }],
    ["an unexpected condition", { executionCondition: new Uint8Array(32).fill(1) }]
  ] as const)("%s → InvalidPacket, next not called", ([_, overrides]) =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const error = yield* Effect.flip(ownAddress(ourAddress)(terminal.handler)(ildcpRequest(overrides)))
      expect(error._tag).toBe("InvalidPacket")
      expect(terminal.calls).toHaveLength(0)
    }))
})

describe("stages/OwnAddress: echo", () => {
  it.effect("a request to our address continues as a response to the return address", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const input = request({ prepare: { destination: ourAddress, amount: 77n, data: echoRequestData("test.sender.x") } })
      const snapshot = (r: PacketRequest) => ({ ...r.prepare, data: Buffer.from(r.prepare.data).toString("hex") })
      const before = snapshot(input)
      yield* ownAddress(ourAddress)(terminal.handler)(input)
      expect(terminal.calls).toHaveLength(1)
      const forwarded = terminal.calls[0]!
      expect(forwarded.prepare.destination).toBe("test.sender.x")
      expect(Buffer.from(forwarded.prepare.data).equals(Buffer.concat([echoPrefix, Buffer.from([1])]))).toBe(true)
      expect(forwarded.prepare.amount).toBe(77n)
      expect(forwarded.prepare.expiresAt).toBe(input.prepare.expiresAt)
      expect(forwarded.prepare.executionCondition).toEqual(input.prepare.executionCondition)
      expect(forwarded.source).toBe(input.source)
      expect(snapshot(input)).toEqual(before) // the stage does not mutate its input
    }))

  it.effect.each([
    ["an echo response (type 1)", Buffer.concat([echoPrefix, Buffer.from([1])])],
    ["an unknown type", Buffer.concat([echoPrefix, Buffer.from([7, 6]), Buffer.from("test.a")])],
    ["no type byte", echoPrefix],
    ["no address length", Buffer.concat([echoPrefix, Buffer.from([0])])],
    ["a truncated return address", Buffer.concat([echoPrefix, Buffer.from([0, 10]), Buffer.from("test.a")])],
    ["trailing bytes after the address", Buffer.concat([Buffer.from(echoRequestData("test.a")), Buffer.from([0])])],
    ["an invalid return address", echoRequestData("nope")],
    ["an empty return address", echoRequestData("")]
  ] as const)("%s → InvalidPacket, next not called", ([_, data]) =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const input = request({ prepare: { destination: ourAddress, data } })
      const error = yield* Effect.flip(ownAddress(ourAddress)(terminal.handler)(input))
      expect(error._tag).toBe("InvalidPacket")
      expect(terminal.calls).toHaveLength(0)
    }))

  // The echo request's return address is a var-octet-string (as ilp-connector reads it), so any valid
  // address up to 1023 characters may appear; parseEchoRequest only reads short-form lengths (< 128)
  // and refuses a valid request from a long address as "malformed echo return address".
  it("a return address of 128+ characters (long-form length) is accepted", async () => {
    const returnAddress = `test.${"r".repeat(200)}`
    const data = Buffer.concat([echoPrefix, Buffer.from([0, 0x81, returnAddress.length]), Buffer.from(returnAddress, "ascii")])
    const terminal = spy<PacketRequest>()
    const input = request({ prepare: { destination: ourAddress, data } })
    await Effect.runPromise(ownAddress(ourAddress)(terminal.handler)(input))
    expect(terminal.calls[0]?.prepare.destination).toBe(returnAddress)
  })

  it.effect("echo data to another address, and other data to our address, pass through untouched", () =>
    Effect.gen(function*() {
      const terminal = spy<PacketRequest>()
      const handler = ownAddress(ourAddress)(terminal.handler)
      const elsewhere = request({ prepare: { destination: "test.bob", data: echoRequestData("test.a") } })
      const plain = request({ prepare: { destination: ourAddress, data: new Uint8Array([1, 2, 3]) } })
      const under = request({ prepare: { destination: `${ourAddress}.wallet`, data: echoRequestData("test.a") } })
      yield* handler(elsewhere)
      yield* handler(plain)
      yield* handler(under)
      expect(terminal.calls).toHaveLength(3)
      expect(terminal.calls[0]).toBe(elsewhere)
      expect(terminal.calls[1]).toBe(plain)
      expect(terminal.calls[2]).toBe(under)
    }))
})
