/**
 * Webhook delivery (src/Events/Webhooks.ts) against a real HTTP receiver on 127.0.0.1:
 * signatures, two instances on one PostgreSQL store delivering each event once (claims with a
 * lease), bounded concurrency, retries with backoff then `failed` after attemptsMax, a timeout
 * counted as a failed attempt, the expiry sweep. Plus the pure leaves (sign/verify, backoff).
 */
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { randomUUID } from "node:crypto"
import { createServer, type Server } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { WebhooksConfig } from "../../src/Config.ts"
import { backoffMs, make, sign, verify } from "../../src/Events/Webhooks.ts"
import { PaymentsStore, type PaymentsStoreShape } from "../../src/Payments/Store.ts"
import * as StorePostgres from "../../src/Payments/StorePostgres.ts"
import { makeStore } from "../../src/Payments/StoreSqlite.ts"
import { open } from "../../src/Payments/StoreSqliteSchema.ts"
import * as Postgres from "../../src/Store/Postgres.ts"
import { type PostgresServer, startPostgres } from "../support/postgres.ts"
import { waitUntil } from "../support/wait.ts"

const run = <A>(effect: Effect.Effect<A>) => Effect.runPromise(effect)
const secret = "unit-test-webhook-secret-01"

describe("pure leaves", () => {
  it("sign / verify: HMAC-SHA256 over the exact body; any change of body, key or signature fails", () => {
    const body = '{"id":"a"}'
    const signature = sign(secret, body)
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/)
    expect(verify(secret, body, signature)).toBe(true)
    expect(verify(secret, `${body} `, signature)).toBe(false)
    expect(verify(`${secret}x`, body, signature)).toBe(false)
    expect(verify(secret, body, signature.slice(0, -1))).toBe(false)
    expect(verify(secret, body, "")).toBe(false)
  })

  it("backoff doubles from the base and stops at the cap", () => {
    const config = { backoffMsBase: 100, backoffMsMax: 1_000 }
    expect([1, 2, 3, 4, 5, 100].map((n) => backoffMs(config, n))).toEqual([100, 200, 400, 800, 1_000, 1_000])
  })
})

interface Receiver {
  readonly url: string
  readonly received: Array<string>
  maxConcurrent: number
  status: number
  delayMs: number
  readonly close: () => Promise<void>
}

const startReceiver = async (): Promise<Receiver> => {
  let active = 0
  const receiver: Omit<Receiver, "url" | "close"> = { received: [], maxConcurrent: 0, status: 204, delayMs: 20 }
  const server: Server = createServer((request, response) => {
    active++
    receiver.maxConcurrent = Math.max(receiver.maxConcurrent, active)
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      setTimeout(() => {
        active--
        if (!verify(secret, body, String(request.headers["webhook-signature"]))) return void response.writeHead(401).end()
        receiver.received.push(JSON.parse(body).id)
        response.writeHead(receiver.status).end()
      }, receiver.delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as { port: number }).port
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hook`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  })
}

const config = (url: string, overrides: Partial<WebhooksConfig> = {}): WebhooksConfig => ({
  urls: [url],
  secret: Redacted.make(secret),
  attemptsMax: 3,
  backoffMsBase: 10,
  backoffMsMax: 40,
  requestTimeoutMs: 2_000,
  concurrencyMax: 3,
  batchMax: 100,
  pollIntervalMs: 10,
  deliveredRetentionDays: 30,
  ...overrides
})

/** `n` events (incoming payments created), answering their event ids. */
const makeEvents = async (store: PaymentsStoreShape, n: number): Promise<Array<string>> => {
  const walletId = randomUUID()
  await run(store.walletAddresses.insert({
    id: walletId,
    url: `https://w.example/${walletId}`,
    path: `/${walletId}`,
    assetCode: "USD",
    assetScale: 2,
    publicName: null,
    active: true,
    createdAt: Date.now()
  }))
  const ids: Array<string> = []
  for (let i = 0; i < n; i++) {
    const id = randomUUID()
    ids.push(id)
    await run(store.incomingPayments.insert({
      id,
      walletAddressId: walletId,
      incomingAmount: null,
      expiresAt: null,
      metadata: null,
      state: "pending",
      createdAt: Date.now(),
      completedAt: null
    }))
  }
  const all = await run(store.events.list({ limit: 500, before: 0 }))
  return all.filter((event) => ids.includes(event.resourceId)).map((event) => event.id)
}

const deliverUntilDone = async (store: PaymentsStoreShape, ids: ReadonlyArray<string>, rounds: () => Promise<unknown>) =>
  waitUntil(async () => {
    await rounds()
    const states = await Promise.all(ids.map((id) => run(store.events.byId(id))))
    return states.every((event) => event!.state !== "pending")
  }, 60_000, "every event settled")

