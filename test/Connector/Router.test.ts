/**
 * Longest-prefix routing on segment boundaries, never back to the source, deterministic ties.
 */
import { describe, expect, it } from "vitest"
import type { PeerConfig } from "../../src/Config.ts"
import { makeRouteTable } from "../../src/Connector/Router.ts"

const peer = (id: string, staticIlpAddress: string, routes: Array<string> = [], routeWeight = 0): PeerConfig => ({
  id,
  asset: { code: "USD", scale: 2 },
  incomingTokenHashes: [],
  outgoing: undefined,
  staticIlpAddress,
  routes,
  routeWeight,
  maxPacketAmount: undefined,
  rateLimit: undefined,
  throughputLimit: undefined,
  creditLimit: 0n
})

const next = (peers: ReadonlyArray<PeerConfig>, destination: string, source?: string): string | undefined =>
  makeRouteTable(peers).lookup(destination, source)?.peerId

describe("Router.makeRouteTable", () => {
  it("routes to the peer whose static address is a prefix of the destination", () => {
    const peers = [peer("bob", "test.bob"), peer("carol", "test.carol")]
    expect(next(peers, "test.bob.wallet.123")).toBe("bob")
    expect(next(peers, "test.carol.x")).toBe("carol")
  })

  it("an exact address match routes", () => {
    expect(next([peer("bob", "test.bob")], "test.bob")).toBe("bob")
    expect(next([peer("bob", "test.bob", ["g.usd.exact"])], "g.usd.exact")).toBe("bob")
  })

  it("the longest prefix wins, whatever the order of configuration", () => {
    const wide = peer("wide", "test.wide", ["test.hub"])
    const narrow = peer("narrow", "test.narrow", ["test.hub.eu"])
    const narrower = peer("narrower", "test.narrower", ["test.hub.eu.de"])
    for (const peers of [[wide, narrow, narrower], [narrower, narrow, wide], [narrow, narrower, wide]]) {
      expect(next(peers, "test.hub.eu.de.berlin")).toBe("narrower")
      expect(next(peers, "test.hub.eu.fr")).toBe("narrow")
      expect(next(peers, "test.hub.us")).toBe("wide")
      expect(next(peers, "test.hub")).toBe("wide")
    }
  })

  it("matches on segment boundaries only: `test.bo` does not match `test.bob`", () => {
    const peers = [peer("bo", "test.bo"), peer("bob", "test.bob")]
    expect(next(peers, "test.bob")).toBe("bob")
    expect(next(peers, "test.bobby")).toBeUndefined()
    expect(next(peers, "test.bo.x")).toBe("bo")
    expect(next([peer("bo", "test.bo")], "test.bob.x")).toBeUndefined()
    expect(next([peer("bo", "test.bo")], "test.bo-b")).toBeUndefined()
  })

  it("a prefix longer than the destination does not match", () => {
    expect(next([peer("bob", "test.bob.sub")], "test.bob")).toBeUndefined()
  })

  it("never routes back to the source peer", () => {
    const peers = [peer("bob", "test.bob")]
    expect(next(peers, "test.bob.x", "bob")).toBeUndefined()
    expect(next(peers, "test.bob.x", "carol")).toBe("bob")
  })

  it("with the source excluded, the next-best route at the same prefix is taken", () => {
    const peers = [peer("a", "test.a", ["test.shared"], 5), peer("b", "test.b", ["test.shared"], 1)]
    expect(next(peers, "test.shared.x")).toBe("a")
    expect(next(peers, "test.shared.x", "a")).toBe("b")
  })

  it("a shorter prefix is not used to route around the source's own more specific claim", () => {
    // Documented in Router.ts: the longest matching prefix decides.
    const peers = [peer("hub", "test.hub", ["g.region"]), peer("bob", "g.region.bob")]
    expect(next(peers, "g.region.bob.x", "bob")).toBeUndefined()
    expect(next(peers, "g.region.dave.x", "bob")).toBe("hub")
  })

  it("ties: the highest weight wins", () => {
    const peers = [peer("a", "test.a", ["test.shared"], 1), peer("z", "test.z", ["test.shared"], 10)]
    expect(next(peers, "test.shared.x")).toBe("z")
    expect(next([...peers].reverse(), "test.shared.x")).toBe("z")
  })

  it("ties at equal weight: the smallest peer id, independent of configuration order", () => {
    const ids = ["mallory", "alice", "trent", "bob"]
    const build = (order: ReadonlyArray<string>) => order.map((id) => peer(id, `test.${id}`, ["test.shared"]))
    for (const order of [ids, [...ids].reverse(), [...ids].sort()]) {
      expect(next(build(order), "test.shared.x")).toBe("alice")
      expect(next(build(order), "test.shared.x", "alice")).toBe("bob")
    }
  })

  it("negative weights rank below zero", () => {
    const peers = [peer("a", "test.a", ["test.shared"], -1), peer("b", "test.b", ["test.shared"], 0)]
    expect(next(peers, "test.shared.x")).toBe("b")
  })

  it("no route: undefined", () => {
    expect(next([], "test.bob")).toBeUndefined()
    expect(next([peer("bob", "test.bob")], "g.bob")).toBeUndefined()
    expect(next([peer("bob", "test.bob")], "test1.bob")).toBeUndefined()
  })

  it("the lookup returns the matched prefix and counts each (prefix, peer) once", () => {
    const table = makeRouteTable([peer("bob", "test.bob", ["test.bob", "test.carol"])])
    expect(table.size).toBe(2)
    expect(table.lookup("test.carol.1", undefined)).toEqual({ prefix: "test.carol", peerId: "bob", weight: 0 })
  })
})
