/**
 * Limits hold across instances (SPEC §1, production profile): two nodes — two instances of one
 * connector, same address, same peers — share one real `redis-server`. A client peer sends to them
 * alternately; each node alone would let its full burst through, together they let it through once.
 * The upstream is a scriptable test peer that fulfils every packet.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { PacketType } from "../../src/Connector/Packet.ts"
import { makePrepare } from "../support/packets.ts"
import { type RedisServer, startRedis } from "../support/redis.ts"
import { fulfillFromData, startTestPeer, type TestPeer } from "../support/testPeer.ts"
import { depositTo, postPacket, startNode, type TestNode } from "../support/node.ts"

const usd = { code: "USD", scale: 2 }
const burst = 5
const throughputAmount = 1_000n
const rateToken = "shared-limits-rate-client-0001"
const concurrentBurst = 8
const concurrentToken = "shared-limits-concurrent-client"
const throughputToken = "shared-limits-throughput-client-1"

let redis: RedisServer
let upstream: TestPeer
let nodes: ReadonlyArray<TestNode> = []

const peers = (upstreamUrl: string) => [
  {
    id: "rate-client",
    asset: usd,
    incomingTokens: [rateToken],
    staticIlpAddress: "test.shared.rate-client",
    // Burst 5, ~0 refill (one packet per 1000 s).
    rateLimit: { packetsPerSecond: 0.001, burst }
  },
  {
    id: "concurrent-client",
    asset: usd,
    incomingTokens: [concurrentToken],
    staticIlpAddress: "test.shared.concurrent-client",
    rateLimit: { packetsPerSecond: 0.001, burst: concurrentBurst }
  },
  {
    id: "throughput-client",
    asset: usd,
    incomingTokens: [throughputToken],
    staticIlpAddress: "test.shared.throughput-client",
    throughputLimit: { amount: throughputAmount.toString(), periodMs: 30 * 86_400_000 }
  },
  {
    id: "upstream",
    asset: usd,
    incomingTokens: ["shared-limits-upstream-token-01"],
    outgoing: { url: upstreamUrl, token: "shared-limits-to-upstream-0001" },
    staticIlpAddress: "test.upstream"
  }
]

/** Sends packet `i` to node `i mod 2` and answers its ILP code ("fulfill" for a Fulfill). */
const sendTo = async (i: number, token: string, amount: bigint): Promise<string> => {
  const node = nodes[i % nodes.length]!
  const { status, reply } = await postPacket(node.url, makePrepare({ destination: "test.upstream.x", amount }).bytes, {
    token
  })
  expect(status).toBe(200)
  if (reply === undefined) throw new Error("no ILP reply")
  return reply.type === PacketType.Fulfill ? "fulfill" : reply.reject.code
}

beforeAll(async () => {
  redis = await startRedis()
  upstream = await startTestPeer(fulfillFromData)
  nodes = await Promise.all([0, 1].map(() =>
    startNode({ ilpAddress: "test.shared", redisUrl: redis.url, peers: peers(upstream.url) })
  ))
  for (const node of nodes) {
    await depositTo(node, { kind: "peer", peerId: "rate-client" }, 1_000_000n)
    await depositTo(node, { kind: "peer", peerId: "concurrent-client" }, 1_000_000n)
    await depositTo(node, { kind: "peer", peerId: "throughput-client" }, 1_000_000n)
  }
})

afterAll(async () => {
  for (const node of nodes) await node.close()
  await upstream?.close()
  await redis?.stop()
})

describe("limits shared by two instances through Redis", () => {
  it("the packet rate limit: exactly the burst is fulfilled in total, the rest is T05", async () => {
    const before = upstream.received.length
    const codes: Array<string> = []
    for (let i = 0; i < 2 * burst + 2; i++) codes.push(await sendTo(i, rateToken, 10n))
    expect(codes).toEqual([...Array<string>(burst).fill("fulfill"), ...Array<string>(burst + 2).fill("T05")])
    expect(upstream.received.length - before).toBe(burst)
  })

  it("the packet rate limit under concurrency: still exactly the burst in total", async () => {
    const codes = await Promise.all(Array.from({ length: 3 * concurrentBurst }, (_, i) => sendTo(i, concurrentToken, 10n)))
    expect(codes.filter((code) => code === "fulfill").length).toBe(concurrentBurst)
    expect(codes.filter((code) => code === "T05").length).toBe(2 * concurrentBurst)
  })

  it("the throughput limit: exact across nodes, the amount that reaches it passes, one unit more is T04", async () => {
    const amounts = [400n, 400n, 201n, 200n, 1n]
    const codes: Array<string> = []
    for (const [i, amount] of amounts.entries()) codes.push(await sendTo(i, throughputToken, amount))
    expect(codes).toEqual(["fulfill", "fulfill", "T04", "fulfill", "T04"])
  })

  // Last: it stops Redis.
  it("Redis down: limited packets are T00 from both nodes, never T05 or T04 (an outage is not a limit)", async () => {
    await redis.stop()
    const started = Date.now()
    const codes = [
      await sendTo(0, rateToken, 10n),
      await sendTo(1, rateToken, 10n),
      await sendTo(0, throughputToken, 1n),
      await sendTo(1, throughputToken, 1n)
    ]
    expect(codes).toEqual(["T00", "T00", "T00", "T00"])
    // No offline queue: each answer comes at once instead of after the 1 s command timeout (queued,
    // the four would take at least 4 s; the margin below that is for a busy machine).
    expect(Date.now() - started).toBeLessThan(3_500)
  })
})
