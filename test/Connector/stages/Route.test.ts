/**
 * Stage 7: local receivers first for addresses under ours, else the route table; never back to the
 * source; nothing found is F02.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { SourceAccount } from "../../../src/Connector/Account.ts"
import { InternalError } from "../../../src/Connector/IlpErrors.ts"
import type { LocalReceiversShape } from "../../../src/Connector/LocalReceivers.ts"
import { make as makePeers } from "../../../src/Connector/Peers.ts"
import type { Routed } from "../../../src/Connector/Stage.ts"
import { route } from "../../../src/Connector/stages/Route.ts"
import { localReceiver, ourAddress, peerConfig, request, spy } from "../fixtures.ts"

const peers = makePeers([
  peerConfig({ id: "bob", staticIlpAddress: "test.bob" }),
  peerConfig({ id: "carol", staticIlpAddress: "test.carol", routes: ["test.us.forwarded"] })
])

/** Matches exactly one address under ours; counts how often it is asked. */
const fakeReceivers = (matching = `${ourAddress}.wallet.alice`) => {
  const asked: Array<string> = []
  const receivers: LocalReceiversShape = {
    match: (req) =>
      Effect.sync(() => {
        asked.push(req.prepare.destination)
        return req.prepare.destination === matching ? localReceiver : undefined
      }),
    deliver: () => Effect.die("deliver is not this stage's business"),
    settle: () => Effect.void
  }
  return { receivers, asked }
}

const to = (destination: string, source: Partial<SourceAccount> = {}) =>
  request({ prepare: { destination }, source })

describe("stages/Route", () => {
  it.effect("an address a local receiver claims goes local", () =>
    Effect.gen(function*() {
      const { receivers, asked } = fakeReceivers()
      const terminal = spy<Routed>()
      const input = to(`${ourAddress}.wallet.alice`)
      yield* route(ourAddress, peers, receivers)(terminal.handler)(input)
      expect(asked).toEqual([`${ourAddress}.wallet.alice`])
      expect(terminal.calls).toHaveLength(1)
      expect(terminal.calls[0]!.destination).toEqual({ kind: "local", receiver: localReceiver })
      expect(terminal.calls[0]!.prepare).toBe(input.prepare)
      expect("destination" in input).toBe(false) // input not mutated
    }))

  it.effect("an address under ours that no receiver claims falls back to the route table", () =>
    Effect.gen(function*() {
      const { receivers, asked } = fakeReceivers()
      const terminal = spy<Routed>()
      yield* route(ourAddress, peers, receivers)(terminal.handler)(to(`${ourAddress}.forwarded.x`))
      expect(asked).toHaveLength(1)
      const destination = terminal.calls[0]!.destination
      expect(destination.kind === "peer" && destination.peer.config.id).toBe("carol")
    }))

  it.effect("an unclaimed address under ours with no route is Unreachable", () =>
    Effect.gen(function*() {
      const { receivers } = fakeReceivers()
      const terminal = spy<Routed>()
      const error = yield* Effect.flip(route(ourAddress, peers, receivers)(terminal.handler)(to(`${ourAddress}.wallet.mallory`)))
      expect(error._tag).toBe("Unreachable")
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("addresses not under ours (nor ours itself, nor a sibling like test.usx) never ask the receivers", () =>
    Effect.gen(function*() {
      const { receivers, asked } = fakeReceivers()
      const terminal = spy<Routed>()
      const handler = route(ourAddress, peers, receivers)(terminal.handler)
      yield* handler(to("test.bob.wallet"))
      expect((yield* Effect.flip(handler(to(ourAddress))))._tag).toBe("Unreachable")
      expect((yield* Effect.flip(handler(to(`${ourAddress}x.wallet.alice`))))._tag).toBe("Unreachable")
      expect(asked).toEqual([])
      const destination = terminal.calls[0]!.destination
      expect(destination.kind === "peer" && destination.peer.config.id).toBe("bob")
    }))

  it.effect("no route → Unreachable, next not called", () =>
    Effect.gen(function*() {
      const terminal = spy<Routed>()
      const error = yield* Effect.flip(route(ourAddress, peers, fakeReceivers().receivers)(terminal.handler)(to("g.nowhere")))
      expect(error._tag).toBe("Unreachable")
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("never back to the source peer", () =>
    Effect.gen(function*() {
      const terminal = spy<Routed>()
      const input = to("test.bob.wallet", { id: "bob", key: "peer:bob", kind: "peer" })
      const error = yield* Effect.flip(route(ourAddress, peers, fakeReceivers().receivers)(terminal.handler)(input))
      expect(error._tag).toBe("Unreachable")
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("a local source account with a peer's id is not mistaken for that peer", () =>
    Effect.gen(function*() {
      const terminal = spy<Routed>()
      const input = to("test.bob.wallet", { id: "bob", key: "local:bob", kind: "local" })
      yield* route(ourAddress, peers, fakeReceivers().receivers)(terminal.handler)(input)
      const destination = terminal.calls[0]!.destination
      expect(destination.kind === "peer" && destination.peer.config.id).toBe("bob")
    }))

  it.effect("a receiver lookup failure propagates, next not called", () =>
    Effect.gen(function*() {
      const failure = new InternalError({ reason: "store down" })
      const receivers: LocalReceiversShape = {
        match: () => Effect.fail(failure),
        deliver: () => Effect.die("no"),
        settle: () => Effect.void
      }
      const terminal = spy<Routed>()
      const error = yield* Effect.flip(route(ourAddress, peers, receivers)(terminal.handler)(to(`${ourAddress}.wallet.alice`)))
      expect(error).toBe(failure)
      expect(terminal.calls).toHaveLength(0)
    }))

  it.effect("routes follow a peer set replaced at runtime", () =>
    Effect.gen(function*() {
      const live = makePeers([peerConfig({ id: "bob", staticIlpAddress: "test.bob" })])
      const terminal = spy<Routed>()
      const handler = route(ourAddress, live, fakeReceivers().receivers)(terminal.handler)
      expect((yield* Effect.flip(handler(to("test.dave.1"))))._tag).toBe("Unreachable")
      live.replace([peerConfig({ id: "dave", staticIlpAddress: "test.dave" })])
      yield* handler(to("test.dave.1"))
      const destination = terminal.calls[0]!.destination
      expect(destination.kind === "peer" && destination.peer.config.id).toBe("dave")
    }))
})
