import { describe, expect, it } from "vitest"
import { defaults, type PeerConfig } from "../../src/Config.ts"
import { peerAccount } from "../../src/Connector/Account.ts"
import { makeMemory } from "../../src/Connector/RateLimiter.ts"

const peer: PeerConfig = {
  id: "p",
  asset: { code: "USD", scale: 2 },
  incomingTokenHashes: [],
  outgoing: undefined,
  staticIlpAddress: "test.p",
  routes: [],
  routeWeight: 0,
  maxPacketAmount: undefined,
  rateLimit: undefined,
  throughputLimit: undefined,
  creditLimit: 0n
}

describe("peerAccount", () => {
  it("gives a peer without a configured packet rate the documented default", () => {
    expect(defaults.peerRateLimit).toEqual({ packetsPerSecond: 10_000, burst: 20_000 })
    expect(peerAccount(peer).rateLimit).toEqual(defaults.peerRateLimit)
    // The default is a real bound: a burst of 20 000 packets at one instant, then the 20 001st is refused.
    const buckets = makeMemory()
    const settings = peerAccount(peer).rateLimit!
    let taken = 0
    while (buckets.takePacket("peer:p", settings, 1_000) && taken <= settings.burst) taken++
    expect(taken).toBe(settings.burst)
  })

  it("keeps a configured packet rate", () => {
    const configured = { packetsPerSecond: 5, burst: 1 }
    expect(peerAccount({ ...peer, rateLimit: configured }).rateLimit).toEqual(configured)
  })
})
