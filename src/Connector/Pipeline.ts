/**
 * The packet path, top to bottom in packet order. Reading this file tells the whole story; each
 * stage lives in `stages/<Name>.ts` with its own test.
 *
 * `process` is the edge: it runs a packet through the stages and turns every failure into a Reject
 * with `toReject` (the only place Rejects are made) and every defect into a T00 whose details go
 * only to the log. The ILP-over-HTTP server and the in-process plugin both call it, with the same
 * services, so both sources get exactly the same behaviour.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Ledger } from "../Accounting/Ledger.ts"
import { NodeConfigService } from "../Config.ts"
import { PeerClient } from "./PeerClient.ts"
import { Rates } from "../Rates/Rates.ts"
import { internalErrorReject, toReject } from "./IlpErrors.ts"
import { LocalReceivers } from "./LocalReceivers.ts"
import { Metrics } from "./Metrics.ts"
import { PacketType, type Reply } from "./Packet.ts"
import { Peers } from "./Peers.ts"
import { RateLimiter } from "./RateLimiter.ts"
import type { Handler, IncomingPacket } from "./Stage.ts"
import { decode } from "./stages/Decode.ts"
import { deliver } from "./stages/Deliver.ts"
import { exchangeRate } from "./stages/ExchangeRate.ts"
import { expiryOnArrival } from "./stages/ExpiryOnArrival.ts"
import { fulfillmentCheck } from "./stages/FulfillmentCheck.ts"
import { ledgerReservation, makePostAfterReply } from "./stages/LedgerReservation.ts"
import { maxPacketAmount } from "./stages/MaxPacketAmount.ts"
import { outgoingExpiry } from "./stages/OutgoingExpiry.ts"
import { ownAddress } from "./stages/OwnAddress.ts"
import { rateLimit } from "./stages/RateLimit.ts"
import { route } from "./stages/Route.ts"
import { throughputLimit } from "./stages/ThroughputLimit.ts"

export interface PipelineShape {
  /** Runs one packet; never fails: the reply is a Fulfill or a Reject. */
  readonly process: (incoming: IncomingPacket) => Effect.Effect<Reply>
}

export class Pipeline extends Context.Service<Pipeline, PipelineShape>()("Connector/Pipeline") {}

export const make = Effect.gen(function*() {
  const config = yield* NodeConfigService
  const peers = yield* Peers
  const limiter = yield* RateLimiter
  const rates = yield* Rates
  const localReceivers = yield* LocalReceivers
  const peerClient = yield* PeerClient
  const ledger = yield* Ledger
  const metrics = yield* Metrics
  const ourAddress = config.ilpAddress
  // On TigerBeetle the post is a network round trip: the Fulfill goes upstream without waiting for
  // it (stages/LedgerReservation.ts, docs/performance/tigerbeetle.md). The embedded ledger posts in-process.
  const postAfterReply = config.tigerbeetle === undefined ? undefined : yield* makePostAfterReply

  const handler: Handler<IncomingPacket> =
    // 1. F01 — nothing else can look at a packet until it is a valid Prepare.
    decode(
      // 2. R00 — an expired packet is refused before it costs anything.
      expiryOnArrival(
        // 3. F08 — cheap, and Pay relies on its data to size packets.
        maxPacketAmount(
          // 4. T05 — per-source packet rate, before any lookup work is done for the packet.
          rateLimit(limiter)(
            // 5. T04 — optional amount-per-period limit per source.
            throughputLimit(limiter)(
              // 6. ILDCP and echo are for us, not for forwarding (after the limits, so they are limited too).
              ownAddress(ourAddress)(
                // 7. F02 — a local STREAM receiver, else the longest-prefix route, never back to the source.
                route(ourAddress, peers, localReceivers)(
                  // 9–10. F07 / T00 / R01 — the amount the next hop gets, in its asset.
                  exchangeRate(rates)(
                    // 12. R02 / R00 — the next hop's expiry; checked before the ledger so a packet that
                    //     cannot make it never touches balances, and the hold time is known to it.
                    outgoingExpiry(config)(
                      // 11. T04 / T00 — reserve the packet's transfers; post on fulfill, void otherwise.
                      ledgerReservation(ledger, metrics, localReceivers, postAfterReply)(
                        // 14. F05 — the fulfillment must hash to the condition (inside the reservation,
                        //     so a bad fulfillment voids it).
                        fulfillmentCheck(
                          // 13. T01 / R00 / T00 / passthrough — forward to the peer or deliver locally.
                          deliver(peerClient, localReceivers)
                        )
                      )
                    )
                  )
                )
              )
            )
          )
        )
      )
    )

  const packetEnded = Effect.sync(metrics.packetEnded)

  // One match and one exit hook per packet (rather than map, catchCause, tap and ensuring: each
  // is a frame of the fiber's stack and an allocation per packet).
  const process = (incoming: IncomingPacket): Effect.Effect<Reply> => {
    const startedAt = performance.now()
    metrics.packetStarted()
    const recorded = (reply: Reply): Reply => {
      metrics.recordPacket(
        incoming.source,
        reply.type === PacketType.Fulfill ? "fulfill" : reply.reject.code,
        performance.now() - startedAt
      )
      return reply
    }
    const answered = Effect.matchCauseEffect(handler(incoming), {
      onSuccess: (fulfill) => Effect.succeed(recorded({ type: PacketType.Fulfill, fulfill })),
      onFailure: (cause): Effect.Effect<Reply> => {
        // An interrupted packet (client gone, shutdown) stays interrupted: its reservation was
        // already voided by the ledger stage's finalizer.
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
        const failure = Cause.findErrorOption(cause)
        if (failure._tag === "Some") {
          const reject: Reply = { type: PacketType.Reject, reject: toReject(failure.value, ourAddress) }
          // T00 answers say only "unexpected internal error": the reason goes to the log.
          return failure.value._tag === "InternalError" ?
            Effect.as(Effect.logWarning("internal error while processing a packet", failure.value.reason), reject).pipe(
              Effect.map(recorded)
            ) :
            Effect.succeed(recorded(reject))
        }
        return Effect.as(
          Effect.logError("unexpected failure while processing a packet", cause),
          { type: PacketType.Reject, reject: internalErrorReject(ourAddress) } as Reply
        ).pipe(Effect.map(recorded))
      }
    })
    return Effect.ensuring(answered, packetEnded)
  }

  return Pipeline.of({ process })
})

export const layer = Layer.effect(Pipeline, make)
