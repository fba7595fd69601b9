/**
 * Concurrent senders try to overpay one incoming payment, through the node's ILP-over-HTTP
 * endpoint, with receipt totals in the embedded store and in a real Redis: the received total ends
 * exactly at incomingAmount, never above, and the ledger agrees.
 */
import { Effect } from "effect"
import { createConnection } from "ilp-protocol-stream"
import { afterAll, describe, expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { StreamCredentials } from "../../src/Stream/Credentials.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { makeHttpPlugin } from "../support/httpPlugin.ts"
import { depositTo, liquidityOf, runIn, startNode, type TestNode } from "../support/node.ts"
import { type RedisServer, startRedis } from "../support/redis.ts"

const usd = { code: "USD", scale: 2 }
const token = "overpay-sender-token-00000001"
const cap = 10_000n
const senders = 6

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const overpay = async (node: TestNode) => {
  await depositTo(node, { kind: "peer", peerId: "sender" }, 1_000_000n)
  const payment = await runIn(node, Effect.gen(function*() {
    const wallet = yield* (yield* WalletAddresses).create({ url: "https://wallet.test/shop", asset: usd })
    return yield* (yield* IncomingPayments).create({ walletAddressId: wallet.id, incomingAmount: cap })
  }))
  const before = await liquidityOf(node, { kind: "peer", peerId: "sender" })
  // Each sender tries to pay 40% of the cap: together 240%.
  await Promise.all(Array.from({ length: senders }, async () => {
    const credentials = await runIn(node, Effect.map(StreamCredentials, (c) => c.generate({ kind: "incoming", id: payment.id }, usd)))
    const connection = await createConnection({
      plugin: makeHttpPlugin(node.url, token) as never,
      destinationAccount: credentials.ilpAddress,
      sharedSecret: Buffer.from(credentials.sharedSecret)
    })
    await connection.createStream().sendTotal(Number(cap * 4n / 10n), { timeout: 2_500 }).catch(() => undefined)
    await connection.destroy().catch(() => undefined)
  }))
  const received = await runIn(node, Effect.flatMap(ReceiptTotals, (t) => t.paymentTotal(payment.id)))
  const [account] = await runIn(node, Effect.flatMap(Ledger, (l) => l.balances([ids.incomingPayment(payment.id)])))
  const state = (await runIn(node, Effect.flatMap(IncomingPayments, (s) => s.get(payment.id)))).state
  const spent = before - await liquidityOf(node, { kind: "peer", peerId: "sender" })
  return { received, credited: account!.creditsPosted, pending: account!.creditsPending, state, spent }
}

const nodeConfig = (redisUrl?: string) => ({
  ilpAddress: "test.shop",
  ...(redisUrl === undefined ? {} : { redisUrl }),
  peers: [{ id: "sender", asset: usd, incomingTokens: [token], staticIlpAddress: "test.sender", maxPacketAmount: "700" }]
})

describe("concurrent senders cannot overpay an incoming payment", () => {
  it("embedded receipt store", async () => {
    const node = await startNode(nodeConfig())
    cleanups.push(node.close)
    expect(await overpay(node)).toEqual({ received: cap, credited: cap, pending: 0n, state: "completed", spent: cap })
  })

  it("Redis receipt store", async () => {
    const redis: RedisServer = await startRedis()
    cleanups.push(redis.stop)
    const node = await startNode(nodeConfig(redis.url))
    cleanups.push(node.close)
    expect(await overpay(node)).toEqual({ received: cap, credited: cap, pending: 0n, state: "completed", spent: cap })
  })
})
