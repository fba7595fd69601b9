/**
 * The operator API over a real socket on 127.0.0.1: the embedded ledger in memory, one asset, one
 * peer, accounts created as at start-up.
 * Over 400 lines on purpose: auth, liquidity, bad input and the OpenAPI document share one server,
 * started once; withdrawals and payments have their own files (AdminWithdrawals, PaymentsApi).
 */
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Config from "../../src/Config.ts"
import { adminBodyBytesMax } from "../../src/Http/AdminApi.ts"
import { type AdminServer, startAdminServer } from "../support/adminServer.ts"

const adminToken = "admin-token-for-tests-0000000001"
const usd = { code: "USD", scale: 2 }

const makeConfig = (adminTokenValue: string | undefined) =>
  Config.decodeConfig({
    host: "127.0.0.1",
    adminPort: 0,
    connectorPort: 0,
    dataDir: ":memory:",
    ...(adminTokenValue === undefined ? {} : { adminToken: adminTokenValue }),
    assets: [usd],
    peers: [{
      id: "alice",
      asset: usd,
      incomingTokens: ["alice-incoming-token-000001"],
      outgoing: { url: "https://user:secret@alice.example/ilp", token: "alice-outgoing-token-000001" },
      staticIlpAddress: "test.alice",
      routes: ["test.alice-friends"],
      maxPacketAmount: "5000"
    }]
  }, {})


interface Answer {
  readonly status: number
  readonly body: any
}

