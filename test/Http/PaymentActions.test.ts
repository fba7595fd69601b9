/**
 * The operator's payment actions (issue 11) over the admin API of a running node: complete or
 * cancel an incoming payment (no more money; what arrived stays; only while open), cancel an
 * outgoing payment that is still retrying (it stops, refunds everything left to the wallet address,
 * and ends `failed` with the reason), and the refusals (unknown ids, finished payments). Runs on the
 * embedded store and on PostgreSQL (a server started for this file).
 */
import { createServer, type Server } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runOperatorCommand } from "../../src/OperatorCli.ts"
import { startNode, type TestNode } from "../support/node.ts"
import { type PostgresServer, startPostgres } from "../support/postgres.ts"
import { freePort } from "../support/redis.ts"
import { adminClient } from "../support/adminClient.ts"

const adminToken = "admin-token-for-payment-actions"
const usd = { code: "USD", scale: 2 }
let node: TestNode
let base: string

const { call, ok } = adminClient(() => base, adminToken)

const waitFor = async <A>(what: string, check: () => Promise<A | undefined>, timeoutMs = 30_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

let wallets = 0
const wallet = () => ok("POST", "/wallet-addresses", { url: `http://127.0.0.1:${node.openPaymentsPort}/w${++wallets}`, asset: usd })

let postgres: PostgresServer | undefined

afterAll(async () => {
  await postgres?.stop()
}, 30_000)

describe.each(["sqlite", "postgres"] as const)("payment actions on the %s store", (storeKind) => {
  beforeAll(async () => {
    const store = storeKind === "sqlite" ? {} : {
      postgresUrl: await (postgres ??= await startPostgres()).createDatabase("actions"),
      streamSecret: "cd".repeat(32)
    }
    node = await startNode({ ilpAddress: "test.actions", adminToken, assets: [usd], ...store })
    base = `http://127.0.0.1:${node.adminPort}`
  }, 60_000)

  afterAll(async () => {
    await node?.close()
  })

  describe("incoming payment actions", () => {
    it("complete: no more money, what arrived stays; only once; cancel likewise", async () => {
      const receiver = await wallet()
      const payer = await wallet()
      await ok("POST", `/wallet-addresses/${payer.id}/deposit`, { amount: "10000" })
      const incoming = await ok("POST", "/incoming-payments", { walletAddressId: receiver.id, incomingAmount: "5000" })
      // Part of it arrives first.
      const quote = await ok("POST", "/quotes", {
        walletAddressId: payer.id,
        receiver: { incomingPaymentId: incoming.id },
        receiveAmount: "1200"
      })
      const paid = await ok("POST", "/outgoing-payments", { quoteId: quote.id })
      await waitFor("the partial payment", async () => {
        const payment = await ok("GET", `/outgoing-payments/${paid.id}`)
        return payment.state === "completed" ? payment : undefined
      })
      expect(await ok("GET", `/incoming-payments/${incoming.id}`)).toMatchObject({ state: "processing", receivedAmount: { value: "1200" } })

      const completed = await ok("POST", `/incoming-payments/${incoming.id}/complete`)
      expect(completed).toMatchObject({ state: "completed", receivedAmount: { value: "1200" } })
      expect(completed.completedAt).toBeDefined()
      expect((await ok("GET", `/wallet-addresses/${receiver.id}`)).balance.available).toBe("0")
      // No more money: no credentials, no quote.
      expect((await call("GET", `/incoming-payments/${incoming.id}/credentials`)).status).toBe(409)
      expect((await call("POST", "/quotes", { walletAddressId: payer.id, receiver: { incomingPaymentId: incoming.id } })).status)
        .toBe(409)
      const again = await call("POST", `/incoming-payments/${incoming.id}/complete`)
      expect(again.status).toBe(409)
      expect(again.body.message).toMatch(/completed/)
      expect((await call("POST", `/incoming-payments/${incoming.id}/cancel`)).status).toBe(409)

      const other = await ok("POST", "/incoming-payments", { walletAddressId: receiver.id })
      expect(await ok("POST", `/incoming-payments/${other.id}/cancel`)).toMatchObject({ state: "cancelled" })
      expect((await ok("GET", `/incoming-payments/${other.id}`)).state).toBe("cancelled")
      expect((await call("POST", "/incoming-payments/no-such-payment/complete")).status).toBe(404)
    })
  })

  describe("outgoing payment actions", () => {
    it("cancel: a payment still retrying stops and refunds everything left; a finished one is refused", async () => {
      const receiver = await wallet()
      const payer = await wallet()
      await ok("POST", `/wallet-addresses/${payer.id}/deposit`, { amount: "10000" })
      // An SPSP server that answers for the quote, then goes away: the payment retries (temporary).
      const port = await freePort()
      const server: Server = createServer(async (request, response) => {
        const answer = await fetch(receiver.url, { headers: { accept: String(request.headers.accept) } })
        response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "" }).end(await answer.text())
      })
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
      const quote = await ok("POST", "/quotes", {
        walletAddressId: payer.id,
        receiver: { spspUrl: `http://127.0.0.1:${port}/pay` },
        debitAmount: "3000"
      })
      await new Promise<void>((resolve) => server.close(() => resolve()))
      const created = await ok("POST", "/outgoing-payments", { quoteId: quote.id })
      expect((await ok("GET", `/wallet-addresses/${payer.id}`)).balance.available).toBe("7000")
      await waitFor("a temporary failure", async () => {
        const payment = await ok("GET", `/outgoing-payments/${created.id}`)
        return payment.error !== undefined ? payment : undefined
      })

      // Through the CLI, as an operator would.
      const lines: Array<string> = []
      const code = await runOperatorCommand("cancel-outgoing-payment", [created.id], {
        ADMIN_URL: base,
        ADMIN_TOKEN: adminToken
      }, { out: (text) => lines.push(text), err: (text) => lines.push(text) })
      expect(code).toBe(0)
      const failed = await waitFor("the cancelled payment to end", async () => {
        const payment = await ok("GET", `/outgoing-payments/${created.id}`)
        return payment.state === "failed" ? payment : undefined
      })
      expect(failed).toMatchObject({ error: "cancelled by the operator", sentAmount: { value: "0" } })
      expect((await ok("GET", `/wallet-addresses/${payer.id}`)).balance.available).toBe("10000")
      const again = await call("POST", `/outgoing-payments/${created.id}/cancel`)
      expect(again.status).toBe(409)
      expect((await call("POST", "/outgoing-payments/no-such-payment/cancel")).status).toBe(404)
      expect(receiver.balance.available).toBe("0")
    })
  })
})
