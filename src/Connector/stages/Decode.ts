/** Stage 1: bytes → Prepare. Anything that is not a valid ILP Prepare is F01. */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { InvalidPacket } from "../IlpErrors.ts"
import { decodePrepare, isDecodeFailure } from "../Packet.ts"
import type { IncomingPacket, PacketRequest, Stage } from "../Stage.ts"

export const decode: Stage<IncomingPacket, PacketRequest> = (next) => (incoming) => {
  const prepare = decodePrepare(incoming.bytes)
  if (isDecodeFailure(prepare)) return Effect.fail(new InvalidPacket({ reason: `invalid packet: ${prepare.reason}` }))
  return Effect.flatMap(Clock.currentTimeMillis, (receivedAt) =>
    next({ prepare, source: incoming.source, unfulfillable: incoming.unfulfillable, receivedAt }))
}
