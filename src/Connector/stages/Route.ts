/**
 * Stage 7: where the packet goes. Addresses under our own ILP address are offered to the local
 * STREAM receivers first; otherwise (and for anything they do not claim) the longest-prefix route
 * table decides, never back to the source peer. No receiver and no route: F02.
 */
import * as Effect from "effect/Effect"
import { Unreachable } from "../IlpErrors.ts"
import type { LocalReceiversShape } from "../LocalReceivers.ts"
import type { PeersShape } from "../Peers.ts"
import type { Handler, PacketRequest, Routed, Stage } from "../Stage.ts"

export const route = (
  ourAddress: string,
  peers: PeersShape,
  localReceivers: LocalReceiversShape
): Stage<PacketRequest, Routed> => {
  const localPrefix = `${ourAddress}.`
  const toPeer = (next: Handler<Routed>, request: PacketRequest) => {
    const sourcePeer = request.source.kind === "peer" ? request.source.id : undefined
    const best = peers.routes().lookup(request.prepare.destination, sourcePeer)
    const peer = best === undefined ? undefined : peers.byId(best.peerId)
    if (peer === undefined) {
      return Effect.fail(new Unreachable({ reason: `no route to ${request.prepare.destination}` }))
    }
    return next({ ...request, destination: { kind: "peer", peer } })
  }
  return (next) => (request) => {
    if (!request.prepare.destination.startsWith(localPrefix)) return toPeer(next, request)
    return Effect.flatMap(localReceivers.match(request), (receiver) =>
      receiver === undefined ? toPeer(next, request) : next({ ...request, destination: { kind: "local", receiver } }))
  }
}
