/**
 * Stage 13: the rewritten Prepare goes to the peer; its Fulfill comes back, its Reject passes
 * back unchanged, an undecodable reply is T00. Local destinations go to the local receivers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as IlpPacket from "ilp-packet"
import type { PeerConfig } from "../../../src/Config.ts"
import type { PeerClientShape } from "../../../src/Connector/PeerClient.ts"
import { Expired, type IlpError, PeerUnreachable, toReject } from "../../../src/Connector/IlpErrors.ts"
import type { LocalReceiversShape } from "../../../src/Connector/LocalReceivers.ts"
import { decodePrepare, encodeFulfill, encodePrepare, encodeReject, type Prepare } from "../../../src/Connector/Packet.ts"
import type { Timed } from "../../../src/Connector/Stage.ts"
import { deliver } from "../../../src/Connector/stages/Deliver.ts"
import {
  fulfill,
  localReceiver,
  nowMs,
  ourAddress,
  peerEntry,
  priced,
  request,
  routedLocal,
  routedToPeer,
  timed
} from "../fixtures.ts"

interface Sent {
  readonly peer: PeerConfig
  readonly bytes: Uint8Array
  readonly deadlineMs: number
}

const fakePeerClient = (reply: Effect.Effect<Uint8Array, PeerUnreachable | Expired>) => {
  const sent: Array<Sent> = []
  const client: PeerClientShape = {
    send: (peer, bytes, deadlineMs) =>
      Effect.suspend(() => {
        sent.push({ peer, bytes, deadlineMs })
        return reply
      })
  }
  return { client, sent }
}

const noLocal: LocalReceiversShape = {
  match: () => Effect.succeed(undefined),
  deliver: () => Effect.die("no local delivery expected"),
  settle: () => Effect.void
}

const bob = peerEntry({ id: "bob", asset: { code: "EUR", scale: 9 } })
const outgoing = (): Timed =>
  timed(
    priced(routedToPeer(request({ prepare: { amount: 100n, expiresAt: nowMs + 10_000, destination: "test.bob.x" } }), bob), 90_000_000n),
    nowMs + 9_000
  )

const runDeliver = (reply: Effect.Effect<Uint8Array, PeerUnreachable | Expired>, input: Timed = outgoing()) =>
  Effect.gen(function*() {
    const { client, sent } = fakePeerClient(reply)
    const exit = yield* Effect.exit(deliver(client, noLocal)(input))
    return { exit, sent }
  })

const failureOf = (reply: Effect.Effect<Uint8Array, PeerUnreachable | Expired>) =>
  Effect.gen(function*() {
    const { client, sent } = fakePeerClient(reply)
    const error: IlpError = yield* Effect.flip(deliver(client, noLocal)(outgoing()))
    expect(sent).toHaveLength(1)
    return error
  })

describe("stages/Deliver (to a peer)", () => {
  it.effect("the outgoing Prepare carries destinationAmount and outgoingExpiresAt, the rest unchanged", () =>
    Effect.gen(function*() {
      const input = outgoing()
      const { sent } = yield* runDeliver(Effect.succeed(encodeFulfill(fulfill)), input)
      expect(sent).toHaveLength(1)
      expect(sent[0]!.peer).toBe(bob.config)
      expect(sent[0]!.deadlineMs).toBe(nowMs + 9_000)
      const decoded = decodePrepare(sent[0]!.bytes) as Prepare
      expect(decoded.amount).toBe(90_000_000n)
      expect(decoded.expiresAt).toBe(nowMs + 9_000)
      expect(decoded.destination).toBe("test.bob.x")
      expect(Buffer.from(decoded.executionCondition).equals(Buffer.from(input.prepare.executionCondition))).toBe(true)
      expect(Buffer.from(decoded.data).equals(Buffer.from(input.prepare.data))).toBe(true)
      // The reference codec reads the same thing.
      const ref = IlpPacket.deserializeIlpPrepare(Buffer.from(sent[0]!.bytes))
      expect(ref.amount).toBe("90000000")
      expect(ref.expiresAt.getTime()).toBe(nowMs + 9_000)
      // The incoming packet is not mutated.
      expect(input.prepare.amount).toBe(100n)
      expect(input.prepare.expiresAt).toBe(nowMs + 10_000)
    }))

  it.effect("a Fulfill comes back as the Fulfill", () =>
    Effect.gen(function*() {
      const { exit } = yield* runDeliver(Effect.succeed(encodeFulfill(fulfill)))
      expect(exit._tag).toBe("Success")
      if (exit._tag !== "Success") return
      expect(Array.from(exit.value.fulfillment)).toEqual(Array.from(fulfill.fulfillment))
      expect(Array.from(exit.value.data)).toEqual(Array.from(fulfill.data))
    }))

  it.effect("a Reject → PeerRejected carrying the peer's reject unchanged (re-encodes to the same bytes)", () =>
    Effect.gen(function*() {
      const rejectBytes = IlpPacket.serializeIlpReject({
        code: "F99",
        triggeredBy: "test.bob.receiver",
        message: "their message ✓",
        data: Buffer.from([1, 2, 3, 4])
      })
      const error = yield* failureOf(Effect.succeed(rejectBytes))
      expect(error._tag).toBe("PeerRejected")
      if (error._tag !== "PeerRejected") return
      expect(error.reject).toMatchObject({ code: "F99", triggeredBy: "test.bob.receiver", message: "their message ✓" })
      expect(Array.from(error.reject.data)).toEqual([1, 2, 3, 4])
      const passedBack = toReject(error, ourAddress)
      expect(passedBack).toBe(error.reject)
      expect(Buffer.from(encodeReject(passedBack)).equals(rejectBytes)).toBe(true)
    }))

  it.effect.each([
    ["garbage", Uint8Array.from([0xde, 0xad, 0xbe, 0xef])],
    ["an empty body", new Uint8Array(0)],
    ["a Prepare", encodePrepare(request().prepare)],
    ["a truncated Fulfill", encodeFulfill(fulfill).subarray(0, 20)],
    ["a Fulfill with trailing bytes", Uint8Array.from([...encodeFulfill(fulfill), 0])]
  ] as const)("%s as the reply → InternalError (T00)", ([_, bytes]) =>
    Effect.gen(function*() {
      expect((yield* failureOf(Effect.succeed(bytes)))._tag).toBe("InternalError")
    }))

  it.effect("peer client failures (T01, R00) pass through unchanged", () =>
    Effect.gen(function*() {
      const unreachable = new PeerUnreachable({ reason: "ECONNREFUSED" })
      const expired = new Expired({ reason: "no reply before expiry" })
      expect(yield* failureOf(Effect.fail(unreachable))).toBe(unreachable)
      expect(yield* failureOf(Effect.fail(expired))).toBe(expired)
    }))
})

describe("stages/Deliver (local)", () => {
  it.effect("a local destination goes to the local receivers, not to any peer", () =>
    Effect.gen(function*() {
      const { client, sent } = fakePeerClient(Effect.die("no peer expected"))
      const delivered: Array<{ request: Timed; receiver: unknown }> = []
      const local: LocalReceiversShape = {
        match: () => Effect.succeed(undefined),
        settle: () => Effect.void,
        deliver: (req, receiver) =>
          Effect.sync(() => {
            delivered.push({ request: req, receiver })
            return fulfill
          })
      }
      const input = timed(priced(routedLocal(request())), nowMs + 10_000)
      expect(yield* deliver(client, local)(input)).toBe(fulfill)
      expect(sent).toHaveLength(0)
      expect(delivered).toHaveLength(1)
      expect(delivered[0]!.request).toBe(input)
      expect(delivered[0]!.receiver).toBe(localReceiver)
    }))
})
