/**
 * Paying a receiver built on `@interledger/stream-receiver` 0.3.3-alpha.4 — Rafiki's — which answers
 * unfulfillable rate probes with F05 (the version this project receives with answers F99), reachable
 * through a peer over ILP-over-HTTP on 127.0.0.1.
 *
 * The peer is a small Rafiki stand-in: an ILP-over-HTTP server that, like Rafiki's connector,
 * answers F02 "unknown destination account" for an address it did not hand out (Pay's asset probe
 * sends one packet to such a made-up address) and lets that receiver answer everything else,
 * counting what it fulfils per connection.
 */
import { Effect } from "effect"
import { deserializeIlpPrepare, type IlpReply, isFulfill, serializeIlpReply } from "ilp-packet"
import { once } from "node:events"
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { StreamServer } from "stream-receiver-f05"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { OutgoingPayments } from "../../src/Payments/OutgoingPayments.ts"
import { type CreateQuote, Quotes } from "../../src/Payments/Quotes.ts"
import { type WalletAddress, WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { depositTo, runIn, startNode, type TestNode } from "../support/node.ts"
import { balanceOf, fundWallet, waitForPayment } from "../support/sending.ts"

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }

interface RafikiPeer {
  readonly url: string
  readonly address: string
  /** Fulfilled amount per connection id (the receiver's own count). */
  readonly received: Map<string, bigint>
  /** Codes of every reject the receiver produced, in order. */
  readonly rejectCodes: Array<string>
  /** When set, packets with a non-zero amount are rejected with this instead of reaching the receiver. */
  failNonZero: { code: string; message: string } | undefined
  readonly credentials: (asset: { code: string; scale: number }) => { ilpAddress: string; sharedSecret: Buffer }
  readonly close: () => Promise<void>
}

