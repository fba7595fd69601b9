/**
 * The payments commands (`wallet-addresses`, `incoming-payments`, `quotes`, `outgoing-payments`)
 * against a real admin API on 127.0.0.1 (in-memory stores): text by default, the API's JSON with
 * `--json`, `--help` per command, and the pure parsing at its boundaries.
 */
import { describe, expect, it } from "vitest"
import { paymentsRequest } from "../src/OperatorCliPayments.ts"
import { cliAgainstAdminServer } from "./support/cli.ts"

const adminToken = "admin-token-for-cli-payments-01"
const usd = { code: "USD", scale: 2 }
const run = cliAgainstAdminServer(adminToken)

describe("payments commands against a running admin API", () => {
  it("wallet address and incoming payment: create, get, list, credentials; text and --json", async () => {
    const wallet = await run("wallet-addresses", ["create", "--url", "https://wallet.test/cli-alice", "--asset", "USD:2", "--json"])
    expect(wallet).toMatchObject({ code: 0, json: { url: "https://wallet.test/cli-alice", asset: usd, active: true } })
    const id = wallet.json.id as string
    expect((await run("wallet-addresses", ["get", id])).out).toBe(
      `wallet address ${id} https://wallet.test/cli-alice USD:2 active, available 0`
    )
    expect((await run("wallet-addresses", ["list", "--json"])).json.map((w: any) => w.id)).toContain(id)

    const payment = await run("incoming-payments", ["create", "--wallet", id, "--amount", "2500", "--json"])
    expect(payment).toMatchObject({ code: 0, json: { walletAddressId: id, state: "pending", incomingAmount: { value: "2500" } } })
    const paymentId = payment.json.id as string
    expect((await run("incoming-payments", ["get", paymentId])).out).toBe(
      `incoming payment ${paymentId} (wallet ${id}): pending, received 0 (USD:2) of 2500 (USD:2)`
    )
    expect((await run("incoming-payments", ["list", "--wallet", id, "--json"])).json.map((p: any) => p.id)).toEqual([paymentId])
    const credentials = await run("incoming-payments", ["credentials", paymentId])
    expect(credentials.out).toMatch(/^ILP address test\.connector\.\S+\nshared secret \S{40,}$/)

    expect((await run("incoming-payments", ["get", "no-such-payment"])).code).toBe(1)
    expect((await run("quotes", ["get", "no-such-quote"])).code).toBe(1)
    expect((await run("outgoing-payments", ["get", "no-such-payment"])).code).toBe(1)
  })

  it("--help per command; bad arguments are usage errors (exit 2) that name the problem", async () => {
    for (const command of ["wallet-addresses", "incoming-payments", "quotes", "outgoing-payments"]) {
      const help = await run(command, ["--help"])
      expect(help.code).toBe(0)
      expect(help.out.startsWith(`${command}:`)).toBe(true)
    }
    const missing = await run("quotes", ["create", "--wallet", "w", "--debit", "100"])
    expect(missing.code).toBe(2)
    expect(missing.err).toContain("give exactly one receiver")
  })
})

describe("paymentsRequest (pure)", () => {
  it("builds each request", () => {
    expect(paymentsRequest("quotes", ["create", "--wallet", "w1", "--spsp", "http://127.0.0.1:1/bob", "--receive", "500"])).toMatchObject({
      method: "POST",
      path: "/quotes",
      body: { walletAddressId: "w1", receiver: { spspUrl: "http://127.0.0.1:1/bob" }, receiveAmount: "500" }
    })
    expect(paymentsRequest("quotes", ["create", "--wallet", "w1", "--ilp-address", "test.x", "--shared-secret", "c2VjcmV0", "--debit", "7"]).body)
      .toMatchObject({ receiver: { ilpAddress: "test.x", sharedSecret: "c2VjcmV0" }, debitAmount: "7" })
    expect(paymentsRequest("outgoing-payments", ["create", "--quote", "q1"])).toMatchObject({ method: "POST", path: "/outgoing-payments", body: { quoteId: "q1" } })
    expect(paymentsRequest("incoming-payments", ["list", "--wallet", "w1", "--limit", "10", "--after", "p9"]).path)
      .toBe("/wallet-addresses/w1/incoming-payments?limit=10&after=p9")
  })

  it("refuses what the API would refuse later, naming it", () => {
    expect(() => paymentsRequest("quotes", ["create", "--wallet", "w1", "--spsp", "u", "--debit", "1", "--receive", "1"])).toThrow("--debit N or --receive N")
    expect(() => paymentsRequest("quotes", ["create", "--wallet", "w1", "--ilp-address", "test.x", "--debit", "1"])).toThrow("--shared-secret is required")
    expect(() => paymentsRequest("wallet-addresses", ["create", "--url", "u", "--asset", "USD"])).toThrow("CODE:SCALE")
    expect(() => paymentsRequest("incoming-payments", ["get", "../x"])).toThrow("takes one id")
    expect(() => paymentsRequest("outgoing-payments", ["send"])).toThrow('needs create, get (got "send")')
  })
})
