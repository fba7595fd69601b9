/** Stage 2: a packet that has already expired when it arrives is R00. */
import * as Effect from "effect/Effect"
import { Expired } from "../IlpErrors.ts"
import type { PacketRequest, Stage } from "../Stage.ts"

export const expiryOnArrival: Stage<PacketRequest> = (next) => (request) =>
  request.prepare.expiresAt <= request.receivedAt ?
    Effect.fail(new Expired({ reason: "packet expired on arrival" })) :
    next(request)
