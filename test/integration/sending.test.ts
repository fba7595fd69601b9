/**
 * Sending between two running nodes over real sockets (SPEC §8). Node A (USD wallets) is peered with
 * node B (EUR wallets) over ILP-over-HTTP; the link is in EUR and A converts USD → EUR at 0.9. B
 * takes packets of at most 20.00 EUR from A, so Pay must split payments using the F08 data.
 *
 * Each test reads both ledgers: the files themselves (transfer counts) and the balances (exact).
 */
import { Effect } from "effect"
import { DatabaseSync } from "node:sqlite"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { OutgoingPayments } from "../../src/Payments/OutgoingPayments.ts"
import { type CreateQuote, Quotes } from "../../src/Payments/Quotes.ts"
import { type WalletAddress, WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { StreamCredentials } from "../../src/Stream/Credentials.ts"
import { depositTo, liquidityOf, runIn, startNode, type TestNode } from "../support/node.ts"
import {
  balanceOf,
  countTransfers,
  fundWallet,
  packetTransfers,
  tempDataDir,
  waitForPayment
} from "../support/sending.ts"

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }
const aToB = "token-node-a-sends-to-node-b-01"
const bToA = "token-node-b-sends-to-node-a-01"
const maxPacketAtB = 2_000n

const dirA = tempDataDir("sending-a")
const dirB = tempDataDir("sending-b")
let nodeA: TestNode
let nodeB: TestNode
let walletCount = 0

const configB = () => ({
  ilpAddress: "test.b",
  dataDir: dirB.path,
  assets: [eur],
  peers: [{
    id: "a",
    asset: eur,
    incomingTokens: [aToB],
    staticIlpAddress: "test.a",
    maxPacketAmount: maxPacketAtB.toString()
  }]
})

const configA = () => ({
  ilpAddress: "test.a",
  dataDir: dirA.path,
  assets: [usd, eur],
  rates: { static: { USD: { EUR: "0.9" } } },
  peers: [{
    id: "b",
    asset: eur,
    incomingTokens: [bToA],
    outgoing: { url: nodeB.url, token: aToB },
    staticIlpAddress: "test.b",
    routes: ["test.b"]
  }]
})

const createWallet = (node: TestNode, asset: typeof usd) =>
  runIn(
    node,
    Effect.flatMap(WalletAddresses, (wallets) =>
      wallets.create({ url: `http://127.0.0.1:${node.openPaymentsPort}/w${++walletCount}`, asset }))
  )

const quote = (input: CreateQuote) => runIn(nodeA, Effect.flatMap(Quotes, (quotes) => quotes.create(input)))

const pay = (quoteId: string) =>
  runIn(nodeA, Effect.flatMap(OutgoingPayments, (payments) => payments.create({ quoteId })))

/** Credentials of an incoming payment on B, as B's Open Payments API would hand them out. */
const incomingOnB = async (wallet: WalletAddress, incomingAmount: bigint) => {
  const payment = await runIn(
    nodeB,
    Effect.flatMap(IncomingPayments, (payments) => payments.create({ walletAddressId: wallet.id, incomingAmount }))
  )
  const credentials = await runIn(
    nodeB,
    Effect.map(StreamCredentials, (c) => c.generate({ kind: "incoming", id: payment.id }, wallet.asset))
  )
  return { payment, credentials }
}

/** Every balance a cross-node payment moves, on both nodes. */
const snapshot = async (walletA: WalletAddress, receiverAccountB: bigint) => ({
  walletA: await balanceOf(nodeA, walletA.ledgerAccountId),
  usdLiquidityA: await liquidityOf(nodeA, { kind: "asset", asset: usd }),
  eurLiquidityA: await liquidityOf(nodeA, { kind: "asset", asset: eur }),
  peerBAtA: await liquidityOf(nodeA, { kind: "peer", peerId: "b" }),
  peerAAtB: await liquidityOf(nodeB, { kind: "peer", peerId: "a" }),
  receiverB: await balanceOf(nodeB, receiverAccountB),
  transfersA: countTransfers(dirA.path),
  transfersB: countTransfers(dirB.path)
})

beforeAll(async () => {
  nodeB = await startNode(configB())
  nodeA = await startNode(configA())
  await depositTo(nodeA, { kind: "asset", asset: eur }, 10_000_000n)
  await depositTo(nodeB, { kind: "peer", peerId: "a" }, 10_000_000n)
})

afterAll(async () => {
  await nodeA?.close()
  await nodeB?.close()
  dirA.remove()
  dirB.remove()
})