const call = async (
  server: AdminServer,
  method: "GET" | "POST",
  path: string,
  options: { readonly token?: string | null; readonly body?: unknown; readonly rawBody?: string } = {}
): Promise<Answer> => {
  const headers: Record<string, string> = {}
  const token = options.token === undefined ? adminToken : options.token
  if (token !== null) headers.authorization = `Bearer ${token}`
  let body: string | undefined = options.rawBody
  if (options.body !== undefined) body = JSON.stringify(options.body)
  if (body !== undefined) headers["content-type"] = "application/json"
  const response = await fetch(`${server.baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed }
}

const freshId = (() => {
  let next = 1_000_000n
  return () => (next++).toString()
})()

describe("AdminApi", () => {
  let server: AdminServer

  beforeAll(async () => {
    server = await startAdminServer(await Effect.runPromise(makeConfig(adminToken)))
  })
  afterAll(() => server.close())

  const peerBalance = async (peerId: string) => {
    const answer = await call(server, "GET", "/balances")
    expect(answer.status).toBe(200)
    return answer.body.peers.find((peer: { peerId: string }) => peer.peerId === peerId).liquidity
  }
  const assetBalances = async () => {
    const answer = await call(server, "GET", "/balances")
    expect(answer.status).toBe(200)
    return answer.body.assets.find((entry: { asset: { code: string } }) => entry.asset.code === "USD")
  }

  describe("auth", () => {
    it("answers /healthz without a token", async () => {
      expect(await call(server, "GET", "/healthz", { token: null })).toEqual({
        status: 200,
        body: { status: "ok", checks: { ledger: "ok" } }
      })
    })

    it("answers 401 without a token, with a wrong token and with another scheme", async () => {
      for (const path of ["/peers", "/balances"]) {
        expect((await call(server, "GET", path, { token: null })).status).toBe(401)
        expect((await call(server, "GET", path, { token: "wrong-token-0000000000000001" })).status).toBe(401)
        expect((await call(server, "GET", path, { token: `${adminToken}x` })).status).toBe(401)
      }
      const basic = await fetch(`${server.baseUrl}/peers`, { headers: { authorization: `Basic ${adminToken}` } })
      expect(basic.status).toBe(401)
      const deposit = await call(server, "POST", "/liquidity/deposit", { token: null, body: { peerId: "alice", amount: "1" } })
      expect(deposit.status).toBe(401)
      expect(deposit.body.message).not.toContain(adminToken)
    })

    it("checks the token before the body", async () => {
      const answer = await call(server, "POST", "/liquidity/deposit", { token: "wrong-token-0000000000000001", body: { amount: "x" } })
      expect(answer.status).toBe(401)
    })
  })

  describe("GET /peers", () => {
    it("lists peers without secrets", async () => {
      const answer = await call(server, "GET", "/peers")
      expect(answer.status).toBe(200)
      expect(answer.body).toEqual([{
        id: "alice",
        asset: usd,
        staticIlpAddress: "test.alice",
        routes: ["test.alice-friends"],
        maxPacketAmount: "5000",
        outgoing: { url: "https://alice.example/ilp" },
        incomingTokens: 1
      }])
      const text = JSON.stringify(answer.body)
      expect(text).not.toContain("token")
      expect(text).not.toContain("secret")
    })
  })

  describe("liquidity", () => {
    it("deposits to a peer, and balances show it as decimal strings", async () => {
      const before = await peerBalance("alice")
      const answer = await call(server, "POST", "/liquidity/deposit", { body: { peerId: "alice", amount: "1500" } })
      expect(answer.status).toBe(200)
      expect(answer.body.transferId).toMatch(/^[0-9]+$/)
      expect(BigInt(answer.body.balance.available)).toBe(BigInt(before.available) + 1500n)
      const after = await peerBalance("alice")
      expect(after).toEqual(answer.body.balance)
      expect(typeof after.creditsPosted).toBe("string")
    })

    it("deposits to the asset's liquidity; settlement mirrors it", async () => {
      const before = await assetBalances()
      const answer = await call(server, "POST", "/liquidity/deposit", { body: { asset: usd, amount: "700" } })
      expect(answer.status).toBe(200)
      const after = await assetBalances()
      expect(BigInt(after.liquidity.available)).toBe(BigInt(before.liquidity.available) + 700n)
      expect(BigInt(after.settlement.debitsPosted)).toBe(BigInt(before.settlement.debitsPosted) + 700n)
    })

    it("withdraws up to the available balance", async () => {
      await call(server, "POST", "/liquidity/deposit", { body: { peerId: "alice", amount: "100" } })
      const before = await peerBalance("alice")
      const answer = await call(server, "POST", "/liquidity/withdraw", { body: { peerId: "alice", amount: before.available } })
      expect(answer.status).toBe(200)
      expect(answer.body.balance.available).toBe("0")
    })

    it("refuses a withdrawal over the available balance with 409 and leaves the balance unchanged", async () => {
      await call(server, "POST", "/liquidity/deposit", { body: { peerId: "alice", amount: "50" } })
      const before = await peerBalance("alice")
      const over = (BigInt(before.available) + 1n).toString()
      const answer = await call(server, "POST", "/liquidity/withdraw", { body: { peerId: "alice", amount: over } })
      expect(answer.status).toBe(409)
      expect(answer.body.message).toMatch(/amount/)
      expect(await peerBalance("alice")).toEqual(before)
    })

    it("applies a retried transferId once", async () => {
      const transferId = freshId()
      const before = await peerBalance("alice")
      const body = { peerId: "alice", amount: "25", transferId }
      const first = await call(server, "POST", "/liquidity/deposit", { body })
      const second = await call(server, "POST", "/liquidity/deposit", { body })
      expect(first.status).toBe(200)
      expect(second.status).toBe(200)
      expect(first.body.transferId).toBe(transferId)
      expect(second.body.transferId).toBe(transferId)
      expect(BigInt((await peerBalance("alice")).available)).toBe(BigInt(before.available) + 25n)
    })

    it("refuses a transferId reused for a different transfer with 409", async () => {
      const transferId = freshId()
      const before = await peerBalance("alice")
      expect((await call(server, "POST", "/liquidity/deposit", { body: { peerId: "alice", amount: "5", transferId } })).status)
        .toBe(200)
      const other = await call(server, "POST", "/liquidity/deposit", { body: { peerId: "alice", amount: "6", transferId } })
      expect(other.status).toBe(409)
      expect(other.body.message).toMatch(/transferId/)
      const withdrawal = await call(server, "POST", "/liquidity/withdraw", { body: { peerId: "alice", amount: "5", transferId } })
      expect(withdrawal.status).toBe(409)
      expect(BigInt((await peerBalance("alice")).available)).toBe(BigInt(before.available) + 5n)
    })

    it("refuses the transferId of a failed withdrawal with 409 (use a fresh id)", async () => {
      const transferId = freshId()
      const huge = { peerId: "alice", amount: "18446744073709551615", transferId }
      expect((await call(server, "POST", "/liquidity/withdraw", { body: huge })).status).toBe(409)
      const retry = await call(server, "POST", "/liquidity/withdraw", { body: huge })
      expect(retry.status).toBe(409)
      expect(retry.body.message).toMatch(/transferId/)
    })

    it("answers 404 for an unknown peer or asset", async () => {
      const peer = await call(server, "POST", "/liquidity/deposit", { body: { peerId: "bob", amount: "1" } })
      expect(peer.status).toBe(404)
      expect(peer.body.message).toMatch(/peerId/)
      const asset = await call(server, "POST", "/liquidity/withdraw", { body: { asset: { code: "EUR", scale: 2 }, amount: "1" } })
      expect(asset.status).toBe(404)
      expect(asset.body.message).toMatch(/asset/)
    })
  })

  describe("bad input is 400 naming the field", () => {
    const cases: ReadonlyArray<readonly [string, unknown, RegExp]> = [
      ["zero amount", { peerId: "alice", amount: "0" }, /amount/],
      ["negative amount", { peerId: "alice", amount: "-1" }, /amount/],
      ["fractional amount", { peerId: "alice", amount: "1.5" }, /amount/],
      ["amount as a number", { peerId: "alice", amount: 10 }, /amount/],
      ["amount 2^64", { peerId: "alice", amount: "18446744073709551616" }, /amount/],
      ["missing amount", { peerId: "alice" }, /amount/],
      ["transferId 0", { peerId: "alice", amount: "1", transferId: "0" }, /transferId/],
      ["transferId 2^128-1", { peerId: "alice", amount: "1", transferId: ((1n << 128n) - 1n).toString() }, /transferId/],
      ["transferId not decimal", { peerId: "alice", amount: "1", transferId: "0x10" }, /transferId/],
      ["both asset and peerId", { peerId: "alice", asset: usd, amount: "1" }, /exactly one of asset or peerId/],
      ["neither asset nor peerId", { amount: "1" }, /exactly one of asset or peerId/],
      ["bad asset scale", { asset: { code: "USD", scale: 256 }, amount: "1" }, /asset\.scale/],
      ["unknown field", { peerId: "alice", amount: "1", amnt: "2" }, /amnt/]
    ]
    for (const [name, body, field] of cases) {
      it(name, async () => {
        const answer = await call(server, "POST", "/liquidity/deposit", { body })
        expect(answer.status).toBe(400)
        expect(answer.body._tag).toBe("BadRequest")
        expect(answer.body.message).toMatch(field)
      })
    }

    it("amount 2^64-1 is the largest accepted (boundary)", async () => {
      const answer = await call(server, "POST", "/liquidity/withdraw", {
        body: { peerId: "alice", amount: "18446744073709551615" }
      })
      expect(answer.status).toBe(409)
    })

    it("answers 400 for a body that is not a JSON object", async () => {
      for (const rawBody of ["{not json", "[1]", ""]) {
        const answer = await call(server, "POST", "/liquidity/deposit", { rawBody })
        expect(answer.status).toBe(400)
        expect(answer.body.message).toMatch(/^body: /)
      }
    })

    it("reports every bad field at once", async () => {
      const answer = await call(server, "POST", "/liquidity/deposit", { body: { peerId: "", amount: "x", transferId: "y" } })
      expect(answer.status).toBe(400)
      expect(answer.body.message).toMatch(/peerId: .*amount: .*transferId: /)
    })

    it("answers 413 for a body over the limit", async () => {
      const answer = await call(server, "POST", "/liquidity/deposit", {
        body: { peerId: "alice", amount: "1", padding: "x".repeat(adminBodyBytesMax) }
      })
      expect(answer.status).toBe(413)
    })

    it("answers 413 for a chunked body over the limit", async () => {
      const chunk = new TextEncoder().encode("x".repeat(1024))
      let sent = 0
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent > adminBodyBytesMax + 4096) return controller.close()
          sent += chunk.length
          controller.enqueue(chunk)
        }
      })
      const response = await fetch(`${server.baseUrl}/liquidity/deposit`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: stream,
        duplex: "half"
      } as RequestInit)
      expect(response.status).toBe(413)
    })
  })

  describe("GET /openapi.json", () => {
    it("needs the admin token (unless configured open) and lists every path with the bearer scheme", async () => {
      expect((await call(server, "GET", "/openapi.json", { token: null })).status).toBe(401)
      expect((await call(server, "GET", "/openapi.json", { token: "wrong-token-0000000000000001" })).status).toBe(401)
      expect((await call(server, "GET", "/metrics", { token: null })).status).toBe(401)
      expect((await call(server, "GET", "/metrics")).status).toBe(200)
      const answer = await call(server, "GET", "/openapi.json")
      expect(answer.status).toBe(200)
      expect(Object.keys(answer.body.paths).sort()).toEqual(
        [
          "/assets",
          "/assets/{code}/{scale}",
          "/balances",
          "/deposits",
          "/deposits/{id}",
          "/events",
          "/events/{id}",
          "/events/{id}/replay",
          "/healthz",
          "/incoming-payments",
          "/incoming-payments/{id}",
          "/incoming-payments/{id}/cancel",
          "/incoming-payments/{id}/complete",
          "/incoming-payments/{id}/credentials",
          "/liquidity/deposit",
          "/liquidity/withdraw",
          "/outgoing-payments",
          "/outgoing-payments/{id}",
          "/outgoing-payments/{id}/cancel",
          "/peers",
          "/peers/{id}",
          "/quotes",
          "/quotes/{id}",
          "/rates",
          "/rates/{base}/{quote}",
          "/wallet-addresses",
          "/wallet-addresses/{id}",
          "/wallet-addresses/{id}/deposit",
          "/wallet-addresses/{id}/incoming-payments",
          "/webhook-deliveries",
          "/withdrawals",
          "/withdrawals/{id}",
          "/withdrawals/{id}/post",
          "/withdrawals/{id}/void"
        ]
      )
      expect(JSON.stringify(answer.body.components)).toMatch(/bearer/i)
    })

    it("gives every operation a summary and a description", async () => {
      const answer = await call(server, "GET", "/openapi.json")
      const operations = Object.entries(answer.body.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
        Object.entries(item).map(([method, op]) => ({ at: `${method.toUpperCase()} ${path}`, op }))
      )
      expect(operations.length).toBeGreaterThanOrEqual(25)
      const missing = operations.filter(({ op }) =>
        typeof op.summary !== "string" || op.summary.length < 5 ||
        typeof op.description !== "string" || op.description.length < 20
      ).map(({ at }) => at)
      expect(missing).toEqual([])
    })

    it("serves a readable reference page rendered on the node, with nothing fetched from elsewhere", async () => {
      expect((await fetch(`${server.baseUrl}/docs`)).status).toBe(401) // like /openapi.json: the admin token
      const response = await fetch(`${server.baseUrl}/docs`, { headers: { authorization: `Bearer ${adminToken}` } })
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toMatch(/text\/html/)
      const page = await response.text()
      const spec = (await call(server, "GET", "/openapi.json")).body
      for (const [path, item] of Object.entries(spec.paths as Record<string, Record<string, any>>)) {
        expect(page).toContain(path)
        for (const op of Object.values(item)) expect(page).toContain(op.summary.replace(/'/g, "&#39;"))
      }
      // No script, stylesheet, font or image from anywhere: the page works without network access.
      expect(page).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|src=/i)
      expect(page).not.toMatch(/href="(https?:)?\/\//i)
      expect(page).toContain("Needs <code>Authorization: Bearer")
    })
  })
})

describe("AdminApi without an admin token", () => {
  let server: AdminServer

  beforeAll(async () => {
    server = await startAdminServer(await Effect.runPromise(makeConfig(undefined)))
  })
  afterAll(() => server.close())

  it("answers 401 on every guarded endpoint and still serves /healthz", async () => {
    expect((await call(server, "GET", "/healthz", { token: null })).status).toBe(200)
    expect((await call(server, "GET", "/peers", { token: null })).status).toBe(401)
    expect((await call(server, "GET", "/balances", { token: "" })).status).toBe(401)
    expect((await call(server, "GET", "/balances", { token: adminToken })).status).toBe(401)
    expect((await call(server, "GET", "/metrics", { token: adminToken })).status).toBe(401)
    expect((await call(server, "GET", "/openapi.json", { token: adminToken })).status).toBe(401)
  })
})

describe("AdminApi with the admin token configured as its digest", () => {
  let server: AdminServer

  beforeAll(async () => {
    const digest = `sha256:${createHash("sha256").update(adminToken, "utf8").digest("hex").toUpperCase()}`
    server = await startAdminServer(await Effect.runPromise(makeConfig(digest)))
  })
  afterAll(() => server.close())

  it("accepts the token whose digest is configured, and not the digest text itself", async () => {
    expect((await call(server, "GET", "/peers", { token: adminToken })).status).toBe(200)
    expect((await call(server, "GET", "/metrics", { token: adminToken })).status).toBe(200)
    const digestText = `sha256:${createHash("sha256").update(adminToken, "utf8").digest("hex")}`
    expect((await call(server, "GET", "/peers", { token: digestText })).status).toBe(401)
    expect((await call(server, "GET", "/peers", { token: "admin-token-for-tests-0000000002" })).status).toBe(401)
  })
})

describe("AdminApi with /metrics and /openapi.json configured open", () => {
  let server: AdminServer

  beforeAll(async () => {
    const config = await Effect.runPromise(makeConfig(adminToken))
    server = await startAdminServer({ ...config, metricsOpen: true, openapiOpen: true })
  })
  afterAll(() => server.close())

  it("serves them without a token; everything else still needs it", async () => {
    expect((await call(server, "GET", "/metrics", { token: null })).status).toBe(200)
    expect((await call(server, "GET", "/openapi.json", { token: null })).status).toBe(200)
    expect((await fetch(`${server.baseUrl}/docs`)).status).toBe(200)
    expect((await call(server, "GET", "/peers", { token: null })).status).toBe(401)
  })
})
