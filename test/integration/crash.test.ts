/**
 * Kill -9 during load, then restart on the same data directory: no money is created or lost, the
 * reservations of packets that were in flight are voided, and the audit command finds the ledger
 * clean. Runs the node as a real process, as an operator would.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Pool } from "undici"
import { afterAll, describe, expect, it } from "vitest"
import { PacketType } from "../../src/Connector/Packet.ts"
import { decodeReply, isDecodeFailure } from "../../src/Connector/Packet.ts"
import { makePrepare } from "../support/packets.ts"
import { type NodeProcess, runCli, startNodeProcess } from "../support/process.ts"
import { waitUntil } from "../support/wait.ts"
import { freePorts } from "../support/ports.ts"
import { fulfillFromData, startTestPeer, type TestPeer } from "../support/testPeer.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const adminToken = "crash-test-admin-token-000001"
const senderToken = "crash-test-sender-token-00001"
const usd = { code: "USD", scale: 2 }
const funding = 10_000_000n

let dataDir: string
let peer: TestPeer
let node: NodeProcess | undefined

afterAll(async () => {
  await node?.kill("SIGKILL")
  await peer?.close()
  if (dataDir !== undefined) removeTempDir(dataDir)
})

interface Balance {
  readonly debitsPosted: string
  readonly creditsPosted: string
  readonly debitsPending: string
  readonly creditsPending: string
}

const admin = (port: number) => async (path: string, body?: unknown) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  expect(response.status).toBe(200)
  return response.json() as Promise<{ peers: Array<{ peerId?: string; id?: string; liquidity: Balance }> }>
}

const peerBalance = (balances: unknown, id: string): Balance => {
  const peers = (balances as { peers: Array<Record<string, unknown>> }).peers
  const entry = peers.find((p) => p.peerId === id || p.id === id || (p.peer as { id?: string } | undefined)?.id === id)
  if (entry === undefined) throw new Error(`no balance for ${id}: ${JSON.stringify(balances)}`)
  return entry.liquidity as Balance
}

/** 20 concurrent senders posting packets until `stop()`; sums of what was sent and fulfilled. */
const startLoad = (connectorPort: number) => {
  const pool = new Pool(`http://127.0.0.1:${connectorPort}`, { connections: 20 })
  const totals = { sent: 0n, fulfilled: 0n, answered: 0, fulfills: 0 }
  let stopped = false
  const worker = async () => {
    while (!stopped) {
      const amount = BigInt(1 + Math.floor(Math.random() * 100))
      const { bytes } = makePrepare({ destination: "test.upstream.x", amount })
      totals.sent += amount
      try {
        const response = await pool.request({
          path: "/ilp",
          method: "POST",
          headers: { authorization: `Bearer ${senderToken}`, "content-type": "application/octet-stream" },
          body: bytes
        })
        const reply = decodeReply(new Uint8Array(await response.body.arrayBuffer()))
        totals.answered++
        if (!isDecodeFailure(reply) && reply.type === PacketType.Fulfill) {
          totals.fulfilled += amount
          totals.fulfills++
        }
      } catch {
        return
      }
    }
  }
  const workers = Array.from({ length: 20 }, worker)
  return {
    totals,
    stop: async () => {
      stopped = true
      await Promise.all(workers)
      await pool.close().catch(() => undefined)
    }
  }
}