describe("sending across two nodes", () => {
  it("quotes by receive amount without any transfer, pays exactly, completes the incoming payment", async () => {
    const walletA = await createWallet(nodeA, usd)
    const walletB = await createWallet(nodeB, eur)
    await fundWallet(nodeA, walletA, 100_000n)
    const { payment: incoming, credentials } = await incomingOnB(walletB, 4_500n)
    const before = await snapshot(walletA, incoming.ledgerAccountId)

    const q = await quote({
      walletAddressId: walletA.id,
      receiver: { kind: "stream", ilpAddress: credentials.ilpAddress, sharedSecret: credentials.sharedSecret },
      receiveAmount: 4_500n
    })
    expect(q.paymentType).toBe("FixedDelivery")
    expect(q.receiveAmount).toEqual({ value: 4_500n, asset: eur })
    expect(q.debitAmount.asset).toEqual(usd)
    // 4500 / (0.9 * 0.99) + 1 = 5051.
    expect(q.debitAmount.value).toBe(5_051n)
    expect(q.maxPacketAmount).toBeLessThanOrEqual(2_223n)
    expect(q.expiresAt).toBeGreaterThan(Date.now())
    // The probes crossed both nodes and created no transfer anywhere.
    expect(await snapshot(walletA, incoming.ledgerAccountId)).toEqual(before)

    const created = await pay(q.id)
    expect(["funding", "sending"]).toContain(created.state)
    const done = await waitForPayment(nodeA, created.id)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.deliveredAmount).toBe(4_500n)
    expect(done.sentAmount).toBeGreaterThan(0n)
    expect(done.sentAmount).toBeLessThanOrEqual(q.debitAmount.value)

    const after = await snapshot(walletA, incoming.ledgerAccountId)
    expect(after.walletA).toBe(before.walletA - done.sentAmount)
    expect(after.usdLiquidityA).toBe(before.usdLiquidityA + done.sentAmount)
    expect(after.eurLiquidityA).toBe(before.eurLiquidityA - 4_500n)
    expect(after.peerBAtA).toBe(before.peerBAtA + 4_500n)
    expect(after.peerAAtB).toBe(before.peerAAtB - 4_500n)
    expect(after.receiverB).toBe(before.receiverB + 4_500n)
    expect(await balanceOf(nodeA, ids.outgoingPayment(done.id))).toBe(0n)
    const incomingAfter = await runIn(nodeB, Effect.flatMap(IncomingPayments, (p) => p.get(incoming.id)))
    expect(incomingAfter.state).toBe("completed")
    // 4500 EUR cents in packets of at most 2000: Pay split the payment.
    expect(after.transfersB - before.transfersB).toBeGreaterThanOrEqual(3)
  })

  it("quotes by debit amount to an SPSP URL and sends exactly that amount, split by the peer's maxPacketAmount", async () => {
    const walletA = await createWallet(nodeA, usd)
    const walletB = await createWallet(nodeB, eur)
    await fundWallet(nodeA, walletA, 50_000n)
    const before = await snapshot(walletA, walletB.ledgerAccountId)
    const packetsB = packetTransfers(dirB.path)

    const q = await quote({ walletAddressId: walletA.id, receiver: { kind: "spsp", url: walletB.url }, debitAmount: 12_000n })
    expect(q.paymentType).toBe("FixedSend")
    expect(q.debitAmount).toEqual({ value: 12_000n, asset: usd })
    // (12000 - 1) * 0.891, rounded up.
    expect(q.receiveAmount).toEqual({ value: 10_692n, asset: eur })
    expect(await snapshot(walletA, walletB.ledgerAccountId)).toEqual(before)

    const done = await waitForPayment(nodeA, (await pay(q.id)).id)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.sentAmount).toBe(12_000n)
    const after = await snapshot(walletA, walletB.ledgerAccountId)
    const arrived = after.receiverB - before.receiverB
    expect(arrived).toBe(done.deliveredAmount)
    expect(arrived).toBeGreaterThanOrEqual(q.receiveAmount.value)
    expect(arrived).toBeLessThanOrEqual(10_800n)
    expect(after.walletA).toBe(before.walletA - 12_000n)
    expect(after.usdLiquidityA).toBe(before.usdLiquidityA + 12_000n)
    expect(after.eurLiquidityA).toBe(before.eurLiquidityA - arrived)
    expect(after.peerAAtB).toBe(before.peerAAtB - arrived)
    // 108.00 EUR in packets of at most 20.00 EUR.
    expect(packetTransfers(dirB.path) - packetsB).toBeGreaterThanOrEqual(6)
  })

  it("fails with a reason when the receiver is gone, and refunds the wallet address exactly", async () => {
    const walletA = await createWallet(nodeA, usd)
    const walletB = await createWallet(nodeB, eur)
    await fundWallet(nodeA, walletA, 30_000n)
    const spsp = await fetch(walletB.url, { headers: { accept: "application/spsp4+json" } })
      .then((response) => response.json() as Promise<{ destination_account: string; shared_secret: string }>)
    const q = await quote({
      walletAddressId: walletA.id,
      receiver: { kind: "stream", ilpAddress: spsp.destination_account, sharedSecret: Buffer.from(spsp.shared_secret, "base64") },
      debitAmount: 10_000n
    })
    await runIn(nodeB, Effect.flatMap(WalletAddresses, (wallets) => wallets.setActive(walletB.id, false)))
    const before = await snapshot(walletA, walletB.ledgerAccountId)

    const done = await waitForPayment(nodeA, (await pay(q.id)).id)
    expect(done.state).toBe("failed")
    expect(done.error).toMatch(/F02/)
    expect(done.error).toMatch(/no longer exists/)
    expect(done.sentAmount).toBe(0n)
    expect(done.deliveredAmount).toBe(0n)
    const after = await snapshot(walletA, walletB.ledgerAccountId)
    expect(after.walletA).toBe(30_000n)
    expect(await balanceOf(nodeA, ids.outgoingPayment(done.id))).toBe(0n)
    // Only the funding and its refund were written on A; nothing on B.
    expect({ ...after, transfersA: after.transfersA - 2 }).toEqual(before)
  })

  it("refuses a payment the wallet address cannot cover, before sending anything", async () => {
    const walletA = await createWallet(nodeA, usd)
    const walletB = await createWallet(nodeB, eur)
    await fundWallet(nodeA, walletA, 1_000n)
    const q = await quote({ walletAddressId: walletA.id, receiver: { kind: "spsp", url: walletB.url }, debitAmount: 5_000n })
    const before = await snapshot(walletA, walletB.ledgerAccountId)
    const refused = await runIn(
      nodeA,
      Effect.flip(Effect.flatMap(OutgoingPayments, (payments) => payments.create({ quoteId: q.id })))
    )
    expect(refused._tag).toBe("InsufficientFunds")
    expect(await snapshot(walletA, walletB.ledgerAccountId)).toEqual(before)
    const listed = await runIn(nodeA, Effect.flatMap(OutgoingPayments, (payments) => payments.list(walletA.id, { limit: 10 })))
    expect(listed).toEqual([])
  })

  it("resumes a payment after a restart without paying twice", async () => {
    const walletA = await createWallet(nodeA, usd)
    const walletB = await createWallet(nodeB, eur)
    await fundWallet(nodeA, walletA, 500_000n)
    const q = await quote({ walletAddressId: walletA.id, receiver: { kind: "spsp", url: walletB.url }, debitAmount: 300_000n })
    const before = await snapshot(walletA, walletB.ledgerAccountId)
    const created = await pay(q.id)
    // Stop node A in the middle of the payment (about 135 packets at Pay's pace).
    const midway = await waitForPayment(nodeA, created.id, (payment) => payment.sentAmount > 0n || payment.state !== "sending")
    expect(midway.state).toBe("sending")
    await nodeA.close()
    const stopped = { sent: openLedgerSent(created.id) }
    expect(stopped.sent).toBeGreaterThan(0n)
    expect(stopped.sent).toBeLessThan(300_000n)

    nodeA = await startNode(configA())
    const done = await waitForPayment(nodeA, created.id)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.attempts).toBeGreaterThanOrEqual(2)
    expect(done.sentAmount).toBe(300_000n)
    const after = await snapshot(walletA, walletB.ledgerAccountId)
    const arrived = after.receiverB - before.receiverB
    expect(after.walletA).toBe(before.walletA - 300_000n)
    expect(after.usdLiquidityA).toBe(before.usdLiquidityA + 300_000n)
    expect(after.eurLiquidityA).toBe(before.eurLiquidityA - arrived)
    expect(after.peerAAtB).toBe(before.peerAAtB - arrived)
    expect(arrived).toBeGreaterThanOrEqual(q.receiveAmount.value)
    expect(arrived).toBeLessThanOrEqual(270_000n)
    expect(done.deliveredAmount).toBe(arrived)
  })
})

/** What the payment's ledger account has sent, read from A's ledger file while A is stopped. */
const openLedgerSent = (paymentId: string): bigint => {
  const db = new DatabaseSync(`${dirA.path}/ledger.sqlite`, { readOnly: true })
  try {
    const row = db.prepare("SELECT debits_posted FROM accounts WHERE id = ?").get(ids.outgoingPayment(paymentId).toString()) as
      | { debits_posted: string }
      | undefined
    return BigInt(row?.debits_posted ?? "0")
  } finally {
    db.close()
  }
}
