/**
 * Deposits and two-phase withdrawals over the operator API on a real socket (127.0.0.1), on the
 * embedded ledger in memory: idempotency by the client's id, credit lines never withdrawable,
 * inactive wallet addresses refuse deposits, and the audit stays clean with the settlement net
 * equal to deposits minus posted withdrawals.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ledgerOf } from "../../src/Accounting/Accounts.ts"
import * as Audit from "../../src/Accounting/Audit.ts"
import * as Config from "../../src/Config.ts"
import { WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { type AdminServer, startAdminServer } from "../support/adminServer.ts"

const adminToken = "admin-token-for-tests-0000000002"
const usd = { code: "USD", scale: 2 }

const makeConfig = () =>
  Config.decodeConfig({
    host: "127.0.0.1",
    adminPort: 0,
    connectorPort: 0,
    dataDir: ":memory:",
    adminToken,
    assets: [usd],
    peers: [
      {
        id: "lender",
        asset: usd,
        incomingTokens: ["lender-incoming-token-000001"],
        staticIlpAddress: "test.lender",
        routes: [],
        creditLimit: "1000"
      },
      { id: "plain", asset: usd, incomingTokens: ["plain-incoming-token-0000001"], staticIlpAddress: "test.plain", routes: [] }
    ]
  }, {})

interface Answer {
  readonly status: number
  readonly body: any
}

const call = async (server: AdminServer, method: "GET" | "POST", path: string, body?: unknown): Promise<Answer> => {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
}

let sequence = 0
const freshId = (label: string) => `${label}-${Date.now()}-${sequence++}`

describe("deposits and withdrawals (admin API)", () => {
  let server: AdminServer
  /** What the test moved in and out of the USD ledger: the audit's expected settlement net. */
  let settlementNet = 0n

  beforeAll(async () => {
    server = await startAdminServer(await Effect.runPromise(makeConfig()))
  })
  afterAll(() => server.close())

  const deposit = (body: Record<string, unknown>) => call(server, "POST", "/deposits", body)

  it("a credit line is never withdrawable: a peer with creditLimit 1000 and no deposit cannot withdraw", async () => {
    const held = await call(server, "POST", "/withdrawals", { id: freshId("w"), peerId: "lender", amount: "1000" })
    expect(held.status).toBe(409)
    expect(held.body.message).toContain("credit line")
    const one = await call(server, "POST", "/withdrawals", { id: freshId("w"), peerId: "lender", amount: "1" })
    expect(one.status).toBe(409)
    // The single-phase endpoint is fixed the same way.
    const single = await call(server, "POST", "/liquidity/withdraw", { peerId: "lender", amount: "1000" })
    expect(single.status).toBe(409)
    const balances = await call(server, "GET", "/balances")
    const lender = balances.body.peers.find((peer: { peerId: string }) => peer.peerId === "lender")
    expect(lender.liquidity.available).toBe("1000") // the line itself is still there to be used by packets
  })

  it("deposits once per id and answers the original deposit on a repeat", async () => {
    const id = freshId("d")
    const first = await deposit({ id, peerId: "lender", amount: "300" })
    expect(first.status).toBe(200)
    settlementNet += 300n
    expect(first.body).toMatchObject({ id, kind: "deposit", state: "posted", amount: "300" })
    expect(first.body.balance).toMatchObject({ available: "1300", withdrawable: "300", creditLimit: "1000" })
    const again = await deposit({ id, peerId: "lender", amount: "300" })
    expect(again.status).toBe(200)
    expect(again.body).toEqual(first.body) // same transfer, same time, same balance: nothing moved twice
    const read = await call(server, "GET", `/deposits/${id}`)
    expect(read.body).toEqual(first.body)
    const changed = await deposit({ id, peerId: "lender", amount: "301" })
    expect(changed.status).toBe(409)
    const elsewhere = await deposit({ id, peerId: "plain", amount: "300" })
    expect(elsewhere.status).toBe(409)
    expect((await call(server, "GET", "/deposits/no-such-deposit")).status).toBe(404)
  })

  it("withdraws only what was deposited: pending holds it, void releases it, post pays it out", async () => {
    const id = freshId("w")
    const tooMuch = await call(server, "POST", "/withdrawals", { id: freshId("w"), peerId: "lender", amount: "301" })
    expect(tooMuch.status).toBe(409)
    const held = await call(server, "POST", "/withdrawals", { id, peerId: "lender", amount: "300", timeoutSeconds: 3600 })
    expect(held.status).toBe(200)
    expect(held.body).toMatchObject({ id, kind: "withdrawal", state: "pending", amount: "300" })
    expect(held.body.balance).toMatchObject({ available: "1000", withdrawable: "0", debitsPending: "300" })
    expect(Date.parse(held.body.expiresAt) - Date.parse(held.body.createdAt)).toBe(3_600_000)
    // A repeat holds nothing more.
    const again = await call(server, "POST", "/withdrawals", { id, peerId: "lender", amount: "300", timeoutSeconds: 3600 })
    expect(again.body).toEqual(held.body)
    // While it is held, nothing else can take it.
    expect((await call(server, "POST", "/withdrawals", { id: freshId("w"), peerId: "lender", amount: "1" })).status).toBe(409)

    const voided = await call(server, "POST", `/withdrawals/${id}/void`)
    expect(voided.status).toBe(200)
    expect(voided.body).toMatchObject({ state: "voided", balance: { withdrawable: "300", debitsPending: "0" } })
    expect((await call(server, "POST", `/withdrawals/${id}/void`)).body.state).toBe("voided") // idempotent
    expect((await call(server, "POST", `/withdrawals/${id}/post`)).status).toBe(409) // voided: cannot be paid

    const id2 = freshId("w")
    expect((await call(server, "POST", "/withdrawals", { id: id2, peerId: "lender", amount: "200" })).status).toBe(200)
    const posted = await call(server, "POST", `/withdrawals/${id2}/post`)
    expect(posted.status).toBe(200)
    settlementNet -= 200n
    expect(posted.body).toMatchObject({ state: "posted", balance: { available: "1100", withdrawable: "100" } })
    const repost = await call(server, "POST", `/withdrawals/${id2}/post`)
    expect(repost.body).toEqual(posted.body) // idempotent: paid once
    const voidPosted = await call(server, "POST", `/withdrawals/${id2}/void`)
    expect(voidPosted.status).toBe(409)
    expect(voidPosted.body.message).toContain("posted")
    expect((await call(server, "GET", `/withdrawals/${id2}`)).body.state).toBe("posted")
    expect((await call(server, "GET", "/withdrawals/unknown-one")).status).toBe(404)
    expect((await call(server, "POST", "/withdrawals/unknown-one/post")).status).toBe(404)
  })

  it("an expired hold releases its amount and cannot be posted", async () => {
    const dep = await deposit({ id: freshId("d"), asset: usd, amount: "50" })
    expect(dep.status).toBe(200)
    settlementNet += 50n
    const id = freshId("w")
    const held = await call(server, "POST", "/withdrawals", { id, asset: usd, amount: "50", timeoutSeconds: 1 })
    expect(held.status).toBe(200)
    const deadline = Date.now() + 15_000
    let state = held.body.state
    while (state !== "expired" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      state = (await call(server, "GET", `/withdrawals/${id}`)).body.state
    }
    expect(state).toBe("expired")
    expect((await call(server, "POST", `/withdrawals/${id}/post`)).status).toBe(409)
    const after = await call(server, "POST", `/withdrawals/${id}/void`)
    expect(after.body).toMatchObject({ state: "expired" })
  })

  it("wallet addresses: deposits and withdrawals; an inactive one refuses deposits", async () => {
    const created = await call(server, "POST", "/wallet-addresses", {
      url: `https://wallet.example/${freshId("alice")}`,
      asset: usd
    })
    expect(created.status).toBe(200)
    const walletAddressId = created.body.id as string
    expect((await deposit({ id: freshId("d"), walletAddressId, amount: "70" })).status).toBe(200)
    settlementNet += 70n
    const id = freshId("w")
    expect((await call(server, "POST", "/withdrawals", { id, walletAddressId, amount: "70" })).status).toBe(200)
    expect((await call(server, "POST", "/withdrawals", { id: freshId("w"), walletAddressId, amount: "1" })).status).toBe(409)
    expect((await call(server, "POST", `/withdrawals/${id}/post`)).body.balance.available).toBe("0")
    settlementNet -= 70n

    await server.run(Effect.flatMap(WalletAddresses, (wallets) => wallets.setActive(walletAddressId, false)))
    const refused = await deposit({ id: freshId("d"), walletAddressId, amount: "5" })
    expect(refused.status).toBe(409)
    expect(refused.body.message).toContain("inactive")
    const legacy = await call(server, "POST", `/wallet-addresses/${walletAddressId}/deposit`, { amount: "5" })
    expect(legacy.status).toBe(409)
  })

  it("incoming payments: nothing received, nothing to withdraw", async () => {
    const wallet = await call(server, "POST", "/wallet-addresses", { url: `https://wallet.example/${freshId("bob")}`, asset: usd })
    const payment = await call(server, "POST", "/incoming-payments", { walletAddressId: wallet.body.id })
    expect(payment.status).toBe(200)
    const held = await call(server, "POST", "/withdrawals", { id: freshId("w"), incomingPaymentId: payment.body.id, amount: "1" })
    expect(held.status).toBe(409)
    const unknown = await call(server, "POST", "/withdrawals", { id: freshId("w"), incomingPaymentId: "nope", amount: "1" })
    expect(unknown.status).toBe(404)
  })

  it("refuses bad input with 400 and names the field", async () => {
    const both = await call(server, "POST", "/deposits", { id: "x1", peerId: "lender", asset: usd, amount: "1" })
    expect(both.status).toBe(400)
    expect(both.body.message).toContain("exactly one")
    expect((await call(server, "POST", "/deposits", { id: "bad id!", peerId: "lender", amount: "1" })).status).toBe(400)
    expect((await call(server, "POST", "/deposits", { peerId: "lender", amount: "1" })).status).toBe(400)
    expect((await call(server, "POST", "/deposits", { id: "x2", incomingPaymentId: "p", amount: "1" })).status).toBe(400)
    const timeout = await call(server, "POST", "/withdrawals", { id: "x3", peerId: "lender", amount: "1", timeoutSeconds: 0 })
    expect(timeout.status).toBe(400)
    expect(timeout.body.message).toContain("timeoutSeconds")
    expect((await call(server, "POST", "/deposits", { id: "x4", peerId: "nobody", amount: "1" })).status).toBe(404)
    expect((await call(server, "POST", "/deposits", { id: "x5", asset: { code: "EUR", scale: 2 }, amount: "1" })).status)
      .toBe(404)
  })

  it("the audit is clean and settlement moved by exactly the deposits less the posted withdrawals", async () => {
    const report = await server.run(Audit.run({ expectedSettlement: new Map([[ledgerOf(usd), settlementNet]]) }))
    expect(Audit.renderReport(report).filter((line) => line.startsWith("VIOLATION"))).toEqual([])
    expect(Audit.isClean(report)).toBe(true)
  })
})
