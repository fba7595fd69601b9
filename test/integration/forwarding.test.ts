/**
 * Two running nodes over real sockets: a client posts to node A, which forwards to node B, which
 * forwards to a scriptable test peer. Covers the fulfill path and each reject the core owns.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { amountTooLargeData, encodePrepare, PacketType, type Reply } from "../../src/Connector/Packet.ts"
import { makePrepare } from "../support/packets.ts"
import { closedPort, fulfillFromData, startTestPeer, type TestPeer } from "../support/testPeer.ts"
import { depositTo, liquidityOf, postPacket, startNode, type TestNode } from "../support/node.ts"

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }
const clientToken = "client-token-for-node-a-000001"
const throttledToken = "throttled-token-for-node-a-0001"
const poorToken = "poor-client-token-for-node-a-01"
const aToB = "token-node-a-sends-to-node-b-01"
const bToPeer = "token-node-b-sends-to-peer-0001"

let peer: TestPeer
let nodeA: TestNode
let nodeB: TestNode

const rejectOf = (reply: Reply | undefined) => {
  if (reply?.type !== PacketType.Reject) throw new Error(`expected a reject, got ${JSON.stringify(reply)}`)
  return reply.reject
}

const send = (fields: Parameters<typeof makePrepare>[0], token = clientToken) => {
  const packet = makePrepare(fields)
  return postPacket(nodeA.url, packet.bytes, { token }).then((answer) => ({ ...answer, packet }))
}

beforeAll(async () => {
  peer = await startTestPeer()
  const deadPort = await closedPort()
  nodeB = await startNode({
    ilpAddress: "test.b",
    peers: [
      {
        id: "a",
        asset: usd,
        incomingTokens: [aToB],
        staticIlpAddress: "test.a"
      },
      {
        id: "peer",
        asset: usd,
        incomingTokens: ["token-peer-sends-to-node-b-01"],
        outgoing: { url: peer.url, token: bToPeer },
        staticIlpAddress: "test.peer"
      }
    ]
  })
  nodeA = await startNode({
    ilpAddress: "test.a",
    rates: { static: { USD: { EUR: "0.9", JPY: "0.001", CHF: "0.8" } } },
    peers: [
      {
        id: "client",
        asset: usd,
        incomingTokens: [clientToken],
        staticIlpAddress: "test.a.client",
        maxPacketAmount: "1000"
      },
      {
        id: "throttled",
        asset: usd,
        incomingTokens: [throttledToken],
        staticIlpAddress: "test.a.throttled",
        rateLimit: { packetsPerSecond: 0.001, burst: 2 },
        throughputLimit: { amount: "500", periodMs: 3600000 }
      },
      {
        id: "b",
        asset: usd,
        incomingTokens: ["token-node-b-sends-to-node-a-01"],
        outgoing: { url: nodeB.url, token: aToB },
        staticIlpAddress: "test.b",
        routes: ["test.peer"]
      },
      {
        id: "eur-peer",
        asset: eur,
        incomingTokens: ["token-eur-peer-to-node-a-00001"],
        outgoing: { url: peer.url, token: "token-node-a-to-eur-peer-0001" },
        staticIlpAddress: "test.eur"
      },
      {
        id: "jpy-peer",
        asset: { code: "JPY", scale: 0 },
        incomingTokens: ["token-jpy-peer-to-node-a-00001"],
        outgoing: { url: peer.url, token: "token-node-a-to-jpy-peer-0001" },
        staticIlpAddress: "test.jpy"
      },
      {
        id: "gbp-peer",
        asset: { code: "GBP", scale: 2 },
        incomingTokens: ["token-gbp-peer-to-node-a-00001"],
        outgoing: { url: peer.url, token: "token-node-a-to-gbp-peer-0001" },
        staticIlpAddress: "test.gbp"
      },
      {
        id: "poor",
        asset: usd,
        incomingTokens: [poorToken],
        staticIlpAddress: "test.a.poor"
      },
      {
        id: "chf-peer",
        asset: { code: "CHF", scale: 2 },
        incomingTokens: ["token-chf-peer-to-node-a-00001"],
        outgoing: { url: peer.url, token: "token-node-a-to-chf-peer-0001" },
        staticIlpAddress: "test.chf"
      },
      {
        id: "dead",
        asset: usd,
        incomingTokens: ["token-dead-peer-to-node-a-0001"],
        outgoing: { url: `http://127.0.0.1:${deadPort}/ilp`, token: "token-node-a-to-dead-peer-01" },
        staticIlpAddress: "test.dead"
      }
    ]
  })
  await depositTo(nodeB, { kind: "peer", peerId: "a" }, 1_000_000n)
  await depositTo(nodeA, { kind: "peer", peerId: "client" }, 1_000_000n)
  await depositTo(nodeA, { kind: "peer", peerId: "throttled" }, 1_000_000n)
  await depositTo(nodeA, { kind: "asset", asset: eur }, 1_000_000n)
  await depositTo(nodeA, { kind: "asset", asset: { code: "JPY", scale: 0 } }, 1_000_000n)
})

afterAll(async () => {
  await nodeA?.close()
  await nodeB?.close()
  await peer?.close()
})

describe("forwarding through two nodes", () => {
  it("fulfils a packet A → B → peer, with B's outgoing token and a rewritten expiry", async () => {
    peer.behaviour = fulfillFromData
    const before = peer.received.length
    const clientBefore = await liquidityOf(nodeA, { kind: "peer", peerId: "client" })
    const bBefore = await liquidityOf(nodeA, { kind: "peer", peerId: "b" })
    const aAtB = await liquidityOf(nodeB, { kind: "peer", peerId: "a" })
    const { status, reply, packet } = await send({ destination: "test.peer.alice", amount: 250n })
    expect(status).toBe(200)
    // Posted on both nodes: the source debited, the next hop credited, nothing pending.
    expect(await liquidityOf(nodeA, { kind: "peer", peerId: "client" })).toBe(clientBefore - 250n)
    expect(await liquidityOf(nodeA, { kind: "peer", peerId: "b" })).toBe(bBefore + 250n)
    expect(await liquidityOf(nodeB, { kind: "peer", peerId: "a" })).toBe(aAtB - 250n)
    expect(reply?.type).toBe(PacketType.Fulfill)
    if (reply?.type === PacketType.Fulfill) expect(Buffer.from(reply.fulfill.fulfillment)).toEqual(packet.fulfillment)
    const seen = peer.received[before]!
    expect(seen.authorization).toBe(`Bearer ${bToPeer}`)
    expect(seen.contentType).toBe("application/octet-stream")
    expect(seen.prepare.amount).toBe(250n)
    // Each hop takes at least the 1 s message window off the expiry.
    expect(seen.prepare.expiresAt).toBeLessThanOrEqual(packet.prepare.expiresAt - 2_000)
  })

  it("converts cross-asset amounts with the configured rate, rounding down, and moves both liquidities", async () => {
    peer.behaviour = fulfillFromData
    const before = peer.received.length
    const usdLiquidity = await liquidityOf(nodeA, { kind: "asset", asset: usd })
    const eurLiquidity = await liquidityOf(nodeA, { kind: "asset", asset: eur })
    const { reply } = await send({ destination: "test.eur.bob", amount: 999n })
    expect(reply?.type).toBe(PacketType.Fulfill)
    expect(peer.received[before]!.prepare.amount).toBe(899n) // 999 × 0.9 = 899.1 → 899
    expect(await liquidityOf(nodeA, { kind: "asset", asset: usd })).toBe(usdLiquidity + 999n)
    expect(await liquidityOf(nodeA, { kind: "asset", asset: eur })).toBe(eurLiquidity - 899n)
  })

  it("leaves balances untouched when the packet is rejected downstream", async () => {
    peer.behaviour = () => ({ reject: { code: "F99", triggeredBy: "test.peer", message: "", data: new Uint8Array(0) } })
    const clientBefore = await liquidityOf(nodeA, { kind: "peer", peerId: "client" })
    const bBefore = await liquidityOf(nodeA, { kind: "peer", peerId: "b" })
    const { reply } = await send({ destination: "test.peer.alice", amount: 400n })
    expect(reply?.type).toBe(PacketType.Reject)
    expect(await liquidityOf(nodeA, { kind: "peer", peerId: "client" })).toBe(clientBefore)
    expect(await liquidityOf(nodeA, { kind: "peer", peerId: "b" })).toBe(bBefore)
  })

  it("passes a peer's reject back unchanged (triggeredBy stays the peer's)", async () => {
    const reject = { code: "F99", triggeredBy: "test.peer", message: "no thanks", data: Buffer.from("app-data") }
    peer.behaviour = () => ({ reject })
    const { reply } = await send({ destination: "test.peer.alice" })
    const got = rejectOf(reply)
    expect(got.code).toBe("F99")
    expect(got.triggeredBy).toBe("test.peer")
    expect(got.message).toBe("no thanks")
    expect(Buffer.from(got.data).toString()).toBe("app-data")
  })

  it("answers ILDCP with the peer's own address and asset", async () => {
    const { prepare: _, ...rest } = makePrepare({ destination: "peer.config", amount: 0n })
    void rest
    const fulfillment = new Uint8Array(32)
    const { sha256 } = await import("../../src/Connector/Packet.ts")
    const bytes = encodePrepare({
      amount: 0n,
      destination: "peer.config",
      executionCondition: sha256(fulfillment),
      expiresAt: Date.now() + 5000,
      data: new Uint8Array(0)
    })
    const { reply } = await postPacket(nodeA.url, bytes, { token: clientToken })
    expect(reply?.type).toBe(PacketType.Fulfill)
    if (reply?.type === PacketType.Fulfill) {
      const data = Buffer.from(reply.fulfill.data)
      const addressLength = data[0]!
      expect(data.subarray(1, 1 + addressLength).toString("ascii")).toBe("test.a.client")
      expect(data[1 + addressLength]).toBe(2)
      expect(data.subarray(3 + addressLength).toString("ascii")).toBe("USD")
    }
  })
})

describe("rejects created by the node", () => {
  const expectReject = async (fields: Parameters<typeof makePrepare>[0], code: string, token = clientToken) => {
    const { status, reply } = await send(fields, token)
    expect(status).toBe(200)
    const reject = rejectOf(reply)
    expect(reject.code).toBe(code)
    expect(reject.triggeredBy).toBe("test.a")
    return reject
  }

  it("F01 for bytes that are not a Prepare", async () => {
    const { status, reply } = await postPacket(nodeA.url, Buffer.from("definitely not ILP"), { token: clientToken })
    expect(status).toBe(200)
    expect(rejectOf(reply).code).toBe("F01")
  })

  it("F02 when there is no route", () => expectReject({ destination: "test.nowhere.x" }, "F02"))

  it("F02 for an address under our own with no local receiver", () => expectReject({ destination: "test.a.zzz" }, "F02"))

  it("F08 with the exact RFC 27 data", async () => {
    const reject = await expectReject({ destination: "test.peer.alice", amount: 1001n }, "F08")
    expect(Buffer.from(reject.data)).toEqual(Buffer.from(amountTooLargeData(1001n, 1000n)))
  })

  it("accepts exactly maxPacketAmount", async () => {
    peer.behaviour = fulfillFromData
    const { reply } = await send({ destination: "test.peer.alice", amount: 1000n })
    expect(reply?.type).toBe(PacketType.Fulfill)
  })

  it("R00 for a packet that expired before it arrived", () =>
    expectReject({ destination: "test.peer.alice", expiresAt: Date.now() - 1 }, "R00"))

  it("R02 when too little time is left to forward", () =>
    expectReject({ destination: "test.peer.alice", expiresAt: Date.now() + 1_500 }, "R02"))

  it("R00 when the peer does not answer before the outgoing expiry", async () => {
    // The peer would answer after 20 s; the node gives up at the outgoing expiry (incoming expiry
    // minus the 1 s window, ~2 s from now). The bound only shows it did not wait for the peer: a busy
    // machine may add seconds, never the 18 s between the two.
    peer.behaviour = (prepare) => ({ delayMs: 20_000, then: fulfillFromData(prepare) })
    const started = Date.now()
    await expectReject({ destination: "test.eur.slow", expiresAt: Date.now() + 3_000 }, "R00")
    expect(Date.now() - started).toBeLessThan(15_000)
  })

  it("T01 when the peer answers an HTTP error", async () => {
    peer.behaviour = () => ({ status: 503 })
    await expectReject({ destination: "test.eur.bob" }, "T01")
  })

  it("T01 when the peer refuses connections", () => expectReject({ destination: "test.dead.x" }, "T01"))

  it("T00 when the peer's reply is not an ILP packet", async () => {
    peer.behaviour = () => ({ raw: Buffer.from("garbage") })
    const reject = await expectReject({ destination: "test.eur.bob" }, "T00")
    expect(reject.message).toBe("unexpected internal error")
  })

  it("F05 when the fulfillment does not match the condition", async () => {
    peer.behaviour = () => ({ fulfill: new Uint8Array(32).fill(7) })
    await expectReject({ destination: "test.eur.bob" }, "F05")
  })

  it("T04 when the source has no liquidity", () => expectReject({ destination: "test.peer.x" }, "T04", poorToken))

  it("T04 when the node has no liquidity in the destination asset", () =>
    expectReject({ destination: "test.chf.x", amount: 500n }, "T04"))

  it("F07 when there is no rate for the pair", () => expectReject({ destination: "test.gbp.x" }, "F07"))

  it("R01 when a non-zero amount converts to zero", () =>
    expectReject({ destination: "test.jpy.x", amount: 5n }, "R01"))

  it("T05 once the packet rate limit is used up, T04 past the throughput limit", async () => {
    peer.behaviour = fulfillFromData
    // Burst 2, refill ~never: the third packet is rate limited.
    const first = await send({ destination: "test.peer.x", amount: 300n }, throttledToken)
    expect(first.reply?.type).toBe(PacketType.Fulfill)
    // Throughput 500 per hour: 300 used, 201 more is over.
    await expectReject({ destination: "test.peer.x", amount: 201n }, "T04", throttledToken)
    await expectReject({ destination: "test.peer.x", amount: 1n }, "T05", throttledToken)
  })
})

describe("HTTP-level answers", () => {
  const valid = () => makePrepare({ destination: "test.peer.alice" }).bytes

  it("401 without a token, with a malformed header, or with an unknown token", async () => {
    expect((await postPacket(nodeA.url, valid())).status).toBe(401)
    expect((await postPacket(nodeA.url, valid(), { headers: { authorization: "Basic abc" } })).status).toBe(401)
    expect((await postPacket(nodeA.url, valid(), { token: "not-a-configured-token-000" })).status).toBe(401)
  })

  it("accepts the bearer scheme case-insensitively and both content types", async () => {
    peer.behaviour = fulfillFromData
    const answer = await postPacket(nodeA.url, valid(), {
      headers: { authorization: `bEaReR ${clientToken}`, "content-type": "application/ilp+octet-stream" }
    })
    expect(answer.status).toBe(200)
    expect(answer.reply?.type).toBe(PacketType.Fulfill)
  })

  it("400 for another content type", async () => {
    const answer = await postPacket(nodeA.url, valid(), { token: clientToken, headers: { "content-type": "text/plain" } })
    expect(answer.status).toBe(400)
  })

  it("413 for a body over 64 KiB", async () => {
    const answer = await postPacket(nodeA.url, new Uint8Array(64 * 1024 + 1), { token: clientToken })
    expect(answer.status).toBe(413)
  })

  it("404 for another path and 405 for another method", async () => {
    const base = nodeA.url.replace(/\/ilp$/, "")
    expect((await postPacket(`${base}/elsewhere`, valid(), { token: clientToken })).status).toBe(404)
    expect((await fetch(nodeA.url, { method: "GET" })).status).toBe(405)
    expect((await postPacket(`${base}/`, valid(), { token: clientToken })).status).toBe(200)
  })
})
