/**
 * Issue 11, must show: `/metrics` of a running node, parsed by a Prometheus text-format parser
 * (`parse-prometheus-text-format`), has per-peer series that match the packets sent over real
 * sockets; latency histograms (packet, ledger, Redis) are well formed; liquidity gauges match the
 * ledger; and `/healthz` names a dependency that stopped (Redis, stopped by the test).
 *
 * The parser is `prom2javascript` 0.2.0: `parse-prometheus-text-format` 1.1.1 was tried first and
 * merges every label set of a histogram into one sample, dropping the labelled counts.
 */
import {
  getMetricsFromIterator,
  type PromData,
  type PromHistogramData,
  type PromMetric,
  type PromMetrics
} from "prom2javascript"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { PacketType } from "../../src/Connector/Packet.ts"
import { makePrepare } from "../support/packets.ts"
import { postPacket, startNode, type TestNode } from "../support/node.ts"
import { type RedisServer, startRedis } from "../support/redis.ts"
import { startTestPeer, type TestPeer } from "../support/testPeer.ts"

const adminToken = "admin-token-for-metrics-test-01"
const senderToken = "sender-token-for-metrics-000001"
const usd = { code: "USD", scale: 2 }
let redis: RedisServer
let peer: TestPeer
let node: TestNode

const admin = (path: string, token: string | null = adminToken) =>
  fetch(`http://127.0.0.1:${node.adminPort}${path}`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } })

const scrape = async (): Promise<PromMetrics> => {
  const response = await admin("/metrics")
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toContain("text/plain")
  const text = await response.text()
  return getMetricsFromIterator(text.split("\n")[Symbol.iterator]())
}

const family = (families: PromMetrics, name: string): PromMetric => {
  const found = families[name]
  if (found === undefined) throw new Error(`no metric family ${name}`)
  return found
}

const matches = (labels: Record<string, string>, wanted: Record<string, string>) =>
  Object.entries(wanted).every(([k, v]) => labels[k] === v)

const sample = (f: PromMetric, labels: Record<string, string>): PromData | undefined =>
  (f.data as ReadonlyArray<PromData>).find((s) => matches(s.labels, labels))

const histogram = (f: PromMetric, labels: Record<string, string>): PromHistogramData => {
  const found = (f.data as ReadonlyArray<PromHistogramData>).find((s) => matches(s.labels, labels))
  if (found === undefined) throw new Error(`no histogram sample ${JSON.stringify(labels)}`)
  return found
}

const valueOf = (families: PromMetrics, name: string, labels: Record<string, string> = {}): number => {
  const found = sample(family(families, name), labels)
  if (found === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)}`)
  return found.value
}

/** A histogram sample is well formed: buckets cumulative, `+Inf` equal to the count. */
const checkHistogram = (s: PromHistogramData): number => {
  const bounds = Object.keys(s.buckets).filter((le) => le !== "+Inf").sort((a, b) => Number(a) - Number(b))
  expect(bounds.length).toBeGreaterThan(5)
  let previous = 0
  for (const bound of bounds) {
    expect(s.buckets[bound]!).toBeGreaterThanOrEqual(previous)
    previous = s.buckets[bound]!
  }
  expect(s.buckets["+Inf"]).toBe(s.count)
  expect(s.count).toBeGreaterThanOrEqual(previous)
  return s.count
}

const send = (destination: string, amount: bigint) =>
  postPacket(node.url, makePrepare({ destination, amount }).bytes, { token: senderToken })

beforeAll(async () => {
  redis = await startRedis()
  peer = await startTestPeer()
  node = await startNode({
    ilpAddress: "test.metrics",
    adminToken,
    redisUrl: redis.url,
    assets: [usd],
    peers: [
      {
        id: "sender",
        asset: usd,
        incomingTokens: [senderToken],
        staticIlpAddress: "test.metrics.sender",
        maxPacketAmount: "1000",
        rateLimit: { packetsPerSecond: 1000, burst: 1000 }
      },
      {
        id: "receiver",
        asset: usd,
        incomingTokens: ["receiver-token-for-metrics-0001"],
        outgoing: { url: peer.url, token: "outgoing-token-for-metrics-001" },
        staticIlpAddress: "test.receiver",
        creditLimit: "250"
      }
    ]
  })
  const deposit = await fetch(`http://127.0.0.1:${node.adminPort}/deposits`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "metrics-deposit-1", peerId: "sender", amount: "1000000" })
  })
  expect(deposit.status).toBe(200)
}, 60_000)

afterAll(async () => {
  await node?.close()
  await peer?.close()
  await redis?.stop()
})

