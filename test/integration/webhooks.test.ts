/**
 * Events as webhooks to a real HTTP receiver on 127.0.0.1 (issue 11, must show), on the embedded
 * store and on PostgreSQL:
 *  - every event (incoming payment created/completed/expired, outgoing payment created/completed/
 *    failed, peer and asset liquidity below threshold) arrives with a valid HMAC-SHA256 signature;
 *  - the receiver goes down, events happen, the node is stopped and started again on the same
 *    stores while the receiver is still down, then the receiver comes back: every event still
 *    arrives, and the receiver (deduping on the id, as a receiver must) handles each id once;
 *  - a replay (through the CLI) delivers the same id again, which the receiver recognises.
 */
import { createServer, type Server } from "node:http"
import { afterAll, describe, expect, it } from "vitest"
import { idHeader, signatureHeader, verify } from "../../src/Events/Webhooks.ts"
import { runOperatorCommand } from "../../src/OperatorCli.ts"
import { startNode, type TestNode } from "../support/node.ts"
import { type PostgresServer, startPostgres } from "../support/postgres.ts"
import { freePort } from "../support/redis.ts"
import { waitUntil } from "../support/wait.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const adminToken = "admin-token-for-webhook-tests"
const secret = "webhook-secret-for-the-tests-0001"
const usd = { code: "USD", scale: 2 }
const waitMs = 60_000

/** A webhook receiver that checks each signature and handles each event id once (dedupe by id). */
const startReceiver = async (port: number) => {
  const handled = new Map<string, { type: string; data: any }>()
  const received: Array<string> = []
  const badSignatures: Array<string> = []
  let server: Server | undefined
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8")
          const signature = String(request.headers[signatureHeader] ?? "")
          if (!verify(secret, body, signature)) {
            badSignatures.push(body)
            response.writeHead(401).end()
            return
          }
          const event = JSON.parse(body)
          expect(request.headers[idHeader]).toBe(event.id)
          expect(request.headers["idempotency-key"]).toBe(event.id)
          received.push(event.id)
          if (!handled.has(event.id)) handled.set(event.id, { type: event.type, data: event.data })
          response.writeHead(204).end()
        })
      })
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => resolve())
    })
  const close = () =>
    new Promise<void>((resolve) => {
      if (server === undefined) return resolve()
      server.closeAllConnections()
      server.close(() => resolve())
      server = undefined
    })
  await listen()
  return { handled, received, badSignatures, listen, close }
}

let postgres: PostgresServer | undefined
const dirs: Array<string> = []

afterAll(async () => {
  await postgres?.stop()
  for (const dir of dirs) removeTempDir(dir)
}, 30_000)

