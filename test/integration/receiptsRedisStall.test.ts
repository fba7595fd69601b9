/**
 * Receipt totals never get ahead of the ledger when Redis stalls. A node process (embedded ledger,
 * receipt totals in a real Redis) receives an `ilp-protocol-stream` payment over ILP-over-HTTP;
 * mid-payment Redis is SIGSTOPped for several seconds while the sender keeps sending and gives up
 * on packets after 300 ms (closing their connections: the node interrupts them while their
 * receipt-total reserve waits in Redis's socket, to run when Redis resumes). Other packets time
 * out on Redis (1 s) and are rejected. Afterwards, once nothing is pending, the received total
 * equals the ledger credit exactly, and the payer pays the rest up to the cap.
 *
 * Real processes over real sockets: `node src/main.ts`, `redis-server`, HTTP from this process.
 */
import { Redis } from "ioredis"
import { createConnection } from "ilp-protocol-stream"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { encodeReject } from "../../src/Connector/Packet.ts"
import { type NodeProcess, startNodeProcess } from "../support/process.ts"
import { freePorts } from "../support/ports.ts"
import { type RedisServer, startRedis } from "../support/redis.ts"
import { adminJson } from "../support/adminClient.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const adminToken = "stall-test-admin-token-000001"
const senderToken = "stall-test-sender-token-00001"
const usd = { code: "USD", scale: 2 }
const cap = 20_000n
const stallMs = 4_000

let dir: string | undefined
let redis: RedisServer | undefined
let node: NodeProcess | undefined
let raw: Redis | undefined