describe("on SQLite", () => {
  const handle = open(":memory:")
  const store = makeStore(handle)
  let receiver: Receiver
  beforeAll(async () => {
    receiver = await startReceiver()
  })
  afterAll(async () => {
    await receiver.close()
    handle.db.close()
  })

  it("a failing receiver: retried with backoff, then failed after attemptsMax; a replay delivers it", async () => {
    receiver.status = 500
    const before = receiver.received.length
    const [id] = await makeEvents(store, 1)
    const webhooks = make(store, config(receiver.url))
    await run(webhooks.deliverDue)
    const first = await run(store.events.byId(id!))
    // Named by position and origin only (a webhook URL may hold a secret in its path).
    expect(first).toMatchObject({ state: "pending", attempts: 1, lastError: `url 1 (${new URL(receiver.url).origin}): HTTP 500` })
    expect(first!.lastError).not.toContain("/hook")
    expect(first!.nextAttemptAt - first!.lastAttemptAt!).toBe(10)
    await deliverUntilDone(store, [id!], () => run(webhooks.deliverDue))
    expect(await run(store.events.byId(id!))).toMatchObject({ state: "failed", attempts: 3 })
    expect(receiver.received.length - before).toBe(3)
    // Failed: no more attempts.
    await run(webhooks.deliverDue)
    expect(receiver.received.length - before).toBe(3)
    receiver.status = 204
    await run(store.events.replay(id!, Date.now()))
    await deliverUntilDone(store, [id!], () => run(webhooks.deliverDue))
    expect(await run(store.events.byId(id!))).toMatchObject({ state: "delivered", attempts: 1 })
  })

  it("a receiver slower than requestTimeoutMs: the attempt fails and is retried", async () => {
    receiver.delayMs = 1_000
    const [id] = await makeEvents(store, 1)
    await run(make(store, config(receiver.url, { requestTimeoutMs: 100 })).deliverDue)
    const event = await run(store.events.byId(id!))
    expect(event).toMatchObject({ state: "pending", attempts: 1 })
    expect(event!.lastError).toMatch(/TimeoutError|abort/i)
    receiver.delayMs = 20
  })

  it("no URLs: events are kept, nothing is sent", async () => {
    const [id] = await makeEvents(store, 1)
    expect(await run(make(store, config(receiver.url, { urls: [] })).deliverDue)).toBe(0)
    expect(await run(store.events.byId(id!))).toMatchObject({ state: "pending", attempts: 0 })
  })

  it("the expiry sweep moves overdue incoming payments to expired, writing their events once", async () => {
    const walletId = randomUUID()
    await run(store.walletAddresses.insert({
      id: walletId, url: `https://w.example/${walletId}`, path: `/${walletId}`, assetCode: "USD", assetScale: 2,
      publicName: null, active: true, createdAt: 1
    }))
    const id = randomUUID()
    await run(store.incomingPayments.insert({
      id, walletAddressId: walletId, incomingAmount: null, expiresAt: Date.now() - 1, metadata: null,
      state: "processing", createdAt: 1, completedAt: null
    }))
    const webhooks = make(store, config(receiver.url, { urls: [] }))
    expect(await run(webhooks.sweepExpired)).toBeGreaterThanOrEqual(1)
    await run(webhooks.sweepExpired)
    expect(await run(store.incomingPayments.byId(id))).toMatchObject({ state: "expired" })
    const events = (await run(store.events.list({ limit: 500, before: 0 }))).filter((event) => event.resourceId === id)
    expect(events.map((event) => event.type).sort()).toEqual(["incoming_payment.created", "incoming_payment.expired"])
  })
})

describe("two instances on one PostgreSQL store", () => {
  let server: PostgresServer
  const scopes: Array<Scope.Closeable> = []
  let receiver: Receiver
  const openStore = async (url: string) => {
    const scope = await run(Scope.make())
    scopes.push(scope)
    const context = await Effect.runPromise(
      Layer.buildWithScope(StorePostgres.layer.pipe(Layer.provideMerge(Postgres.layer({ url: Redacted.make(url) }))), scope)
    )
    return Context.get(context, PaymentsStore)
  }
  beforeAll(async () => {
    server = await startPostgres()
    receiver = await startReceiver()
  }, 60_000)
  afterAll(async () => {
    await receiver?.close()
    for (const scope of scopes) await run(Scope.close(scope, Exit.void))
    await server?.stop()
  }, 30_000)

  it("each event is delivered by one instance (once, with no failures), each instance at most concurrencyMax at once", async () => {
    const url = await server.createDatabase("webhooks")
    const a = await openStore(url)
    const b = await openStore(url)
    const ids = await makeEvents(a, 40)
    receiver.maxConcurrent = 0
    receiver.received.length = 0
    const instanceA = make(a, config(receiver.url, { batchMax: 15 }), "instance-a")
    const instanceB = make(b, config(receiver.url, { batchMax: 15 }), "instance-b")
    await deliverUntilDone(a, ids, () => Promise.all([run(instanceA.deliverDue), run(instanceB.deliverDue)]))
    expect([...receiver.received].sort()).toEqual([...ids].sort())
    expect(receiver.maxConcurrent).toBeLessThanOrEqual(6)
    expect(receiver.maxConcurrent).toBeGreaterThan(1)
    expect(await run(a.events.backlog())).toBe(0)
  }, 120_000)
})
