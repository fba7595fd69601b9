/** Stage 14: the fulfillment must hash to the condition (F05); other outcomes pass through. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PeerRejected } from "../../../src/Connector/IlpErrors.ts"
import type { Fulfill } from "../../../src/Connector/Packet.ts"
import type { Timed } from "../../../src/Connector/Stage.ts"
import { fulfillmentCheck } from "../../../src/Connector/stages/FulfillmentCheck.ts"
import { fulfill, fulfillment, localReceiver, priced, request, routedLocal, routedToPeer, spy, timed } from "../fixtures.ts"

const input = (): Timed => timed(priced(routedToPeer(request())))
const answering = (reply: Fulfill) => spy<Timed>(() => Effect.succeed(reply))

describe("stages/FulfillmentCheck", () => {
  it.effect("a preimage of the condition passes the Fulfill through", () =>
    Effect.gen(function*() {
      const terminal = answering(fulfill)
      expect(yield* fulfillmentCheck(terminal.handler)(input())).toBe(fulfill)
      expect(terminal.calls).toHaveLength(1)
    }))

  it.effect.each([
    ["one flipped bit", Uint8Array.from(fulfillment, (b, i) => (i === 31 ? b ^ 1 : b))],
    ["all zeros", new Uint8Array(32)],
    ["the condition itself", null]
  ] as const)("a bad preimage (%s) → WrongCondition", ([_, bad]) =>
    Effect.gen(function*() {
      const request = input()
      const terminal = answering({ fulfillment: bad ?? request.prepare.executionCondition, data: new Uint8Array(0) })
      const error = yield* Effect.flip(fulfillmentCheck(terminal.handler)(request))
      expect(error._tag).toBe("WrongCondition")
      expect(terminal.calls).toHaveLength(1)
    }))

  it.effect("a local receiver's Fulfill with the very fulfillment it checked is not hashed again; any other is", () =>
    Effect.gen(function*() {
      // The receiver vouches for `checked` (it hashed it against this condition when matching):
      // a Fulfill carrying that object passes as is — shown here with bytes that would not hash
      // to the condition, so a second hash would have refused it.
      const checked = new Uint8Array(32)
      const local = timed(priced(routedLocal(request(), { ...localReceiver, checkedFulfillment: checked })))
      const same = answering({ fulfillment: checked, data: new Uint8Array(0) })
      expect((yield* fulfillmentCheck(same.handler)(local)).fulfillment).toBe(checked)
      // Equal bytes in another object, or no checked fulfillment at all, are hashed: F05.
      const copy = answering({ fulfillment: Uint8Array.from(checked), data: new Uint8Array(0) })
      expect((yield* Effect.flip(fulfillmentCheck(copy.handler)(local)))._tag).toBe("WrongCondition")
      const unchecked = timed(priced(routedLocal(request())))
      expect((yield* Effect.flip(fulfillmentCheck(same.handler)(unchecked)))._tag).toBe("WrongCondition")
      // The good preimage passes either way.
      expect(yield* fulfillmentCheck(answering(fulfill).handler)(local)).toBe(fulfill)
    }))

  it.effect("failures from next pass through unchanged", () =>
    Effect.gen(function*() {
      const failure = new PeerRejected({ reject: { code: "F99", triggeredBy: "test.x", message: "", data: new Uint8Array(0) } })
      const terminal = spy<Timed>(() => Effect.fail(failure))
      expect(yield* Effect.flip(fulfillmentCheck(terminal.handler)(input()))).toBe(failure)
    }))
})
