/**
 * The node killed (SIGKILL) in the middle of a webhook delivery, as a real process: the receiver
 * holds the request open, the node dies with the event claimed, and the node started again on the
 * same data directory delivers it (and everything else) once the receiver answers. Receivers
 * dedupe on the id; this one counts every request to show the redelivery.
 */
import { writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { join } from "node:path"
import { afterAll, expect, it } from "vitest"
import { verify } from "../../src/Events/Webhooks.ts"
import { type NodeProcess, startNodeProcess } from "../support/process.ts"
import { freePort, freePorts } from "../support/ports.ts"
import { waitUntil } from "../support/wait.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const adminToken = "webhooks-crash-admin-token-01"
const secret = "webhooks-crash-secret-000001"
const waitMs = 60_000

let node: NodeProcess | undefined
let dataDir: string | undefined
const held: Array<ServerResponse> = []
const receiver = createServer()

afterAll(async () => {
  await node?.kill("SIGKILL")
  for (const response of held) response.destroy()
  receiver.closeAllConnections()
  await new Promise<void>((resolve) => receiver.close(() => resolve()))
  if (dataDir !== undefined) removeTempDir(dataDir)
})

it("a node killed during a delivery delivers the event after its restart; nothing is lost", async () => {
  dataDir = makeTempDir("webhooks-crash-")
  let answering = false
  const requests: Array<string> = []
  const handled = new Set<string>()
  receiver.on("request", (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      expect(verify(secret, body, String(request.headers["webhook-signature"]))).toBe(true)
      const id = JSON.parse(body).id as string
      requests.push(id)
      if (!answering) return void held.push(response) // hold it open: the node dies mid-delivery
      handled.add(id)
      response.writeHead(200).end("ok")
    })
  })
  const receiverPort = await freePort()
  await new Promise<void>((resolve) => receiver.listen(receiverPort, "127.0.0.1", resolve))

  const [adminPort, connectorPort, openPaymentsPort] = (await freePorts(3)) as [number, number, number]
  const configFile = join(dataDir, "config.json")
  writeFileSync(configFile, JSON.stringify({
    ilpAddress: "test.crash",
    adminToken,
    adminPort,
    connectorPort,
    openPaymentsPort,
    dataDir: join(dataDir, "data"),
    assets: [{ code: "USD", scale: 2 }],
    webhooks: { urls: [`http://127.0.0.1:${receiverPort}/hooks`], secret, requestTimeoutMs: 60_000, pollIntervalMs: 50, backoffMsBase: 100 }
  }))
  const health = `http://127.0.0.1:${adminPort}/healthz`
  const call = async (method: "GET" | "POST", path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${adminPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    if (response.status !== 200) throw new Error(`${method} ${path}: ${response.status} ${text}`)
    return JSON.parse(text)
  }

  node = await startNodeProcess(["--config", configFile], health)
  const wallet = await call("POST", "/wallet-addresses", { url: "http://127.0.0.1:1/crash", asset: { code: "USD", scale: 2 } })
  const payments = []
  for (let i = 0; i < 3; i++) payments.push(await call("POST", "/incoming-payments", { walletAddressId: wallet.id }))
  await waitUntil(() => requests.length >= 1, waitMs, "a delivery in flight")
  const events = await call("GET", "/events?limit=500")
  expect(events).toHaveLength(3)
  expect(events.some((event: any) => event.deliveryState === "pending")).toBe(true)
  await node.kill("SIGKILL")
  node = undefined

  answering = true
  node = await startNodeProcess(["--config", configFile], health)
  await waitUntil(async () => (await call("GET", "/events?limit=500")).every((event: any) => event.deliveryState === "delivered"), waitMs,
    "every event delivered after the restart")
  const after = await call("GET", "/events?limit=500")
  expect(after.map((event: any) => event.id).sort()).toEqual(events.map((event: any) => event.id).sort())
  expect([...handled].sort()).toEqual(events.map((event: any) => event.id).sort())
  expect(after.map((event: any) => event.resourceId).sort()).toEqual(payments.map((payment) => payment.id).sort())
  // The event in flight at the kill was sent again (at least once; the receiver dedupes on the id).
  expect(requests.length).toBeGreaterThan(handled.size)
  await node.kill("SIGTERM")
  node = undefined
}, 180_000)
