/**
 * Receiving over real sockets: an independent STREAM client (`ilp-protocol-stream`) pays an
 * incoming payment, and `@interledger/pay` pays an SPSP wallet address, both through the node's
 * ILP-over-HTTP endpoint as a peer. Balances, received totals, payment state and receipts are
 * checked afterwards.
 */
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { createConnection } from "ilp-protocol-stream"
import { decodeReceipt, verifyReceipt } from "ilp-protocol-stream/dist/src/util/receipt.js"
import { setupPayment, startQuote, pay } from "@interledger/pay"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import { available } from "../../src/Accounting/Liquidity.ts"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { StreamCredentials } from "../../src/Stream/Credentials.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { depositTo, liquidityOf, runIn, startNode, type TestNode } from "../support/node.ts"
import { makeHttpPlugin } from "../support/httpPlugin.ts"

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }
const senderToken = "stream-sender-token-000000001"
let node: TestNode

const balanceOf = (accountId: bigint) =>
  runIn(node, Effect.flatMap(Ledger, (ledger) => ledger.balances([accountId]))).then((balances) => balances[0]!)

beforeAll(async () => {
  node = await startNode({
    ilpAddress: "test.receiver",
    assets: [usd, eur],
    rates: { static: { USD: { EUR: "0.5" } } },
    peers: [
      { id: "sender", asset: usd, incomingTokens: [senderToken], staticIlpAddress: "test.sender", maxPacketAmount: "1000" }
    ]
  })
  await depositTo(node, { kind: "peer", peerId: "sender" }, 10_000_000n)
  await depositTo(node, { kind: "asset", asset: eur }, 10_000_000n)
})

afterAll(async () => {
  await node?.close()
})

