/**
 * Stage 13: hand the packet to the next hop. Peers get a rewritten Prepare (destination amount,
 * outgoing expiry) over ILP-over-HTTP; their Fulfill is returned, their Reject passed back
 * unchanged, an undecodable reply is T00. Local receivers build their own reply.
 */
import * as Effect from "effect/Effect"
import type { PeerClientShape } from "../PeerClient.ts"
import { type IlpError, InternalError, PeerRejected } from "../IlpErrors.ts"
import type { LocalReceiversShape } from "../LocalReceivers.ts"
import { decodeReply, encodePrepare, type Fulfill, isDecodeFailure, PacketType } from "../Packet.ts"
import type { Handler, Timed } from "../Stage.ts"

export const deliver = (peerClient: PeerClientShape, localReceivers: LocalReceiversShape): Handler<Timed> =>
(request) => {
  const { destination } = request
  if (destination.kind === "local") return localReceivers.deliver(request, destination.receiver)
  const outgoing = encodePrepare({
    ...request.prepare,
    amount: request.destinationAmount,
    expiresAt: request.outgoingExpiresAt
  })
  const peer = destination.peer.config
  return Effect.flatMap(peerClient.send(peer, outgoing, request.outgoingExpiresAt), (bytes): Effect.Effect<Fulfill, IlpError> => {
    const reply = decodeReply(bytes)
    if (isDecodeFailure(reply)) {
      return Effect.fail(new InternalError({ reason: `undecodable reply from peer ${peer.id}: ${reply.reason}` }))
    }
    return reply.type === PacketType.Fulfill ?
      Effect.succeed(reply.fulfill) :
      Effect.fail(new PeerRejected({ reject: reply.reject }))
  })
}