describe("crash and restart", () => {
  it("SIGKILL under load loses and creates nothing; pending reservations are voided on restart", async () => {
    dataDir = makeTempDir("ilp-crash-")
    // The peer is slow enough that packets are in flight when the node dies.
    peer = await startTestPeer((prepare) => ({ delayMs: 30, then: fulfillFromData(prepare) }))
    const [connectorPort, adminPort, openPaymentsPort] = (await freePorts(3)) as [number, number, number]
    const configFile = join(dataDir, "config.json")
    writeFileSync(configFile, JSON.stringify({
      ilpAddress: "test.crash",
      connectorPort,
      adminPort,
      openPaymentsPort,
      adminToken,
      dataDir: join(dataDir, "data"),
      peers: [
        { id: "sender", asset: usd, incomingTokens: [senderToken], staticIlpAddress: "test.sender" },
        {
          id: "upstream",
          asset: usd,
          incomingTokens: ["crash-test-upstream-token-0001"],
          outgoing: { url: peer.url, token: "crash-test-outgoing-token-001" },
          staticIlpAddress: "test.upstream"
        }
      ]
    }))
    const health = `http://127.0.0.1:${adminPort}/healthz`
    node = await startNodeProcess(["--config", configFile], health)
    const call = admin(adminPort)
    await call("/liquidity/deposit", { peerId: "sender", amount: funding.toString() })

    // Load: 20 concurrent senders until the node dies. Once 200 packets were fulfilled, the peer
    // stops answering: the kill comes when at least 5 packets are held there, i.e. in flight with
    // their reservations written (conditions, not a guess at how fast a busy machine gets there).
    const load = startLoad(connectorPort)
    await waitUntil(() => load.totals.fulfills >= 200, 45_000, "200 fulfilled packets before the kill")
    const heldFrom = peer.received.length
    peer.behaviour = (prepare) => ({ delayMs: 20_000, then: fulfillFromData(prepare) })
    await waitUntil(() => peer.received.length >= heldFrom + 5, 45_000, "packets held by the peer before the kill")
    await node.kill("SIGKILL")
    peer.behaviour = (prepare) => ({ delayMs: 30, then: fulfillFromData(prepare) })
    await load.stop()
    const fulfilledSum = load.totals.fulfilled
    const sentSum = load.totals.sent
    expect(fulfilledSum).toBeGreaterThan(0n)

    node = await startNodeProcess(["--config", configFile], health)
    // Packets were held by the peer at the kill: their reservations are voided when the ledger
    // opens again.
    const voided = Number(/voided (\d+) pending transfers/.exec(node.output())?.[1] ?? "-1")
    expect(voided).toBeGreaterThan(0)
    const balances = await call("/balances")
    const sender = peerBalance(balances, "sender")
    const upstream = peerBalance(balances, "upstream")
    // Nothing pending after restart.
    for (const b of [sender, upstream]) {
      expect(b.debitsPending).toBe("0")
      expect(b.creditsPending).toBe("0")
    }
    // Money moved only from the sender to the upstream peer, and only for fulfilled packets: every
    // fulfill a client saw was posted; at most the packets in flight at the kill were posted unseen.
    const moved = BigInt(sender.debitsPosted)
    expect(BigInt(upstream.creditsPosted)).toBe(moved)
    expect(BigInt(sender.creditsPosted)).toBe(funding)
    expect(moved).toBeGreaterThanOrEqual(fulfilledSum)
    expect(moved).toBeLessThanOrEqual(sentSum)
    expect(moved - fulfilledSum).toBeLessThanOrEqual(20n * 100n)

    // Graceful shutdown under load: SIGTERM stops accepting, in-flight packets finish or are voided,
    // the process exits 0 and leaves nothing pending behind.
    const second = startLoad(connectorPort)
    await waitUntil(() => second.totals.fulfills >= 200, 45_000, "200 fulfilled packets before SIGTERM")
    const exited = new Promise<number | null>((resolve) => node!.child.once("exit", (code) => resolve(code)))
    node.child.kill("SIGTERM")
    expect(await exited).toBe(0)
    await second.stop()
    expect(second.totals.answered).toBeGreaterThan(0)
    const audit = await runCli(["audit", "--db", join(dataDir, "data", "ledger.sqlite")])
    expect(audit.output).toContain("ledger audit")
    expect(audit.output).toMatch(/pending transfers: 0\b/)
    expect(audit.code).toBe(0)
  }, 180_000)
})
