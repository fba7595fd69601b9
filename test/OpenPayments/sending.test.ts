/**
 * Open Payments end to end between two of our nodes over real sockets on 127.0.0.1. Node A (USD
 * wallets) is peered with node B (EUR wallets) over ILP-over-HTTP; A converts USD → EUR at 0.9.
 * A's quote names an Open Payments URL on B; A requests the grant from B's authorization server as
 * a client (its sending wallet address, whose JWKS B reads from A), reads the STREAM credentials
 * from B's incoming payment, pays, and B reports the payment completed.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { OutgoingPayments } from "../../src/Payments/OutgoingPayments.ts"
import { type CreateQuote, Quotes } from "../../src/Payments/Quotes.ts"
import { type WalletAddress, WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { depositTo, runIn, startNode, type TestNode } from "../support/node.ts"
import { balanceOf, fundWallet, waitForPayment } from "../support/sending.ts"

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }
const aToB = "op-token-node-a-sends-to-node-b"
const bToA = "op-token-node-b-sends-to-node-a"
const adminToken = "op-admin-token-node-a-0000001"

let nodeA: TestNode
let nodeB: TestNode
let walletCount = 0

const createWallet = (node: TestNode, asset: typeof usd): Promise<WalletAddress> =>
  runIn(
    node,
    Effect.flatMap(WalletAddresses, (wallets) =>
      wallets.create({ url: `http://127.0.0.1:${node.openPaymentsPort}/op-w${++walletCount}`, asset }))
  )

const quote = (input: CreateQuote) => runIn(nodeA, Effect.flatMap(Quotes, (quotes) => quotes.create(input)))
const quoteFailure = (input: CreateQuote) => runIn(nodeA, Effect.flip(Effect.flatMap(Quotes, (quotes) => quotes.create(input))))
const pay = (quoteId: string) => runIn(nodeA, Effect.flatMap(OutgoingPayments, (payments) => payments.create({ quoteId })))
const incomingOnB = (id: string) => runIn(nodeB, Effect.flatMap(IncomingPayments, (payments) => payments.get(id)))

beforeAll(async () => {
  nodeB = await startNode({
    ilpAddress: "test.b",
    assets: [eur],
    peers: [{ id: "a", asset: eur, incomingTokens: [aToB], staticIlpAddress: "test.a", maxPacketAmount: "2000" }]
  })
  nodeA = await startNode({
    ilpAddress: "test.a",
    adminToken,
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
  await depositTo(nodeA, { kind: "asset", asset: eur }, 10_000_000n)
  await depositTo(nodeB, { kind: "peer", peerId: "a" }, 10_000_000n)
})

afterAll(async () => {
  await nodeA?.close()
  await nodeB?.close()
})

describe("Open Payments between two nodes", () => {
  it("A's quote names an incoming payment URL on B: A obtains the grant, pays, B reports it completed", async () => {
    const alice = await createWallet(nodeA, usd)
    const bob = await createWallet(nodeB, eur)
    await fundWallet(nodeA, alice, 100_000n)
    const incoming = await runIn(
      nodeB,
      Effect.flatMap(IncomingPayments, (payments) => payments.create({ walletAddressId: bob.id, incomingAmount: 4_500n }))
    )
    const url = `http://127.0.0.1:${nodeB.openPaymentsPort}/incoming-payments/${incoming.id}`

    const q = await quote({ walletAddressId: alice.id, receiver: { kind: "openPayments", url }, receiveAmount: 4_500n })
    expect(q.receiver).toEqual({ kind: "openPayments", url })
    expect(q.receiveAmount).toEqual({ value: 4_500n, asset: eur })
    // 4500 / (0.9 * 0.99) + 1.
    expect(q.debitAmount).toEqual({ value: 5_051n, asset: usd })

    const done = await waitForPayment(nodeA, (await pay(q.id)).id)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.deliveredAmount).toBe(4_500n)
    expect(await balanceOf(nodeA, alice.ledgerAccountId)).toBe(100_000n - done.sentAmount)
    expect((await incomingOnB(incoming.id)).state).toBe("completed")
    expect(await balanceOf(nodeB, incoming.ledgerAccountId)).toBe(4_500n)
    // B's Open Payments view says the same.
    const publicView = await fetch(url, { headers: { accept: "application/json" } }).then((r) => r.json())
    expect(publicView).toEqual({
      authServer: `http://127.0.0.1:${nodeB.openPaymentsPort}/auth`,
      receivedAmount: { value: "4500", assetCode: "EUR", assetScale: 2 }
    })
  })

  it("A's quote names a wallet address URL on B: an incoming payment is created there and paid", async () => {
    const alice = await createWallet(nodeA, usd)
    const bob = await createWallet(nodeB, eur)
    await fundWallet(nodeA, alice, 50_000n)
    const q = await quote({ walletAddressId: alice.id, receiver: { kind: "openPayments", url: bob.url }, debitAmount: 10_000n })
    expect(q.receiver.kind).toBe("openPayments")
    const paid = q.receiver.kind === "openPayments" ? q.receiver.url : ""
    expect(paid.startsWith(`http://127.0.0.1:${nodeB.openPaymentsPort}/incoming-payments/`)).toBe(true)
    const id = paid.split("/").at(-1)!
    expect((await incomingOnB(id)).walletAddressId).toBe(bob.id)

    const done = await waitForPayment(nodeA, (await pay(q.id)).id)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.sentAmount).toBe(10_000n)
    // 10000 USD cents at 0.9, converted per packet (rounded down each time), at least the quoted minimum.
    expect(done.deliveredAmount).toBeGreaterThanOrEqual(q.receiveAmount.value)
    expect(done.deliveredAmount).toBeLessThanOrEqual(9_000n)
    expect(await balanceOf(nodeB, (await incomingOnB(id)).ledgerAccountId)).toBe(done.deliveredAmount)
    // The payment paid the incoming payment the quote created; no other one was created at bob.
    const atBob = await runIn(nodeB, Effect.flatMap(IncomingPayments, (payments) => payments.list(bob.id, { limit: 10 })))
    expect(atBob.map((payment) => payment.id)).toEqual([id])
  })

  it("through the operator API: a quote with receiver.openPaymentsUrl, then its outgoing payment", async () => {
    const alice = await createWallet(nodeA, usd)
    const bob = await createWallet(nodeB, eur)
    await fundWallet(nodeA, alice, 10_000n)
    const incoming = await runIn(
      nodeB,
      Effect.flatMap(IncomingPayments, (payments) => payments.create({ walletAddressId: bob.id, incomingAmount: 900n }))
    )
    const url = `http://127.0.0.1:${nodeB.openPaymentsPort}/incoming-payments/${incoming.id}`
    const admin = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${nodeA.adminPort}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify(body)
      })
    const quoted = await admin("/quotes", { walletAddressId: alice.id, receiver: { openPaymentsUrl: url }, receiveAmount: "900" })
    expect(quoted.status).toBe(200)
    const q = await quoted.json() as { id: string; receiver: unknown }
    expect(q.receiver).toEqual({ openPaymentsUrl: url })
    const both = await admin("/quotes", { walletAddressId: alice.id, receiver: { openPaymentsUrl: url, spspUrl: bob.url }, debitAmount: "1" })
    expect(both.status).toBe(400)
    const created = await admin("/outgoing-payments", { quoteId: q.id })
    expect(created.status).toBe(200)
    const done = await waitForPayment(nodeA, (await created.json() as { id: string }).id)
    expect(done.state).toBe("completed")
    expect((await incomingOnB(incoming.id)).state).toBe("completed")
  })

  it("a completed or unknown incoming payment is refused at quote time", async () => {
    const alice = await createWallet(nodeA, usd)
    const bob = await createWallet(nodeB, eur)
    await fundWallet(nodeA, alice, 10_000n)
    const incoming = await runIn(
      nodeB,
      Effect.flatMap(IncomingPayments, (payments) =>
        Effect.flatMap(payments.create({ walletAddressId: bob.id, incomingAmount: 100n }), (created) => payments.complete(created.id)))
    )
    const completed = await quoteFailure({
      walletAddressId: alice.id,
      receiver: { kind: "openPayments", url: `http://127.0.0.1:${nodeB.openPaymentsPort}/incoming-payments/${incoming.id}` },
      debitAmount: 100n
    })
    expect(completed).toMatchObject({ _tag: "ReceiverGone", reason: "the incoming payment is completed" })
    const unknown = await quoteFailure({
      walletAddressId: alice.id,
      receiver: {
        kind: "openPayments",
        url: `http://127.0.0.1:${nodeB.openPaymentsPort}/incoming-payments/00000000-0000-4000-8000-000000000000`
      },
      debitAmount: 100n
    })
    expect(unknown._tag).toBe("ReceiverGone")
  })
})
