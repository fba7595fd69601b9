/** Stage 3: amount above the source account's maxPacketAmount is F08 with RFC 27 data. */
import * as Effect from "effect/Effect"
import { AmountTooLarge } from "../IlpErrors.ts"
import type { PacketRequest, Stage } from "../Stage.ts"

export const maxPacketAmount: Stage<PacketRequest> = (next) => (request) => {
  const maximum = request.source.maxPacketAmount
  const received = request.prepare.amount
  return maximum !== undefined && received > maximum ?
    Effect.fail(new AmountTooLarge({ received, maximum })) :
    next(request)
}
