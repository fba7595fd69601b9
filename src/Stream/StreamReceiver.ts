/**
 * The local STREAM receiver (SPEC §7), plugged into the packet path through `LocalReceivers`.
 *
 * `match` (routing stage): decode the payment tag from the destination; an incoming payment first,
 * then a wallet address. A tag naming a payment or wallet address that no longer exists is F02.
 *
 * `deliver` (end of the pipeline, inside the ledger reservation): the STREAM receiver builds the
 * reply for the destination amount. When it would accept money:
 *  - a completed or expired incoming payment refuses it (F99 + ConnectionClose, built by STREAM);
 *  - otherwise the amount is added to the connection's and the payment's totals in ONE atomic step
 *    that refuses anything past `incomingAmount` (F99 with a StreamMaxMoney frame telling the sender
 *    how much more it may send);
 *  - the receipt (RFC 39) carries the connection's new total, and the payment's state follows it.
 * The ledger stage posts the reservation when this returns the Fulfill, and voids it otherwise.
 *
 * Rate probes (unfulfillable, wrong condition) get STREAM's F99 reply with the amount that arrived.
 * `match` already finds out that their condition cannot be met (`LocalReceiver.fulfillable`), so
 * the ledger stage reserves nothing for them: another node's quote creates no transfers here.
 */
import { Effect, Layer } from "effect"
import type * as IlpPacket from "ilp-packet"
import { InternalError, ReceiverRejected, Unreachable } from "../Connector/IlpErrors.ts"
import { LocalReceivers } from "../Connector/LocalReceivers.ts"
import { bytesEqual, type Fulfill, type Reject, sha256 } from "../Connector/Packet.ts"
import type { LocalReceiver, PacketRequest, Timed } from "../Connector/Stage.ts"
import { StreamCredentials, type StreamCredentialsShape } from "./Credentials.ts"
import { ReceiptTotals } from "./ReceiptTotals.ts"
import { type IncomingPaymentReceiver, ReceiverDirectory } from "./ReceiverDirectory.ts"
import type { CachedIncomingMoney } from "./StreamServerCached.ts"

type Target =
  | { readonly kind: "incoming"; readonly payment: IncomingPaymentReceiver }
  | { readonly kind: "wallet"; readonly walletAddressId: string }

/**
 * The Prepare as the STREAM receiver sees it. A packet that must not be accepted (unfulfillable, or
 * found unfulfillable when matched, so the ledger reserved nothing for it) gets a condition no
 * fulfillment matches: the receiver then answers as to a rate probe (F99 with the amount that
 * arrived) and never takes money that was not reserved.
 */
const toIlpPrepare = (request: Timed, acceptable: boolean): IlpPacket.IlpPrepare => ({
  amount: request.destinationAmount.toString(),
  expiresAt: new Date(request.prepare.expiresAt),
  executionCondition: acceptable ? Buffer.from(request.prepare.executionCondition) : neverFulfilled,
  destination: request.prepare.destination,
  data: Buffer.from(request.prepare.data)
})

const fromIlpReject = (reject: IlpPacket.IlpReject): Reject => ({
  code: reject.code,
  triggeredBy: reject.triggeredBy,
  message: reject.message,
  data: reject.data
})

const isIncomingMoney = (reply: CachedIncomingMoney | IlpPacket.IlpReply): reply is CachedIncomingMoney =>
  "accept" in reply

/** A condition no fulfillment hashes to (in practice): handed to the receiver for packets it must not accept. */
const neverFulfilled = Buffer.alloc(32)

/**
 * Whether the receiver could fulfill this Prepare: its condition is the hash of the STREAM
 * fulfillment for its data. False for rate probes, whose condition is random. Uses the server's
 * per-connection keys (derived once per connection, not per packet).
 */
