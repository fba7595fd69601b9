/** Stage 14: a Fulfill whose preimage does not hash to the condition is F05 (and voids the reservation). */
import * as Effect from "effect/Effect"
import { WrongCondition } from "../IlpErrors.ts"
import { bytesEqual, sha256 } from "../Packet.ts"
import type { Stage, Timed } from "../Stage.ts"

export const fulfillmentCheck: Stage<Timed> = (next) => (request) =>
  Effect.flatMap(next(request), (fulfill) =>
    bytesEqual(sha256(fulfill.fulfillment), request.prepare.executionCondition) ?
      Effect.succeed(fulfill) :
      Effect.fail(new WrongCondition({ reason: "fulfillment does not match the condition" })))