describe.each(["sqlite", "postgres"] as const)("webhooks on the %s store", (storeKind) => {
  it("every event delivered signed; receiver down and node restarted: every event still arrives, each id handled once", async () => {
    const dataDir = makeTempDir("webhooks-")
    dirs.push(dataDir)
    const receiverPort = await freePort()
    const receiver = await startReceiver(receiverPort)
    const store = storeKind === "sqlite" ? {} : {
      postgresUrl: await (postgres ??= await startPostgres()).createDatabase("webhooks"),
      streamSecret: "ab".repeat(32)
    }
    const file = {
      ilpAddress: "test.events",
      adminToken,
      dataDir,
      assets: [usd],
      peers: [{ id: "bob", asset: usd, incomingTokens: ["bob-incoming-token-000001"], staticIlpAddress: "test.bob" }],
      webhooks: {
        urls: [`http://127.0.0.1:${receiverPort}/hooks`],
        secret,
        backoffMsBase: 100,
        backoffMsMax: 1_000,
        pollIntervalMs: 50,
        attemptsMax: 100,
        requestTimeoutMs: 5_000
      },
      liquidityThresholds: { peers: { bob: "1000" }, assets: { "USD/2": "1000" }, checkIntervalMs: 100 },
      ...store
    }
    let node: TestNode | undefined = await startNode(file)
    try {
      let base = `http://127.0.0.1:${node.adminPort}`
      const call = async (method: "GET" | "POST", path: string, body?: unknown) => {
        const response = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        const text = await response.text()
        if (response.status !== 200) throw new Error(`${method} ${path}: ${response.status} ${text}`)
        return JSON.parse(text)
      }
      const allEvents = async (): Promise<Array<any>> => call("GET", "/events?limit=500")
      let wallets = 0
      const wallet = () => call("POST", "/wallet-addresses", { url: `http://127.0.0.1:${node!.openPaymentsPort}/w${++wallets}`, asset: usd })
      const paymentState = async (id: string, state: string) =>
        waitUntil(async () => (await call("GET", `/outgoing-payments/${id}`)).state === state, waitMs, `payment ${id} ${state}`)

      // ----- receiver up: one of each event ----------------------------------------------------
      const receiverWallet = await wallet()
      const payer = await wallet()
      await call("POST", `/wallet-addresses/${payer.id}/deposit`, { amount: "10000" })
      const paid = await call("POST", "/incoming-payments", { walletAddressId: receiverWallet.id, incomingAmount: "500" })
      const quote = await call("POST", "/quotes", { walletAddressId: payer.id, receiver: { incomingPaymentId: paid.id }, receiveAmount: "500" })
      const sent = await call("POST", "/outgoing-payments", { quoteId: quote.id })
      await paymentState(sent.id, "completed")
      const expiring = await call("POST", "/incoming-payments", { walletAddressId: receiverWallet.id, expiresAt: new Date(Date.now() + 1_500).toISOString() })
      // A payment whose SPSP receiver answers the quote, then goes away; cancelled: it fails.
      const spspPort = await freePort()
      const spsp: Server = createServer(async (request, response) => {
        const answer = await fetch(receiverWallet.url, { headers: { accept: String(request.headers.accept) } })
        response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "" }).end(await answer.text())
      })
      await new Promise<void>((resolve) => spsp.listen(spspPort, "127.0.0.1", resolve))
      const failingQuote = await call("POST", "/quotes", {
        walletAddressId: payer.id,
        receiver: { spspUrl: `http://127.0.0.1:${spspPort}/pay` },
        debitAmount: "300"
      })
      await new Promise<void>((resolve) => spsp.close(() => resolve()))
      const failing = await call("POST", "/outgoing-payments", { quoteId: failingQuote.id })
      await waitUntil(async () => (await call("GET", `/outgoing-payments/${failing.id}`)).error !== undefined, waitMs, "a temporary failure")
      await call("POST", `/outgoing-payments/${failing.id}/cancel`)
      await paymentState(failing.id, "failed")

      const expected = [
        ["incoming_payment.created", paid.id],
        ["incoming_payment.completed", paid.id],
        ["incoming_payment.created", expiring.id],
        ["incoming_payment.expired", expiring.id],
        ["outgoing_payment.created", sent.id],
        ["outgoing_payment.completed", sent.id],
        ["outgoing_payment.created", failing.id],
        ["outgoing_payment.failed", failing.id],
        ["liquidity.peer_low", "bob"],
        ["liquidity.asset_low", "USD/2"]
      ]
      const handledPairs = () => [...receiver.handled.values()].map((event) => `${event.type} ${event.data.id}`)
      await waitUntil(
        () => expected.every(([type, id]) => handledPairs().includes(`${type} ${id}`)),
        waitMs,
        "one webhook of each event"
      )
      expect(receiver.badSignatures).toEqual([])
      const completed = [...receiver.handled.values()].find((event) => event.type === "outgoing_payment.completed")!
      expect(completed.data).toMatchObject({ id: sent.id, state: "completed" })
      expect([...receiver.handled.values()].find((event) => event.type === "liquidity.asset_low")!.data)
        .toMatchObject({ kind: "asset", id: "USD/2", asset: usd, threshold: "1000" })
      await waitUntil(async () => (await allEvents()).every((event) => event.deliveryState === "delivered"), waitMs, "all delivered")

      // ----- receiver down: events wait in the outbox, across a restart of the node ----------------
      await receiver.close()
      const during = await call("POST", "/incoming-payments", { walletAddressId: receiverWallet.id, incomingAmount: "100" })
      const cli = async (args: Array<string>) => {
        const out: Array<string> = []
        const code = await runOperatorCommand(args[0]!, args.slice(1), { ADMIN_URL: base, ADMIN_TOKEN: adminToken }, {
          out: (text) => out.push(text),
          err: (text) => out.push(text)
        })
        return { code, out: out.join("\n") }
      }
      expect((await cli(["complete-incoming-payment", during.id])).code).toBe(0)
      await waitUntil(async () => {
        const pending = JSON.parse((await cli(["events", "list", "--state", "pending", "--json"])).out) as Array<any>
        return pending.filter((event) => event.resourceId === during.id && event.attempts >= 1 && event.lastError !== null).length === 2
      }, waitMs, "failed attempts while the receiver is down")
      const text = await cli(["events", "list", "--state", "pending"])
      expect(text.code).toBe(0)
      expect(text.out).toContain("incoming_payment.completed")
      const backlog = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } }).then((r) => r.text())
      expect(Number(/^ilp_webhook_backlog (\d+)$/m.exec(backlog)?.[1])).toBeGreaterThanOrEqual(2)

      await node.close()
      node = undefined
      node = await startNode(file)
      base = `http://127.0.0.1:${node.adminPort}`
      // Still down after the restart: the new process retries too.
      await waitUntil(async () =>
        (await allEvents()).filter((event) => event.resourceId === during.id).every((event) => event.attempts >= 2),
        waitMs, "attempts by the restarted node")
      await receiver.listen()

      await waitUntil(async () => (await allEvents()).every((event) => event.deliveryState === "delivered"), waitMs, "every event delivered")
      let stored = await allEvents()
      expect(new Set(receiver.handled.keys())).toEqual(new Set(stored.map((event) => event.id)))
      expect(receiver.handled.size).toBe(stored.length)
      expect(handledPairs()).toEqual(expect.arrayContaining([
        `incoming_payment.created ${during.id}`,
        `incoming_payment.completed ${during.id}`
      ]))
      // The liquidity events were not repeated by the restart (one per dip).
      expect(stored.filter((event) => event.type === "liquidity.peer_low")).toHaveLength(1)
      expect(receiver.badSignatures).toEqual([])

      // ----- liquidity: back above the threshold re-arms; a new dip is a new event -------------
      await call("POST", "/deposits", { id: "bob-topup-1", peerId: "bob", amount: "2000" })
      await waitUntil(async () => (await allEvents()).every((event) => event.deliveryState === "delivered"), waitMs, "quiet")
      // Give the watch time to see the balance above the threshold (several checks), without a new event.
      const aboveSince = Date.now()
      await waitUntil(() => Date.now() - aboveSince > 500, waitMs, "a few liquidity checks")
      expect((await allEvents()).filter((event) => event.type === "liquidity.peer_low")).toHaveLength(1)
      await call("POST", "/withdrawals", { id: "bob-payout-1", peerId: "bob", amount: "1500" })
      await waitUntil(async () => (await allEvents()).filter((event) => event.type === "liquidity.peer_low").length === 2, waitMs, "a second dip")
      const dip = (await allEvents()).find((event) => event.type === "liquidity.peer_low")!
      expect(dip.data).toMatchObject({ kind: "peer", id: "bob", balance: "500", threshold: "1000" })
      await waitUntil(() => receiver.handled.has(dip.id), waitMs, "the second dip delivered")

      // ----- the API's refusals -----------------------------------------------------------------
      expect((await fetch(`${base}/events`)).status).toBe(401)
      expect((await fetch(`${base}/events/no-such-event/replay`, { method: "POST", headers: { authorization: `Bearer ${adminToken}` } })).status)
        .toBe(404)
      expect((await fetch(`${base}/events?state=lost`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(400)
      const deliveries = await call("GET", "/webhook-deliveries?state=delivered&limit=2")
      expect(deliveries).toHaveLength(2)
      expect(deliveries[0]).toMatchObject({ state: "delivered", nextAttemptAt: null })
      const older = await call("GET", `/events?limit=500&before=${(await allEvents())[0].seq}`)
      expect(older.length).toBe((await allEvents()).length - 1)

      // ----- replay: the same id again; the receiver recognises it ----------------------------
      stored = await allEvents()
      expect(new Set(receiver.handled.keys())).toEqual(new Set(stored.map((event) => event.id)))
      const target = stored.find((event) => event.type === "outgoing_payment.completed")!
      const before = receiver.received.filter((id) => id === target.id).length
      const replayed = await cli(["events", "replay", target.id])
      expect(replayed).toMatchObject({ code: 0 })
      expect(replayed.out).toContain(target.id)
      await waitUntil(() => receiver.received.filter((id) => id === target.id).length > before, waitMs, "the replayed delivery")
      expect(receiver.handled.size).toBe(stored.length)
      const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } }).then((r) => r.text())
      await waitUntil(async () => (await allEvents()).every((event) => event.deliveryState === "delivered"), waitMs, "replay delivered")
      expect(metrics).toMatch(/^# TYPE ilp_webhook_backlog gauge$/m)
      expect(receiver.received.length).toBeGreaterThanOrEqual(stored.length + 1)
    } finally {
      await node?.close()
      await receiver.close()
    }
  }, 240_000)
})