export const isFulfillable = (
  credentials: StreamCredentialsShape,
  prepare: { readonly destination: string; readonly data: Uint8Array; readonly executionCondition: Uint8Array }
): boolean => {
  const connection = credentials.server.connection(prepare.destination)
  if (connection === undefined) return false
  return bytesEqual(sha256(credentials.server.fulfillmentFor(connection, prepare.data)), prepare.executionCondition)
}

export const make = Effect.gen(function*() {
  const credentials = yield* StreamCredentials
  const totals = yield* ReceiptTotals
  const directory = yield* ReceiverDirectory

  const gone = (what: string) => Effect.fail(new Unreachable({ reason: `${what} no longer exists` }))

  const match = (request: PacketRequest) =>
    Effect.suspend(() => {
      const tag = credentials.decodeTag(request.prepare.destination)
      if (tag === undefined) return Effect.succeed(undefined)
      const fulfillable = !request.unfulfillable && isFulfillable(credentials, request.prepare)
      if (tag.kind === "incoming") {
        return Effect.flatMap(directory.incomingPayment(tag.id), (payment) =>
          payment === undefined ? gone("incoming payment") : Effect.succeed<LocalReceiver>({
            ledgerAccountId: payment.ledgerAccountId,
            asset: payment.asset,
            fulfillable,
            context: { kind: "incoming", payment } satisfies Target
          }))
      }
      return Effect.flatMap(directory.walletAddress(tag.id), (wallet) =>
        wallet === undefined || !wallet.active ? gone("active wallet address") : Effect.succeed<LocalReceiver>({
          ledgerAccountId: wallet.ledgerAccountId,
          asset: wallet.asset,
          fulfillable,
          context: { kind: "wallet", walletAddressId: wallet.id } satisfies Target
        }))
    })

  const refuse = (reply: IlpPacket.IlpReject) => Effect.fail(new ReceiverRejected({ reject: fromIlpReject(reply) }))

  const acceptMoney = (request: Timed, target: Target, money: CachedIncomingMoney) =>
    Effect.gen(function*() {
      const payment = target.kind === "incoming" ? target.payment : undefined
      const result = yield* totals.add({
        connectionKey: money.connectionId,
        amount: request.destinationAmount,
        ...(payment === undefined ?
          {} :
          {
            payment: {
              key: payment.id,
              ...(payment.incomingAmount === undefined ? {} : { cap: payment.incomingAmount })
            }
          })
      }).pipe(
        Effect.mapError((error) => new InternalError({ reason: `receipt store unavailable: ${error.message}` }))
      )
      if (!result.accepted) {
        if (payment !== undefined && result.paymentTotal !== undefined) yield* directory.recordReceived(payment, result.paymentTotal)
        if (result.remaining === 0n) return yield* refuse(money.finalDecline())
        const connectionTotal = yield* totals.get(money.connectionId).pipe(Effect.orElseSucceed(() => 0n))
        return yield* refuse(money.declineOverMaximum(connectionTotal + result.remaining, connectionTotal))
      }
      money.setTotalReceived(result.connectionTotal.toString())
      const fulfill = money.accept()
      // Only a state change touches the store (the directory judges from the payment as matched).
      if (payment !== undefined && result.paymentTotal !== undefined) yield* directory.recordReceived(payment, result.paymentTotal)
      return { fulfillment: fulfill.fulfillment, data: fulfill.data } satisfies Fulfill
    })

  const deliver = (request: Timed, receiver: LocalReceiver) =>
    Effect.suspend(() => {
      const reply = credentials.server.createReply(toIlpPrepare(request, receiver.fulfillable && !request.unfulfillable))
      if (!isIncomingMoney(reply)) {
        return "fulfillment" in reply ?
          Effect.succeed<Fulfill>({ fulfillment: reply.fulfillment, data: reply.data }) :
          refuse(reply)
      }
      const target = receiver.context as Target
      if (target.kind === "incoming" && !target.payment.open) {
        return refuse(reply.finalDecline())
      }
      return acceptMoney(request, target, reply)
    })

  return LocalReceivers.of({ match, deliver })
})

export const layer = Layer.effect(LocalReceivers, make)