const readAll = async (request: IncomingMessage): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const startRafikiPeer = async (address: string): Promise<RafikiPeer> => {
  const receiver = new StreamServer({ serverSecret: Buffer.alloc(32, 9), serverAddress: address })
  const issued = new Set<string>()
  const received = new Map<string, bigint>()
  const rejectCodes: Array<string> = []
  const peer = { failNonZero: undefined as RafikiPeer["failNonZero"] }
  const reject = (code: string, message: string): IlpReply => ({ code, message, triggeredBy: address, data: Buffer.alloc(0) })
  const answer = (body: Buffer): IlpReply => {
    const prepare = deserializeIlpPrepare(body)
    if (!issued.has(prepare.destination)) return reject("F02", "unknown destination account")
    if (peer.failNonZero !== undefined && prepare.amount !== "0") return reject(peer.failNonZero.code, peer.failNonZero.message)
    const reply = receiver.createReply(prepare)
    if (!("accept" in reply)) return reply
    const total = (received.get(reply.connectionId) ?? 0n) + BigInt(prepare.amount)
    received.set(reply.connectionId, total)
    reply.setTotalReceived(total.toString())
    return reply.accept()
  }
  const server: Server = createServer(async (request, response) => {
    const reply = answer(await readAll(request))
    if (!isFulfill(reply)) rejectCodes.push(reply.code)
    response.writeHead(200, { "content-type": "application/octet-stream" }).end(serializeIlpReply(reply))
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const port = (server.address() as AddressInfo).port
  return Object.assign(peer, {
    url: `http://127.0.0.1:${port}/ilp`,
    address,
    received,
    rejectCodes,
    credentials: (asset: { code: string; scale: number }) => {
      const credentials = receiver.generateCredentials({ asset })
      issued.add(credentials.ilpAddress)
      return credentials
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  })
}

let node: TestNode
let rafikiUsd: RafikiPeer
let rafikiEur: RafikiPeer
let walletCount = 0

const peerConfig = (id: string, peer: RafikiPeer, asset: typeof usd) => ({
  id,
  asset,
  incomingTokens: [`token-${id}-sends-to-node-0001`],
  outgoing: { url: peer.url, token: `token-node-sends-to-${id}-0001` },
  staticIlpAddress: peer.address,
  routes: [peer.address]
})

const createWallet = (asset: typeof usd): Promise<WalletAddress> =>
  runIn(
    node,
    Effect.flatMap(WalletAddresses, (wallets) =>
      wallets.create({ url: `http://127.0.0.1:${node.openPaymentsPort}/rafiki-payer-${++walletCount}`, asset }))
  )

const quote = (input: CreateQuote) => runIn(node, Effect.flatMap(Quotes, (quotes) => quotes.create(input)))

const quoteFailure = (input: CreateQuote) =>
  runIn(node, Effect.flip(Effect.flatMap(Quotes, (quotes) => quotes.create(input))))

const pay = (quoteId: string) => runIn(node, Effect.flatMap(OutgoingPayments, (payments) => payments.create({ quoteId })))

const streamReceiver = (credentials: { ilpAddress: string; sharedSecret: Buffer }) =>
  ({ kind: "stream", ilpAddress: credentials.ilpAddress, sharedSecret: credentials.sharedSecret }) as const

beforeAll(async () => {
  rafikiUsd = await startRafikiPeer("test.rafiki-usd")
  rafikiEur = await startRafikiPeer("test.rafiki-eur")
  node = await startNode({
    ilpAddress: "test.node",
    assets: [usd, eur],
    rates: { static: { USD: { EUR: "0.9" } } },
    peers: [peerConfig("rafiki-usd", rafikiUsd, usd), peerConfig("rafiki-eur", rafikiEur, eur)]
  })
  await depositTo(node, { kind: "asset", asset: usd }, 10_000_000n)
  await depositTo(node, { kind: "asset", asset: eur }, 10_000_000n)
})

afterAll(async () => {
  await node?.close()
  await rafikiUsd?.close()
  await rafikiEur?.close()
})

describe("a receiver that answers rate probes with F05 (stream-receiver 0.3.3-alpha.4)", () => {
  it("really answers an unfulfillable probe with F05 carrying its STREAM reply", async () => {
    // What the version this node receives with would answer, for contrast, is F99: both answers are
    // the receivers' own, from the same kind of probe Pay sends.
    const wallet = await createWallet(usd)
    await fundWallet(node, wallet, 10_000n)
    const credentials = rafikiUsd.credentials(usd)
    rafikiUsd.rejectCodes.length = 0
    await quote({ walletAddressId: wallet.id, receiver: streamReceiver(credentials), debitAmount: 1_000n })
    expect(rafikiUsd.rejectCodes).toContain("F05")
    expect(rafikiUsd.rejectCodes).not.toContain("F99")
  })

  it("same currency: quotes and pays exactly", async () => {
    const wallet = await createWallet(usd)
    await fundWallet(node, wallet, 100_000n)
    const credentials = rafikiUsd.credentials(usd)
    const q = await quote({ walletAddressId: wallet.id, receiver: streamReceiver(credentials), receiveAmount: 4_321n })
    expect(q.paymentType).toBe("FixedDelivery")
    expect(q.receiveAmount).toEqual({ value: 4_321n, asset: usd })
    expect(q.debitAmount.asset).toEqual(usd)
    const done = await waitForPayment(node, (await pay(q.id)).id)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.deliveredAmount).toBe(4_321n)
    expect(done.sentAmount).toBe(4_321n)
    const connectionTotals = [...rafikiUsd.received.values()]
    expect(connectionTotals).toContain(4_321n)
    expect(await balanceOf(node, wallet.ledgerAccountId)).toBe(100_000n - 4_321n)
  })

  it("cross currency (USD → EUR at 0.9): quotes by debit amount and sends exactly that", async () => {
    const wallet = await createWallet(usd)
    await fundWallet(node, wallet, 100_000n)
    const credentials = rafikiEur.credentials(eur)
    const q = await quote({ walletAddressId: wallet.id, receiver: streamReceiver(credentials), debitAmount: 10_000n })
    expect(q.paymentType).toBe("FixedSend")
    expect(q.debitAmount).toEqual({ value: 10_000n, asset: usd })
    // (10000 - 1) * 0.9 * 0.99, rounded up.
    expect(q.receiveAmount).toEqual({ value: 8_910n, asset: eur })
    const before = new Set(rafikiEur.received.keys())
    const done = await waitForPayment(node, (await pay(q.id)).id)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.sentAmount).toBe(10_000n)
    expect(done.deliveredAmount).toBe(9_000n)
    const arrived = [...rafikiEur.received].filter(([id]) => !before.has(id)).map(([, total]) => total)
    expect(arrived.reduce((a, b) => a + b, 0n)).toBe(9_000n)
    expect(await balanceOf(node, wallet.ledgerAccountId)).toBe(100_000n - 10_000n)
  })

  it("a failing quote names the reject that ended it, not the asset probe's ignored F02", async () => {
    const wallet = await createWallet(usd)
    await fundWallet(node, wallet, 10_000n)
    const credentials = rafikiUsd.credentials(usd)
    rafikiUsd.failNonZero = { code: "F07", message: "cannot receive this asset" }
    try {
      const failure = await quoteFailure({ walletAddressId: wallet.id, receiver: streamReceiver(credentials), debitAmount: 1_000n })
      expect(failure._tag).toBe("QuoteFailed")
      if (failure._tag !== "QuoteFailed") return
      expect(failure.reason).toBe("ConnectorError: F07 cannot receive this asset (triggered by test.rafiki-usd)")
      expect(failure.retryable).toBe(false)
      // The asset probe's packet to a made-up address was refused with F02 before that, and ignored.
      expect(rafikiUsd.rejectCodes).toContain("F02")
    } finally {
      rafikiUsd.failNonZero = undefined
    }
  })

  it("a receiver the peer does not know: the quote names the peer's F02 for the receiver's own address", async () => {
    const wallet = await createWallet(usd)
    await fundWallet(node, wallet, 10_000n)
    const failure = await quoteFailure({
      walletAddressId: wallet.id,
      receiver: { kind: "stream", ilpAddress: "test.rafiki-usd.nobody", sharedSecret: Buffer.alloc(32, 1) },
      debitAmount: 1_000n
    })
    expect(failure._tag).toBe("QuoteFailed")
    if (failure._tag !== "QuoteFailed") return
    expect(failure.reason).toBe("EstablishmentFailed: F02 unknown destination account (triggered by test.rafiki-usd)")
  })
})
