/**
 * Stage 6: protocols addressed to this node rather than through it.
 * - ILDCP (`peer.config`): answered with the source account's address and asset. It carries no
 *   value, so a non-zero amount or an unexpected condition is F01.
 * - Echo (`ECHOECHOECHOECHO` to our own address): a request names a return address; it continues
 *   down the pipeline as an echo response addressed there (so it is routed, priced and accounted
 *   like any other packet).
 */
import { Effect } from "effect"
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

const varOctets = (bytes: Uint8Array): Uint8Array =>
  bytes.length < 0x80 ?
    Buffer.concat([Buffer.from([bytes.length]), bytes]) :
    Buffer.concat([Buffer.from([0x82, bytes.length >> 8, bytes.length & 0xff]), bytes])

/** The return address of an echo request, or a reason it is malformed. */
export const parseEchoRequest = (data: Uint8Array): { readonly returnAddress: string } | string => {
  const type = data[echoPrefix.length]
  if (type === echoResponseType) return "echo responses are not addressed to a connector"
  if (type !== echoRequestType) return "unknown echo packet type"
  const lengthAt = echoPrefix.length + 1
  const length = data[lengthAt]
  if (length === undefined || length >= 0x80) return "malformed echo return address"
  const address = Buffer.from(data.subarray(lengthAt + 1, lengthAt + 1 + length)).toString("ascii")
  if (address.length !== length || lengthAt + 1 + length !== data.length) return "malformed echo request"
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
