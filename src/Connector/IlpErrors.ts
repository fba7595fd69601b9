/**
 * Every way a packet can fail, as tagged errors, and the one function that turns a failure into an
 * ILP Reject (RFC 27 codes).
 *
 * The table `codeByTag` is typed as a total record over the error tags: adding an error without
 * giving it a code is a compile error. Stages fail with these errors; no stage builds a Reject.
 */
import * as Data from "effect/Data"
import { amountTooLargeData, emptyData, type Reject } from "./Packet.ts"

/** F01: the bytes are not a valid ILP Prepare, or a protocol request (ILDCP, echo) is malformed. */
export class InvalidPacket extends Data.TaggedError("InvalidPacket")<{ readonly reason: string }> {}

/** F02: no local receiver and no route, or the only route leads back to the source. */
export class Unreachable extends Data.TaggedError("Unreachable")<{ readonly reason: string }> {}

/** F08: amount above the source account's maxPacketAmount; data carries both amounts. */
export class AmountTooLarge extends Data.TaggedError("AmountTooLarge")<{
  readonly received: bigint
  readonly maximum: bigint
}> {}

/** F05: the fulfillment does not hash to the condition. */
export class WrongCondition extends Data.TaggedError("WrongCondition")<{ readonly reason: string }> {}

/** F07: no usable exchange rate between the two assets. */
export class RateUnavailable extends Data.TaggedError("RateUnavailable")<{ readonly reason: string }> {}

/** F99: an application (STREAM) refusal; the receiver supplied the data to send back. */
export class ApplicationRefused extends Data.TaggedError("ApplicationRefused")<{
  readonly reason: string
  readonly data: Uint8Array
}> {}

/** R00: expired on arrival, expired on local delivery, or no reply before the outgoing expiry. */
export class Expired extends Data.TaggedError("Expired")<{ readonly reason: string }> {}

/** R01: a non-zero source amount converts to zero at the destination. */
export class AmountTooSmall extends Data.TaggedError("AmountTooSmall")<{ readonly reason: string }> {}

/** R02: not enough time left to forward the packet. */
export class InsufficientTimeout extends Data.TaggedError("InsufficientTimeout")<{ readonly reason: string }> {}

/** T00: an internal fault (dependency down, defect). Details stay in the logs. */
export class InternalError extends Data.TaggedError("InternalError")<{ readonly reason: string }> {}

/** T01: the next hop could not be reached (HTTP error, refused connection, network failure). */
export class PeerUnreachable extends Data.TaggedError("PeerUnreachable")<{ readonly reason: string }> {}

/** T04: the source balance or the destination liquidity is short, or a throughput limit is hit. */
export class InsufficientLiquidity extends Data.TaggedError("InsufficientLiquidity")<{
  readonly reason: string
}> {}

/** T05: the source account's packet rate limit is exhausted. */
export class RateLimited extends Data.TaggedError("RateLimited")<{ readonly reason: string }> {}

/** A Reject received from the next hop: passed back unchanged. */
export class PeerRejected extends Data.TaggedError("PeerRejected")<{ readonly reject: Reject }> {}

/**
 * A Reject built by the local STREAM receiver (it encrypts STREAM frames into the data, e.g. the
 * amount that arrived for a rate probe, or how much more a payment may receive): passed back as built.
 */
export class ReceiverRejected extends Data.TaggedError("ReceiverRejected")<{ readonly reject: Reject }> {}

export type IlpError =
  | InvalidPacket
  | Unreachable
  | AmountTooLarge
  | WrongCondition
  | RateUnavailable
  | ApplicationRefused
  | Expired
  | AmountTooSmall
  | InsufficientTimeout
  | InternalError
  | PeerUnreachable
  | InsufficientLiquidity
  | RateLimited
  | PeerRejected
  | ReceiverRejected

/** Failures that carry a Reject built elsewhere (a peer, the STREAM receiver). */
type Passthrough = PeerRejected | ReceiverRejected

export type IlpErrorTag = IlpError["_tag"]

/** The ILP code each failure maps to. Passthrough failures keep the code of the Reject they carry. */
export const codeByTag: { readonly [Tag in Exclude<IlpErrorTag, Passthrough["_tag"]>]: string } = {
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

/** Short human-readable messages (RFC 27 names); the reason adds context without secrets. */
const nameByCode: Readonly<Record<string, string>> = {
  F01: "invalid packet",
  F02: "unreachable",
  F05: "wrong condition",
  F07: "cannot receive",
  F08: "amount too large",
  F99: "application error",
  R00: "transfer timed out",
  R01: "insufficient source amount",
  R02: "insufficient timeout",
  T00: "internal error",
  T01: "peer unreachable",
  T04: "insufficient liquidity",
  T05: "rate limited"
}

const dataOf = (error: Exclude<IlpError, Passthrough>): Uint8Array => {
  switch (error._tag) {
    case "AmountTooLarge":
      return amountTooLargeData(error.received, error.maximum)
    case "ApplicationRefused":
      return error.data
    default:
      return emptyData
  }
}

const messageOf = (error: Exclude<IlpError, Passthrough>): string => {
  switch (error._tag) {
    case "AmountTooLarge":
      return `amount too large: received ${error.received}, maximum ${error.maximum}`
    case "InternalError":
      // Internal details stay in the logs.
      return "unexpected internal error"
    default:
      return error.reason
  }
}

/** The single place where failures become Reject packets. */
export const toReject = (error: IlpError, ourAddress: string): Reject => {
  if (error._tag === "PeerRejected" || error._tag === "ReceiverRejected") return error.reject
  const code = codeByTag[error._tag]
  return {
    code,
    triggeredBy: ourAddress,
    message: messageOf(error) || nameByCode[code] || code,
    data: dataOf(error)
  }
}

export const internalErrorReject = (ourAddress: string): Reject =>
  toReject(new InternalError({ reason: "unexpected internal error" }), ourAddress)
