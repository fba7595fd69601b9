/**
 * Issue 11, must show: a two-phase withdrawal from a wallet address over the admin API of a running
 * node (real sockets, 127.0.0.1). While pending it reduces what can be spent (an outgoing payment
 * that needs it is refused), void restores it, post moves it out; repeated requests with the same
 * id do nothing twice; money received by an incoming payment can be withdrawn too; the audit stays
 * clean and settlement moved by exactly deposits minus posted withdrawals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ledgerOf } from "../../src/Accounting/Accounts.ts"
import * as Audit from "../../src/Accounting/Audit.ts"
import { runIn, startNode, type TestNode } from "../support/node.ts"

const adminToken = "admin-token-for-withdrawals-001"
const usd = { code: "USD", scale: 2 }
let node: TestNode

interface Answer {
  readonly status: number
  readonly body: any
}

const call = async (method: "GET" | "POST", path: string, body?: unknown): Promise<Answer> => {
  const response = await fetch(`http://127.0.0.1:${node.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
}

const ok = async (method: "GET" | "POST", path: string, body?: unknown) => {
  const answer = await call(method, path, body)
  if (answer.status !== 200) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body
}

const settled = async (id: string) => {
  const deadline = Date.now() + 20_000
  for (;;) {
    const payment = await ok("GET", `/outgoing-payments/${id}`)
    if (payment.state === "completed" || payment.state === "failed") return payment
    if (Date.now() > deadline) throw new Error(`payment ${id} still ${payment.state}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const availableOf = async (walletAddressId: string): Promise<bigint> =>
  BigInt((await ok("GET", `/wallet-addresses/${walletAddressId}`)).balance.available)

/** Quotes `amount` from the wallet to a fresh incoming payment of `to`, and tries to pay it. */
const tryToPay = async (fromWalletId: string, toWalletId: string, amount: bigint) => {
  const incoming = await ok("POST", "/incoming-payments", { walletAddressId: toWalletId, incomingAmount: amount.toString() })
  const quote = await ok("POST", "/quotes", { walletAddressId: fromWalletId, receiver: { incomingPaymentId: incoming.id } })
  expect(BigInt(quote.debitAmount.value)).toBeGreaterThanOrEqual(amount) // the quote allows for slippage
  return { incoming, answer: await call("POST", "/outgoing-payments", { quoteId: quote.id }) }
}

beforeAll(async () => {
  node = await startNode({ ilpAddress: "test.money", adminToken, assets: [usd] })
})

afterAll(async () => {
  await node?.close()
})

describe("two-phase withdrawal from a wallet address on a running node", () => {
  it("pending holds the money against payments, void restores it, post moves it out, once per id", async () => {
    const alice = await ok("POST", "/wallet-addresses", { url: "https://wallet.test/alice", asset: usd })
    const bob = await ok("POST", "/wallet-addresses", { url: "https://wallet.test/bob", asset: usd })

    const deposit = { id: "deposit-alice-1", walletAddressId: alice.id, amount: "10000" }
    const deposited = await ok("POST", "/deposits", deposit)
    expect(await ok("POST", "/deposits", deposit)).toEqual(deposited) // once
    expect(await availableOf(alice.id)).toBe(10_000n)

    // Pending: 8000 held; a payment of 5000 needs part of it and is refused before sending anything.
    const hold = { id: "withdraw-alice-1", walletAddressId: alice.id, amount: "8000" }
    const held = await ok("POST", "/withdrawals", hold)
    expect(held).toMatchObject({ state: "pending", balance: { available: "2000", withdrawable: "2000" } })
    expect(await ok("POST", "/withdrawals", hold)).toEqual(held) // once
    expect(await availableOf(alice.id)).toBe(2_000n)
    const refused = await tryToPay(alice.id, bob.id, 5_000n)
    expect(refused.answer.status).toBe(409)
    expect(refused.answer.body.message).toContain("balance")
    expect(await availableOf(alice.id)).toBe(2_000n)

    // Void: the 8000 are back and the same payment goes through.
    const voided = await ok("POST", "/withdrawals/withdraw-alice-1/void")
    expect(voided).toMatchObject({ state: "voided", balance: { available: "10000" } })
    expect(await ok("POST", "/withdrawals/withdraw-alice-1/void")).toEqual(voided)
    const paid = await tryToPay(alice.id, bob.id, 5_000n)
    expect(paid.answer.status).toBe(200)
    const done = await settled(paid.answer.body.id)
    expect(done).toMatchObject({ state: "completed" })
    expect((await ok("GET", `/incoming-payments/${paid.incoming.id}`)).state).toBe("completed")
    const left = await availableOf(alice.id) // 10000 less what was sent (leftovers refunded)
    expect(left).toBe(10_000n - BigInt(done.sentAmount.value))
    expect(left).toBeLessThanOrEqual(5_000n)

    // Post: the rest leaves the ledger, once, however often it is asked.
    const hold2 = { id: "withdraw-alice-2", walletAddressId: alice.id, amount: left.toString() }
    await ok("POST", "/withdrawals", hold2)
    const posted = await ok("POST", "/withdrawals/withdraw-alice-2/post")
    expect(posted).toMatchObject({ state: "posted", amount: left.toString(), balance: { available: "0" } })
    expect(await ok("POST", "/withdrawals/withdraw-alice-2/post")).toEqual(posted)
    expect(await ok("POST", "/withdrawals", hold2)).toMatchObject({ state: "posted" })
    expect((await call("POST", "/withdrawals/withdraw-alice-2/void")).status).toBe(409)
    expect(await availableOf(alice.id)).toBe(0n)
    const nothingLeft = await call("POST", "/withdrawals", { id: "withdraw-alice-3", walletAddressId: alice.id, amount: "1" })
    expect(nothingLeft.status).toBe(409)

    // What the incoming payment received can be withdrawn from it, and only that.
    const tooMuch = await call("POST", "/withdrawals", { id: "withdraw-in-0", incomingPaymentId: paid.incoming.id, amount: "5001" })
    expect(tooMuch.status).toBe(409)
    await ok("POST", "/withdrawals", { id: "withdraw-in-1", incomingPaymentId: paid.incoming.id, amount: "5000" })
    expect(await ok("POST", "/withdrawals/withdraw-in-1/post")).toMatchObject({ state: "posted", balance: { available: "0" } })

    // Books: 10000 in, `left` + 5000 out; every account within its flags, debits equal credits.
    const expected = 10_000n - left - 5_000n
    const report = await runIn(node, Audit.run({ expectedSettlement: new Map([[ledgerOf(usd), expected]]) }))
    expect(Audit.renderReport(report).filter((line) => line.startsWith("VIOLATION"))).toEqual([])
    expect(Audit.isClean(report)).toBe(true)
  })
})
