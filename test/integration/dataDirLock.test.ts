/**
 * One process per embedded data directory: a second node process started on the directory of a
 * running one is refused with a one-line message, and the first one's packets (reserved in its
 * ledger while the second one tries to start) are all posted: nothing voided under its feet.
 * Real processes over real sockets.
 */
import { spawn } from "node:child_process"
import { once } from "node:events"
import { writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { Pool } from "undici"
import { afterAll, describe, expect, it } from "vitest"
import { decodeReply, isDecodeFailure, PacketType } from "../../src/Connector/Packet.ts"
import { makePrepare } from "../support/packets.ts"
import { type NodeProcess, startNodeProcess } from "../support/process.ts"
import { freePorts } from "../support/ports.ts"
import { fulfillFromData, startTestPeer, type TestPeer } from "../support/testPeer.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const adminToken = "lock-test-admin-token-0000001"
const senderToken = "lock-test-sender-token-000001"
const usd = { code: "USD", scale: 2 }
const funding = 10_000_000n
const root = resolve(import.meta.dirname, "../..")

let dir: string | undefined
let peer: TestPeer | undefined
let node: NodeProcess | undefined

afterAll(async () => {
  await node?.kill("SIGKILL")
  await peer?.close()
  if (dir !== undefined) removeTempDir(dir)
})

/** Runs a second node process; kills it (and fails) if it has not exited within `timeoutMs`. */
const runSecondNode = async (configFile: string, timeoutMs: number) => {
  const child = spawn(resolve(root, "node_modules/.bin/node"), ["src/main.ts", "--config", configFile], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  const [code, signal] = await once(child, "exit") as [number | null, NodeJS.Signals | null]
  clearTimeout(timer)
  return { code, signal, output }
}

interface Balance {
  readonly debitsPosted: string
  readonly creditsPosted: string
  readonly debitsPending: string
  readonly creditsPending: string
}

const peerLiquidity = async (adminPort: number, id: string): Promise<Balance> => {
  const response = await fetch(`http://127.0.0.1:${adminPort}/balances`, {
    headers: { authorization: `Bearer ${adminToken}` }
  })
  const body = await response.json() as { peers: Array<{ peerId: string; liquidity: Balance }> }
  const entry = body.peers.find((p) => p.peerId === id)
  if (entry === undefined) throw new Error(`no balance for ${id}: ${JSON.stringify(body)}`)
  return entry.liquidity
}

describe("one process per data directory", () => {
  it("refuses a second process with a one-line message; the first one's packets are unharmed", async () => {
    dir = makeTempDir("ilp-lock-")
    // A slow peer: the first node holds reservations while the second one starts.
    peer = await startTestPeer((prepare) => ({ delayMs: 200, then: fulfillFromData(prepare) }))
    const [connectorPort, adminPort, openPaymentsPort] = (await freePorts(3)) as [number, number, number]
    const config = {
      ilpAddress: "test.lock",
      connectorPort,
      adminPort,
      openPaymentsPort,
      adminToken,
      dataDir: join(dir, "data"),
      peers: [
        { id: "sender", asset: usd, incomingTokens: [senderToken], staticIlpAddress: "test.sender" },
        {
          id: "upstream",
          asset: usd,
          incomingTokens: ["lock-test-upstream-token-0001"],
          outgoing: { url: peer.url, token: "lock-test-outgoing-token-0001" },
          staticIlpAddress: "test.upstream"
        }
      ]
    }
    const configFile = join(dir, "config.json")
    writeFileSync(configFile, JSON.stringify(config))
    node = await startNodeProcess(["--config", configFile], `http://127.0.0.1:${adminPort}/healthz`)
    const deposit = await fetch(`http://127.0.0.1:${adminPort}/liquidity/deposit`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ peerId: "sender", amount: funding.toString() })
    })
    expect(deposit.status).toBe(200)

    // 10 senders keep packets in flight (each held 200 ms by the peer) until told to stop.
    const pool = new Pool(`http://127.0.0.1:${connectorPort}`, { connections: 10 })
    const totals = { fulfilled: 0n, rejected: 0, answered: 0 }
    let stopped = false
    const worker = async () => {
      while (!stopped) {
        const amount = BigInt(1 + Math.floor(Math.random() * 100))
        const { bytes } = makePrepare({ destination: "test.upstream.x", amount })
        const response = await pool.request({
          path: "/ilp",
          method: "POST",
          headers: { authorization: `Bearer ${senderToken}`, "content-type": "application/octet-stream" },
          body: bytes
        })
        const reply = decodeReply(new Uint8Array(await response.body.arrayBuffer()))
        totals.answered++
        if (!isDecodeFailure(reply) && reply.type === PacketType.Fulfill) totals.fulfilled += amount
        else totals.rejected++
      }
    }
    const workers = Array.from({ length: 10 }, worker)
    const deadline = Date.now() + 20_000
    while (totals.answered < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(totals.answered).toBeGreaterThanOrEqual(20)

    // The same config (same data directory, other ports would not matter: it must not get that far).
    const second = await runSecondNode(configFile, 30_000)
    const answeredWhileSecondRan = totals.answered
    stopped = true
    await Promise.all(workers)
    await pool.close()

    expect(second.signal).toBeNull()
    expect(second.code).toBe(1)
    const lines = second.output.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^refusing to start: data directory .*data is in use by another node process/)
    expect(lines[0]).toContain(`(pid ${node.child.pid})`)

    // The first node kept serving and every packet it fulfilled was posted: none was voided by the
    // second process opening the ledger.
    expect(answeredWhileSecondRan).toBeGreaterThan(20)
    expect(totals.rejected).toBe(0)
    const sender = await peerLiquidity(adminPort, "sender")
    const upstream = await peerLiquidity(adminPort, "upstream")
    expect([sender.debitsPending, upstream.creditsPending]).toEqual(["0", "0"])
    expect(BigInt(sender.debitsPosted)).toBe(totals.fulfilled)
    expect(BigInt(upstream.creditsPosted)).toBe(totals.fulfilled)
    expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200)

    // Once the first node has exited (however it exits), the directory can be used again.
    await node.kill("SIGKILL")
    node = await startNodeProcess(["--config", configFile], `http://127.0.0.1:${adminPort}/healthz`)
    expect(BigInt((await peerLiquidity(adminPort, "sender")).debitsPosted)).toBe(totals.fulfilled)
  }, 90_000)
})
