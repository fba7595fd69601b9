/**
 * The operator API's payment endpoints over a real socket, on one running node: wallet addresses
 * (with a deposit), incoming payments and their STREAM credentials, quotes and outgoing payments
 * from a USD wallet to an EUR incoming payment on the same node, and the refusals (bad input,
 * unknown ids, expired or reused quotes, insufficient funds). Runs on the embedded store and on
 * PostgreSQL (a server started for this file).
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { randomUUID } from "node:crypto"
import { PaymentsStore } from "../../src/Payments/Store.ts"
import { runIn, startNode, type TestNode } from "../support/node.ts"
import { type PostgresServer, startPostgres } from "../support/postgres.ts"
import { adminClient } from "../support/adminClient.ts"

const adminToken = "admin-token-for-payments-api-01"
const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }
let node: TestNode
let base: string

const { call, ok } = adminClient(() => base, adminToken)

const wallet = (name: string, asset: typeof usd) =>
  ok("POST", "/wallet-addresses", { url: `https://wallet.test/${name}`, asset })

const settled = async (id: string) => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const payment = await ok("GET", `/outgoing-payments/${id}`)
    if (payment.state === "completed" || payment.state === "failed") return payment
    if (Date.now() > deadline) throw new Error(`payment ${id} still ${payment.state}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

let postgres: PostgresServer | undefined

afterAll(async () => {
  await postgres?.stop()
}, 30_000)

describe.each(["sqlite", "postgres"] as const)("payments through the operator API on the %s store", (storeKind) => {
  beforeAll(async () => {
    const store = storeKind === "sqlite" ? {} : {
      postgresUrl: await (postgres ??= await startPostgres()).createDatabase("payments_api"),
      streamSecret: "ef".repeat(32)
    }
    node = await startNode({ ilpAddress: "test.api", adminToken, assets: [usd, eur], rates: { static: { USD: { EUR: "0.9" } } }, ...store })
    base = `http://127.0.0.1:${node.adminPort}`
    await ok("POST", "/liquidity/deposit", { asset: eur, amount: "1000000" })
  }, 60_000)

  afterAll(async () => {
    await node?.close()
  })

    it("wallet address, deposit (idempotent), incoming payment, quote, outgoing payment: completed and balanced", async () => {
      const alice = await wallet("alice", usd)
      const bob = await wallet("bob", eur)
      expect(alice).toMatchObject({ asset: usd, active: true, balance: { available: "0" } })
      const deposit = await ok("POST", `/wallet-addresses/${alice.id}/deposit`, { amount: "10000", transferId: "777001" })
      expect(deposit).toEqual({ transferId: "777001", balance: { available: "10000" } })
      expect(await ok("POST", `/wallet-addresses/${alice.id}/deposit`, { amount: "10000", transferId: "777001" }))
        .toEqual(deposit)

      const incoming = await ok("POST", "/incoming-payments", { walletAddressId: bob.id, incomingAmount: "2000" })
      expect(incoming).toMatchObject({ state: "pending", incomingAmount: { value: "2000", assetCode: "EUR", assetScale: 2 } })
      const credentials = await ok("GET", `/incoming-payments/${incoming.id}/credentials`)
      expect(credentials.ilpAddress.startsWith("test.api.")).toBe(true)
      expect(Buffer.from(credentials.sharedSecret, "base64")).toHaveLength(32)

      // No amount: what the incoming payment may still receive.
      const quote = await ok("POST", "/quotes", { walletAddressId: alice.id, receiver: { incomingPaymentId: incoming.id } })
      expect(quote).toMatchObject({
        paymentType: "FixedDelivery",
        receiver: { incomingPaymentId: incoming.id },
        receiveAmount: { value: "2000", assetCode: "EUR" },
        debitAmount: { value: "2245", assetCode: "USD" }
      })
      expect(await ok("GET", `/quotes/${quote.id}`)).toEqual(quote)

      const created = await ok("POST", "/outgoing-payments", { quoteId: quote.id })
      expect(created).toMatchObject({ quoteId: quote.id, debitAmount: quote.debitAmount })
      const done = await settled(created.id)
      expect(done).toMatchObject({ state: "completed", deliveredAmount: { value: "2000", assetCode: "EUR" } })
      const sent = BigInt(done.sentAmount.value)
      expect(sent).toBeGreaterThanOrEqual(2_223n)
      expect(sent).toBeLessThanOrEqual(2_245n)
      expect((await ok("GET", `/wallet-addresses/${alice.id}`)).balance.available).toBe((10_000n - sent).toString())
      expect((await ok("GET", `/wallet-addresses/${bob.id}`)).balance.available).toBe("0")
      const received = await ok("GET", `/incoming-payments/${incoming.id}`)
      expect(received).toMatchObject({ state: "completed", receivedAmount: { value: "2000" } })
      expect((await call("GET", `/incoming-payments/${incoming.id}/credentials`)).status).toBe(409)

      // The quote is spent.
      const again = await call("POST", "/outgoing-payments", { quoteId: quote.id })
      expect(again.status).toBe(409)
      expect(again.body.message).toMatch(/already paid/)
    })

    it("quotes to STREAM credentials by debit amount; refuses expired quotes and payments the wallet cannot cover", async () => {
      const carol = await wallet("carol", usd)
      const dave = await wallet("dave", eur)
      await ok("POST", `/wallet-addresses/${carol.id}/deposit`, { amount: "1000" })
      const incoming = await ok("POST", "/incoming-payments", { walletAddressId: dave.id })
      const credentials = await ok("GET", `/incoming-payments/${incoming.id}/credentials`)
      const quoteFor = (debitAmount: string) =>
        ok("POST", "/quotes", { walletAddressId: carol.id, receiver: credentials, debitAmount })
      const tooMuch = await quoteFor("5000")
      expect(tooMuch).toMatchObject({ paymentType: "FixedSend", receiver: { ilpAddress: credentials.ilpAddress } })
      expect(JSON.stringify(tooMuch)).not.toContain(credentials.sharedSecret)
      const refused = await call("POST", "/outgoing-payments", { quoteId: tooMuch.id })
      expect(refused.status).toBe(409)
      expect(refused.body.message).toMatch(/does not cover/)
      expect((await ok("GET", `/wallet-addresses/${carol.id}`)).balance.available).toBe("1000")

      // The same quote, stored already expired (under a new id).
      const fresh = await quoteFor("500")
      const expired = { id: randomUUID() }
      await runIn(
        node,
        Effect.flatMap(PaymentsStore, (store) =>
          Effect.flatMap(store.quotes.byId(fresh.id), (record) => store.quotes.insert({ ...record!, id: expired.id, expiresAt: 1 })))
      )
      const late = await call("POST", "/outgoing-payments", { quoteId: expired.id })
      expect(late.status).toBe(409)
      expect(late.body.message).toMatch(/expired/)
      expect((await ok("GET", `/wallet-addresses/${carol.id}`)).balance.available).toBe("1000")
    })

    it("answers 400 for bad input and 404 for unknown ids", async () => {
      const erin = await wallet("erin", usd)
      const bad = [
        { walletAddressId: erin.id, receiver: { spspUrl: "https://x.test/a" }, debitAmount: "1", receiveAmount: "1" },
        { walletAddressId: erin.id, receiver: { spspUrl: "https://x.test/a", incomingPaymentId: "x" }, debitAmount: "1" },
        { walletAddressId: erin.id, receiver: { ilpAddress: "test.x.y", sharedSecret: "AAAA" }, debitAmount: "1" },
        { walletAddressId: erin.id, receiver: { spspUrl: "https://x.test/a" }, debitAmount: "-5" }
      ]
      for (const body of bad) expect((await call("POST", "/quotes", body)).status).toBe(400)
      expect((await call("POST", "/quotes", { walletAddressId: "nope", receiver: { spspUrl: "https://x.test/a" }, debitAmount: "1" })).status)
        .toBe(404)
      expect((await call("POST", "/quotes", { walletAddressId: erin.id, receiver: { incomingPaymentId: "nope" }, debitAmount: "1" })).status)
        .toBe(409)
      expect((await call("GET", "/quotes/nope")).status).toBe(404)
      expect((await call("GET", "/outgoing-payments/nope")).status).toBe(404)
      expect((await call("POST", "/outgoing-payments", { quoteId: "nope" })).status).toBe(404)
      expect((await call("GET", "/incoming-payments/nope/credentials")).status).toBe(404)
      expect((await call("GET", "/wallet-addresses/nope")).status).toBe(404)
      expect((await call("POST", "/wallet-addresses/nope/deposit", { amount: "1" })).status).toBe(404)
    })

    it("lists wallet addresses and a wallet's incoming payments, paged by id", async () => {
      const carol = await wallet("carol-list", usd)
      const dave = await wallet("dave-list", usd)
      const created = [
        await ok("POST", "/incoming-payments", { walletAddressId: carol.id, incomingAmount: "100" }),
        await ok("POST", "/incoming-payments", { walletAddressId: carol.id }),
        await ok("POST", "/incoming-payments", { walletAddressId: carol.id, incomingAmount: "300" })
      ]
      const ids = created.map((p) => p.id as string).sort()
      const all = await ok("GET", `/wallet-addresses/${carol.id}/incoming-payments`)
      expect(all.map((p: { id: string }) => p.id)).toEqual(ids)
      const firstTwo = await ok("GET", `/wallet-addresses/${carol.id}/incoming-payments?limit=2`)
      expect(firstTwo.map((p: { id: string }) => p.id)).toEqual(ids.slice(0, 2))
      const rest = await ok("GET", `/wallet-addresses/${carol.id}/incoming-payments?limit=2&after=${ids[1]}`)
      expect(rest.map((p: { id: string }) => p.id)).toEqual(ids.slice(2))
      expect(await ok("GET", `/wallet-addresses/${dave.id}/incoming-payments`)).toEqual([])
      expect((await call("GET", "/wallet-addresses/no-such-wallet/incoming-payments")).status).toBe(404)
      expect((await call("GET", "/wallet-addresses?limit=0")).status).toBe(400)
      const wallets = await ok("GET", "/wallet-addresses?limit=500")
      expect(wallets.map((w: { id: string }) => w.id)).toEqual(expect.arrayContaining([carol.id, dave.id]))
      expect(wallets[0]).toHaveProperty("balance")
    })
})
