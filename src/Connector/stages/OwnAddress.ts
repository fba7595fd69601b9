/**
 * Stage 6: protocols addressed to this node rather than through it.
 * - ILDCP (`peer.config`): answered with the source account's address and asset. It carries no
 *   value, so a non-zero amount or an unexpected condition is F01.
 * - Echo (`ECHOECHOECHOECHO` to our own address): a request names a return address; it continues
 *   down the pipeline as an echo response addressed there (so it is routed, priced and accounted
 *   like any other packet).
 */
import * as Effect from "effect/Effect"
import { InvalidPacket } from "../IlpErrors.ts"
import { bytesEqual, isValidAddress, sha256 } from "../Packet.ts"
import type { PacketRequest, Stage } from "../Stage.ts"

export const ildcpDestination = "peer.config"
/** ILDCP fulfills with 32 zero bytes; requests use its hash as their condition. */
export const ildcpFulfillment = new Uint8Array(32)
const ildcpCondition = sha256(ildcpFulfillment)

const echoPrefix = Buffer.from("ECHOECHOECHOECHO", "ascii")
const echoRequestType = 0
const echoResponseType = 1

/** ILDCP response data: var address ‖ u8 scale ‖ var asset code (OER). */
export const encodeIldcpResponse = (address: string, assetScale: number, assetCode: string): Uint8Array => {
  const addressBytes = Buffer.from(address, "ascii")
  const codeBytes = Buffer.from(assetCode, "utf8")
  if (addressBytes.length > 127 * 256 || codeBytes.length > 127) throw new RangeError("ILDCP field too long")
  return Buffer.concat([varOctets(addressBytes), Buffer.from([assetScale]), varOctets(codeBytes)])
}

/** Canonical OER length prefix: short form below 128, else the fewest length bytes. */
const varOctets = (bytes: Uint8Array): Uint8Array => {
  const n = bytes.length
  const prefix = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff]
  return Buffer.concat([Buffer.from(prefix), bytes])
}

/** Reads a canonical OER length at `offset`: [length, bytes used], or undefined. */
const readLength = (data: Uint8Array, offset: number): readonly [number, number] | undefined => {
  const first = data[offset]
  if (first === undefined) return undefined
  if (first < 0x80) return [first, 1]
  const count = first & 0x7f
  if (count < 1 || count > 2 || offset + 1 + count > data.length) return undefined
  const length = count === 1 ? data[offset + 1]! : data[offset + 1]! * 256 + data[offset + 2]!
  const canonical = count === 1 ? length >= 0x80 : length >= 0x100
  return canonical ? [length, 1 + count] : undefined
}

/** The return address of an echo request, or a reason it is malformed. */
export const parseEchoRequest = (data: Uint8Array): { readonly returnAddress: string } | string => {
  const type = data[echoPrefix.length]
  if (type === echoResponseType) return "echo responses are not addressed to a connector"
  if (type !== echoRequestType) return "unknown echo packet type"
  const lengthAt = echoPrefix.length + 1
  const prefix = readLength(data, lengthAt)
  if (prefix === undefined) return "malformed echo return address"
  const [length, used] = prefix
  const start = lengthAt + used
  if (start + length !== data.length) return "malformed echo request"
  const address = Buffer.from(data.subarray(start, start + length)).toString("ascii")
  return isValidAddress(address) ? { returnAddress: address } : "invalid echo return address"
}

const isEcho = (data: Uint8Array): boolean =>
  data.length >= echoPrefix.length && bytesEqual(data.subarray(0, echoPrefix.length), echoPrefix)

export const ownAddress = (ourAddress: string): Stage<PacketRequest> => (next) => (request) => {
  const { prepare } = request
  if (prepare.destination === ildcpDestination) {
    if (prepare.amount !== 0n) return Effect.fail(new InvalidPacket({ reason: "ILDCP request must carry no amount" }))
    if (!bytesEqual(prepare.executionCondition, ildcpCondition)) {
      return Effect.fail(new InvalidPacket({ reason: "ILDCP request has an unexpected condition" }))
    }
    const { ilpAddress, asset } = request.source
    return Effect.succeed({
      fulfillment: ildcpFulfillment,
      data: encodeIldcpResponse(ilpAddress, asset.scale, asset.code)
    })
  }
  if (prepare.destination === ourAddress && isEcho(prepare.data)) {
    const parsed = parseEchoRequest(prepare.data)
    if (typeof parsed === "string") return Effect.fail(new InvalidPacket({ reason: parsed }))
    const data = Buffer.concat([echoPrefix, Buffer.from([echoResponseType])])
    return next({ ...request, prepare: { ...prepare, destination: parsed.returnAddress, data } })
  }
  return next(request)
}