describe("receiving", () => {
  it("an ilp-protocol-stream client pays an incoming payment exactly up to incomingAmount, with valid receipts", async () => {
    const { payment, wallet } = await runIn(
      node,
      Effect.gen(function*() {
        const wallet = yield* (yield* WalletAddresses).create({ url: "https://wallet.test/alice", asset: usd })
        const payment = yield* (yield* IncomingPayments).create({ walletAddressId: wallet.id, incomingAmount: 12_345n })
        return { payment, wallet }
      })
    )
    expect(wallet.active).toBe(true)
    const receipt = { nonce: randomBytes(16), secret: randomBytes(32) }
    const credentials = await runIn(
      node,
      Effect.map(StreamCredentials, (c) => c.generate({ kind: "incoming", id: payment.id }, usd, receipt))
    )
    const senderBefore = await liquidityOf(node, { kind: "peer", peerId: "sender" })
    const plugin = makeHttpPlugin(node.url, senderToken)
    const connection = await createConnection({
      plugin: plugin as never,
      destinationAccount: credentials.ilpAddress,
      sharedSecret: Buffer.from(credentials.sharedSecret)
    })
    const stream = connection.createStream()
    // Ask for more than the cap: the receiver must stop the sender at exactly 12 345.
    const sending = stream.sendTotal(20_000, { timeout: 3_000 }).catch((error: unknown) => error)
    await sending
    const receipts: Array<Buffer> = []
    if (stream.receipt !== undefined) receipts.push(stream.receipt)
    await connection.destroy().catch(() => undefined)

    const after = await runIn(node, Effect.flatMap(IncomingPayments, (s) => s.get(payment.id)))
    expect(after.state).toBe("completed")
    const received = await runIn(node, Effect.flatMap(ReceiptTotals, (t) => t.paymentTotal(payment.id)))
    expect(received).toBe(12_345n)
    const incoming = await balanceOf(ids.incomingPayment(payment.id))
    expect(incoming.creditsPosted).toBe(12_345n)
    expect(incoming.creditsPending).toBe(0n)
    expect(await liquidityOf(node, { kind: "peer", peerId: "sender" })).toBe(senderBefore - 12_345n)

    expect(receipts.length).toBe(1)
    const verified = verifyReceipt(receipts[0]!, receipt.secret)
    expect(Buffer.from(verified.nonce)).toEqual(receipt.nonce)
    expect(BigInt(verified.totalReceived.toString())).toBe(12_345n)
  })

  it("refuses money for a completed incoming payment and leaves balances untouched", async () => {
    const { payment } = await runIn(
      node,
      Effect.gen(function*() {
        const wallet = yield* (yield* WalletAddresses).create({ url: "https://wallet.test/bob", asset: usd })
        const payment = yield* (yield* IncomingPayments).create({ walletAddressId: wallet.id, incomingAmount: 500n })
        return { payment }
      })
    )
    const credentials = await runIn(node, Effect.map(StreamCredentials, (c) => c.generate({ kind: "incoming", id: payment.id }, usd)))
    const pay1 = async (amount: number) => {
      const connection = await createConnection({
        plugin: makeHttpPlugin(node.url, senderToken) as never,
        destinationAccount: credentials.ilpAddress,
        sharedSecret: Buffer.from(credentials.sharedSecret)
      })
      await connection.createStream().sendTotal(amount, { timeout: 2_000 }).catch(() => undefined)
      await connection.destroy().catch(() => undefined)
    }
    await pay1(500)
    expect((await runIn(node, Effect.flatMap(IncomingPayments, (s) => s.get(payment.id)))).state).toBe("completed")
    const senderBefore = await liquidityOf(node, { kind: "peer", peerId: "sender" })
    await pay1(100)
    expect(await liquidityOf(node, { kind: "peer", peerId: "sender" })).toBe(senderBefore)
    expect((await balanceOf(ids.incomingPayment(payment.id))).creditsPosted).toBe(500n)
  })

  it("@interledger/pay pays an SPSP wallet address cross-currency; receipts only grow", async () => {
    const wallet = await runIn(
      node,
      Effect.flatMap(WalletAddresses, (w) =>
        w.create({ url: `http://127.0.0.1:${node.openPaymentsPort}/carol`, asset: eur }))
    )
    const plugin = makeHttpPlugin(node.url, senderToken)
    // Pay refuses account URLs with a port, so the SPSP query is made here, as Pay would make it.
    const receipt = { nonce: randomBytes(16), secret: randomBytes(32) }
    const spsp = await fetch(wallet.url, {
      headers: {
        accept: "application/spsp4+json",
        "receipt-nonce": receipt.nonce.toString("base64"),
        "receipt-secret": receipt.secret.toString("base64")
      }
    }).then((response) => response.json() as Promise<{ destination_account: string; shared_secret: string }>)
    const destination = await setupPayment({
      plugin: plugin as never,
      destinationAddress: spsp.destination_account,
      sharedSecret: Buffer.from(spsp.shared_secret, "base64")
    })
    expect(destination.destinationAsset).toEqual({ code: "EUR", scale: 2 })
    const quote = await startQuote({
      plugin: plugin as never,
      destination,
      amountToSend: 5_000n,
      sourceAsset: { code: "USD", scale: 2 },
      prices: { USD: 1, EUR: 2 },
      slippage: 0.01
    })
    const eurBefore = await liquidityOf(node, { kind: "asset", asset: eur })
    const walletBefore = available(await balanceOf(wallet.ledgerAccountId))
    const receipts: Array<bigint> = []
    const progress = await pay({
      plugin: plugin as never,
      destination,
      quote,
      progressHandler: (p) => {
        if (p.streamReceipt !== undefined) {
          receipts.push(BigInt(verifyReceipt(Buffer.from(p.streamReceipt), receipt.secret).totalReceived.toString()))
        }
      }
    })
    expect(progress.error).toBeUndefined()
    expect(receipts.length).toBeGreaterThan(0)
    for (let i = 1; i < receipts.length; i++) expect(receipts[i]!).toBeGreaterThanOrEqual(receipts[i - 1]!)
    expect(receipts.at(-1)).toBe(2_500n)
    expect(progress.amountSent).toBe(5_000n)
    expect(progress.amountDelivered).toBe(2_500n)
    expect(available(await balanceOf(wallet.ledgerAccountId))).toBe(walletBefore + 2_500n)
    expect(await liquidityOf(node, { kind: "asset", asset: eur })).toBe(eurBefore - 2_500n)
    // Pay split the payment by the sender's maxPacketAmount (1000 USD cents).
    expect(plugin.replies.filter((type) => type === 13).length).toBeGreaterThanOrEqual(5)
  })

  it("SPSP answers credentials, validates receipt headers, and 404s unknown addresses", async () => {
    await runIn(node, Effect.flatMap(WalletAddresses, (w) => w.create({ url: "https://wallet.test/dave", asset: usd })))
    const base = `http://127.0.0.1:${node.openPaymentsPort}`
    const accept = { accept: "application/spsp4+json" }
    const ok = await fetch(`${base}/dave`, { headers: accept })
    expect(ok.status).toBe(200)
    expect(ok.headers.get("content-type")).toContain("application/spsp4+json")
    const body = await ok.json() as { destination_account: string; shared_secret: string; receipts_enabled: boolean }
    expect(body.destination_account.startsWith("test.receiver.")).toBe(true)
    expect(Buffer.from(body.shared_secret, "base64").length).toBe(32)
    expect(body.receipts_enabled).toBe(false)
    const withReceipts = await fetch(`${base}/dave`, {
      headers: { ...accept, "receipt-nonce": randomBytes(16).toString("base64"), "receipt-secret": randomBytes(32).toString("base64") }
    })
    expect(((await withReceipts.json()) as { receipts_enabled: boolean }).receipts_enabled).toBe(true)
    expect((await fetch(`${base}/dave`, { headers: { ...accept, "receipt-nonce": randomBytes(16).toString("base64") } })).status).toBe(400)
    expect((await fetch(`${base}/dave`, {
      headers: { ...accept, "receipt-nonce": randomBytes(15).toString("base64"), "receipt-secret": randomBytes(32).toString("base64") }
    })).status).toBe(400)
    expect((await fetch(`${base}/nobody`, { headers: accept })).status).toBe(404)
    const inactive = await runIn(node, Effect.gen(function*() {
      const w = yield* WalletAddresses
      const created = yield* w.create({ url: "https://wallet.test/erin", asset: usd })
      return yield* w.setActive(created.id, false)
    }))
    expect(inactive.active).toBe(false)
    expect((await fetch(`${base}/erin`, { headers: accept })).status).toBe(404)
  })
})

void decodeReceipt