describe("/metrics on a running node", () => {
  it("needs the admin token", async () => {
    expect((await admin("/metrics", null)).status).toBe(401)
  })

  it("counts packets per peer by outcome and amounts in and out, matching what was sent", async () => {
    const fulfilledAmounts = [100n, 250n, 1000n, 1n, 99n, 500n, 300n]
    const outcomes: Array<string> = []
    for (const amount of fulfilledAmounts) outcomes.push(replyCode(await send("test.receiver.bob", amount)))
    for (let i = 0; i < 3; i++) outcomes.push(replyCode(await send("test.nowhere.x", 10n)))
    for (let i = 0; i < 2; i++) outcomes.push(replyCode(await send("test.receiver.bob", 5_000n)))
    expect(outcomes).toEqual([...fulfilledAmounts.map(() => "fulfill"), "F02", "F02", "F02", "F08", "F08"])
    const total = fulfilledAmounts.reduce((a, b) => a + b, 0n)

    const families = await scrape()
    const packets = family(families, "ilp_packets_total")
    expect(packets.type).toBe("counter")
    const of = (outcome: string) => valueOf(families, "ilp_packets_total", { source: "peer", peer: "sender", outcome })
    expect(of("fulfill")).toBe(7)
    expect(of("F02")).toBe(3)
    expect(of("F08")).toBe(2)
    expect(sample(packets, { peer: "receiver" })).toBeUndefined() // it sent nothing
    expect(valueOf(families, "ilp_peer_amount_in_total", { peer: "sender" })).toBe(Number(total))
    expect(valueOf(families, "ilp_peer_amount_out_total", { peer: "receiver" })).toBe(Number(total))
    expect(valueOf(families, "ilp_packets_in_flight")).toBe(0)

    // Liquidity gauges: what the ledger says now.
    expect(valueOf(families, "ilp_peer_liquidity", { peer: "sender" })).toBe(1_000_000 - Number(total))
    expect(valueOf(families, "ilp_peer_liquidity", { peer: "receiver" })).toBe(250 + Number(total))
    expect(valueOf(families, "ilp_peer_credit_limit", { peer: "receiver" })).toBe(250)
    expect(valueOf(families, "ilp_asset_liquidity", { asset: "USD", scale: "2" })).toBe(0)

    // One histogram per latency, well formed; the packet histogram saw every packet.
    const packetLatency = family(families, "ilp_packet_duration_seconds")
    expect(packetLatency.type).toBe("histogram")
    expect(checkHistogram(histogram(packetLatency, {}))).toBe(12)
    const ledger = family(families, "ilp_ledger_request_duration_seconds")
    expect(checkHistogram(histogram(ledger, { operation: "reserve" }))).toBe(7)
    expect(checkHistogram(histogram(ledger, { operation: "post" }))).toBe(7)
    const redisLatency = family(families, "ilp_redis_command_duration_seconds")
    // One limiter script per packet that reached the rate-limit stage (the F08s stop before it).
    expect(checkHistogram(histogram(redisLatency, { store: "rate_limits", command: "evalsha" }))).toBe(10)
    expect(checkHistogram(histogram(redisLatency, { store: "health", command: "ping" }))).toBeGreaterThanOrEqual(1)
    expect(valueOf(families, "ilp_dependency_up", { dependency: "redis" })).toBe(1)
    expect(valueOf(families, "ilp_dependency_up", { dependency: "ledger" })).toBe(1)
  })
})

describe("/healthz", () => {
  it("is ok while every dependency answers, and names Redis once the test stops it", async () => {
    const ok = await admin("/healthz", null)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ status: "ok", checks: { ledger: "ok", redis: "ok" } })

    await redis.stop()
    const deadline = Date.now() + 20_000
    let answer: { status: number; body: any } = { status: 0, body: undefined }
    while (Date.now() < deadline) {
      const response = await admin("/healthz", null)
      answer = { status: response.status, body: await response.json() }
      if (answer.status === 503) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(answer.status).toBe(503)
    expect(answer.body).toMatchObject({ status: "unavailable", checks: { ledger: "ok", redis: "unavailable" } })
    expect(answer.body.message).toContain("redis")
    expect(valueOf(await scrape(), "ilp_dependency_up", { dependency: "redis" })).toBe(0)
  })
})

const replyCode = (answer: Awaited<ReturnType<typeof postPacket>>): string => {
  if (answer.reply === undefined) throw new Error(`no ILP reply: HTTP ${answer.status}`)
  return answer.reply.type === PacketType.Fulfill ? "fulfill" : answer.reply.reject.code
}