afterAll(async () => {
  redis?.resume()
  raw?.disconnect()
  await node?.kill("SIGKILL")
  await redis?.stop()
  if (dir !== undefined) removeTempDir(dir)
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const waitFor = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs = 60_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/**
 * The sender's side of ILP-over-HTTP. While `abortAfterMs` is set, a request not answered by then is
 * abandoned (its connection closed) and the sender gets a T00 reject, as from a connector that gave
 * up on its next hop. `delayMs` paces the packets so that some are in flight when Redis stops.
 */
const makePlugin = (url: string, control: { abortAfterMs?: number; delayMs: number }) => {
  const counts = { fulfilled: 0, rejected: 0, abandoned: 0 }
  let connected = false
  return {
    counts,
    connect: async () => {
      connected = true
    },
    disconnect: async () => {
      connected = false
    },
    isConnected: () => connected,
    sendData: async (data: Buffer): Promise<Buffer> => {
      await sleep(control.delayMs)
      const abortAfterMs = control.abortAfterMs
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${senderToken}`, "content-type": "application/octet-stream" },
          body: data,
          ...(abortAfterMs === undefined ? {} : { signal: AbortSignal.timeout(abortAfterMs) })
        })
        const reply = Buffer.from(await response.arrayBuffer())
        if (reply[0] === 13) counts.fulfilled++
        else counts.rejected++
        return reply
      } catch {
        counts.abandoned++
        return Buffer.from(encodeReject({
          code: "T00",
          triggeredBy: "test.sender",
          message: "gave up",
          data: new Uint8Array(0)
        }))
      }
    },
    registerDataHandler: () => {},
    deregisterDataHandler: () => {}
  }
}

describe("receipt totals when Redis stalls", () => {
  it("a SIGSTOPped Redis and interrupted packets leave the received total equal to the ledger credit; the payer pays the rest", async () => {
    dir = makeTempDir("ilp-stall-")
    redis = await startRedis()
    raw = new Redis(redis.url, { maxRetriesPerRequest: 0, lazyConnect: true })
    await raw.connect()
    const [connectorPort, adminPort, openPaymentsPort] = (await freePorts(3)) as [number, number, number]
    const configFile = join(dir, "config.json")
    writeFileSync(configFile, JSON.stringify({
      ilpAddress: "test.stall",
      connectorPort,
      adminPort,
      openPaymentsPort,
      adminToken,
      dataDir: join(dir, "data"),
      redisUrl: redis.url,
      peers: [{ id: "sender", asset: usd, incomingTokens: [senderToken], staticIlpAddress: "test.sender", maxPacketAmount: "100" }]
    }))
    node = await startNodeProcess(["--config", configFile], `http://127.0.0.1:${adminPort}/healthz`)
    const admin = adminJson(`http://127.0.0.1:${adminPort}`, adminToken)
    await admin("/liquidity/deposit", { peerId: "sender", amount: "1000000" })
    const wallet = await admin<{ id: string }>("/wallet-addresses", { url: "https://wallet.test/stall", asset: usd })
    const payment = await admin<{ id: string }>("/incoming-payments", {
      walletAddressId: wallet.id,
      incomingAmount: cap.toString()
    })
    const credentials = await admin<{ ilpAddress: string; sharedSecret: string }>(
      `/incoming-payments/${payment.id}/credentials`
    )
    type PaymentJson = { state: string; receivedAmount: { value: string } }
    type Liquidity = { debitsPosted: string; debitsPending: string }
    const received = async () => BigInt((await admin<PaymentJson>(`/incoming-payments/${payment.id}`)).receivedAmount.value)
    const senderLiquidity = async () =>
      (await admin<{ peers: Array<{ peerId: string; liquidity: Liquidity }> }>("/balances")).peers
        .find((p) => p.peerId === "sender")!.liquidity
    /** Nothing pending in the ledger nor in Redis: answers what the ledger credited. */
    const settledCredit = async (): Promise<bigint | undefined> => {
      const liquidity = await senderLiquidity()
      const pendingInRedis = await raw!.exists(`ilp:receipts:s:${payment.id}`, `ilp:receipts:z:${payment.id}`)
      return liquidity.debitsPending === "0" && pendingInRedis === 0 ? BigInt(liquidity.debitsPosted) : undefined
    }
    const connect = (plugin: ReturnType<typeof makePlugin>) =>
      createConnection({
        plugin: plugin as never,
        destinationAccount: credentials.ilpAddress,
        sharedSecret: Buffer.from(credentials.sharedSecret, "base64")
      })

    // First sender: 100 per packet, paced, so packets are in flight when Redis stops.
    const control: { abortAfterMs?: number; delayMs: number } = { delayMs: 15 }
    const first = makePlugin(`http://127.0.0.1:${connectorPort}/ilp`, control)
    const connection = await connect(first)
    const sending = connection.createStream().sendTotal(Number(cap), { timeout: 120_000 }).catch(() => undefined)
    await waitFor("the first fulfills", async () => (first.counts.fulfilled >= 10 ? true : undefined))

    redis.pause()
    control.abortAfterMs = 300
    await sleep(stallMs)
    redis.resume()
    await waitFor("a fulfill after Redis resumed", async () => {
      const before = first.counts.fulfilled
      await sleep(200)
      return first.counts.fulfilled > before ? true : undefined
    })
    delete control.abortAfterMs
    await connection.destroy().catch(() => undefined)
    await sending

    // The stall really interrupted and rejected packets, and did not end the payment.
    expect(first.counts.abandoned).toBeGreaterThan(0)
    expect(first.counts.fulfilled).toBeGreaterThan(10)
    const credited = await waitFor("nothing pending", settledCredit)
    const total = await received()
    console.info(`stall: ${JSON.stringify(first.counts)}; received ${total}, ledger credit ${credited}`)
    expect(total).toBe(credited)
    expect(total).toBeLessThan(cap)
    expect((await admin<PaymentJson>(`/incoming-payments/${payment.id}`)).state).toBe("processing")

    // The payer pays the rest: the payment completes at exactly the cap, in the ledger too.
    const rest = makePlugin(`http://127.0.0.1:${connectorPort}/ilp`, { delayMs: 0 })
    const second = await connect(rest)
    await second.createStream().sendTotal(Number(cap - total), { timeout: 60_000 })
    await second.destroy().catch(() => undefined)
    const finalCredit = await waitFor("nothing pending after the rest", settledCredit)
    expect(finalCredit).toBe(cap)
    expect(await received()).toBe(cap)
    expect((await admin<PaymentJson>(`/incoming-payments/${payment.id}`)).state).toBe("completed")
  }, 180_000)
})
