/**
 * Issue 11, must show: a two-phase withdrawal from a wallet address over the admin API of a running
 * node (real sockets, 127.0.0.1). While pending it reduces what can be spent (an outgoing payment
 * that needs it is refused), void restores it, post moves it out; repeated requests with the same
 * id do nothing twice; money received by an incoming payment can be withdrawn too; a hold on a
 * peer's liquidity refuses an ILP packet that needs it (T04) until voided; the audit stays clean
 * and settlement moved by exactly deposits minus posted withdrawals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ledgerOf } from "../../src/Accounting/Accounts.ts"
import * as Audit from "../../src/Accounting/Audit.ts"
import { PacketType } from "../../src/Connector/Packet.ts"
import { makePrepare } from "../support/packets.ts"
import { postPacket, runIn, startNode, type TestNode } from "../support/node.ts"
import { startTestPeer, type TestPeer } from "../support/testPeer.ts"
import { adminClient } from "../support/adminClient.ts"

const adminToken = "admin-token-for-withdrawals-001"
const usd = { code: "USD", scale: 2 }
const senderToken = "sender-token-for-withdrawals-01"
let node: TestNode
let peer: TestPeer

const { call, ok } = adminClient(() => `http://127.0.0.1:${node.adminPort}`, adminToken)

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
  peer = await startTestPeer()
  node = await startNode({
    ilpAddress: "test.money",
    adminToken,
    assets: [usd],
    peers: [
      { id: "sender", asset: usd, incomingTokens: [senderToken], staticIlpAddress: "test.money.sender" },
      {
        id: "receiver",
        asset: usd,
        incomingTokens: ["receiver-token-for-withdrawals-1"],
        outgoing: { url: peer.url, token: "outgoing-token-withdrawals-001" },
        staticIlpAddress: "test.receiver"
      }
    ]
  })
})

afterAll(async () => {
  await node?.close()
  await peer?.close()
})

const sendPacket = async (amount: bigint): Promise<string> => {
  const answer = await postPacket(node.url, makePrepare({ destination: "test.receiver.x", amount }).bytes, { token: senderToken })
  if (answer.reply === undefined) throw new Error(`HTTP ${answer.status}`)
  return answer.reply.type === PacketType.Fulfill ? "fulfill" : answer.reply.reject.code
}

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

    // A peer's liquidity: a held withdrawal refuses a packet that needs the money, until voided.
    await ok("POST", "/deposits", { id: "deposit-sender-1", peerId: "sender", amount: "1000" })
    await ok("POST", "/withdrawals", { id: "withdraw-sender-1", peerId: "sender", amount: "900" })
    expect(await sendPacket(200n)).toBe("T04")
    expect(await sendPacket(100n)).toBe("fulfill")
    await ok("POST", "/withdrawals/withdraw-sender-1/void")
    expect(await sendPacket(200n)).toBe("fulfill")
    const senderLeft = BigInt((await ok("GET", "/withdrawals/withdraw-sender-1")).balance.available)
    expect(senderLeft).toBe(700n)

    // Books: 11000 in, `left` + 5000 out; every account within its flags, debits equal credits.
    const expected = 11_000n - left - 5_000n
    const report = await runIn(node, Audit.run({ expectedSettlement: new Map([[ledgerOf(usd), expected]]) }))
    expect(Audit.renderReport(report).filter((line) => line.startsWith("VIOLATION"))).toEqual([])
    expect(Audit.isClean(report)).toBe(true)
  }, 90_000)
})
