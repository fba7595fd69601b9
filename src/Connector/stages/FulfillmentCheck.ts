/**
 * Stage 14: a Fulfill whose preimage does not hash to the condition is F05 (and voids the
 * reservation). A local receiver's Fulfill carrying the very fulfillment it checked against this
 * condition when it matched the packet (`LocalReceiver.checkedFulfillment`) is not hashed twice.
 */
import * as Effect from "effect/Effect"
import { WrongCondition } from "../IlpErrors.ts"
import { type Fulfill, sha256Matches } from "../Packet.ts"
import type { Stage, Timed } from "../Stage.ts"

const checkedAlready = (request: Timed, fulfill: Fulfill): boolean =>
  request.destination.kind === "local" && request.destination.receiver.checkedFulfillment === fulfill.fulfillment

export const fulfillmentCheck: Stage<Timed> = (next) => (request) =>
  Effect.flatMap(next(request), (fulfill) =>
    checkedAlready(request, fulfill) || sha256Matches(fulfill.fulfillment, request.prepare.executionCondition) ?
      Effect.succeed(fulfill) :
      Effect.fail(new WrongCondition({ reason: "fulfillment does not match the condition" })))
