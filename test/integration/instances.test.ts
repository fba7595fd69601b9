/**
 * Stateless instances (issue 10), over real sockets and real processes: two node instances (A, B)
 * share one TigerBeetle replica, one Redis and one PostgreSQL (test/support/deployment.ts).
 *
 * - A capped incoming payment created through A is paid by two concurrent `ilp-protocol-stream`
 *   senders, one through A and one through B, each with credentials the other instance issued:
 *   together they deliver exactly the cap, B reports it completed, the ledger credit is the cap.
 * - `@interledger/pay` pays a wallet address through B, its SPSP URL served by A.
 * - An outgoing payment created through A is cut off by SIGKILLing A mid-payment; B takes it over
 *   once A's lease lapses and completes it: the receiver (an incoming payment on a separate node,
 *   capped at the amount) got exactly the amount once, and the ledger audit is clean.
 *
 * For the takeover, the receiving node sits behind a pausable proxy: before the SIGKILL the proxy
 * stops forwarding and the test waits until none of A's packets is pending in the ledger, so the
 * kill never falls between the receiver's fulfill and A's post (a packet fulfilled downstream and
 * never posted here is a loss of the crashed connector, a separate matter from this test's).
 */
import { setupPayment, startQuote, pay } from "@interledger/pay"
import { Effect } from "effect"
import { createConnection } from "ilp-protocol-stream"
import { createServer, type Server } from "node:http"
import { createClient } from "tigerbeetle-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import * as Audit from "../../src/Accounting/Audit.ts"
import * as LedgerTigerBeetle from "../../src/Accounting/LedgerTigerBeetle.ts"
import { adminCall, type Deployment, type Instance, startDeployment } from "../support/deployment.ts"
import { makeHttpPlugin } from "../support/httpPlugin.ts"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { StreamCredentials } from "../../src/Stream/Credentials.ts"
import { depositTo, runIn, startNode, type TestNode } from "../support/node.ts"
import { balanceOf } from "../support/sending.ts"
import { freePort } from "../support/redis.ts"
import { announceSkip, tigerBeetleBinary } from "../support/tigerbeetle.ts"

const usd = { code: "USD", scale: 2 }
const senderToken = "instances-sender-token-000001"
const clusterToReceiver = "instances-cluster-to-receiver-01"
const receiverMaxPacket = 200n

let deployment: Deployment
let receiverNode: TestNode
let proxy: Proxy
let a: Instance
let b: Instance

const hasTigerBeetle = tigerBeetleBinary() !== undefined
if (!hasTigerBeetle) announceSkip("two instances on TigerBeetle + PostgreSQL + Redis")

/** Forwards ILP-over-HTTP to the receiving node; while paused answers 503 (T01 upstream) at once. */
interface Proxy {
  readonly url: string
  target: string
  paused: boolean
  inFlight: number
  readonly close: () => Promise<void>
}

const startProxy = async (): Promise<Proxy> => {
  const port = await freePort()
  const state = { target: "", paused: false, inFlight: 0 }
  const server: Server = createServer(async (request, response) => {
    const chunks: Array<Buffer> = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    if (state.paused) {
      response.writeHead(503).end()
      return
    }
    state.inFlight++
    try {
      const answer = await fetch(state.target, {
        method: "POST",
        headers: { "content-type": "application/octet-stream", authorization: request.headers.authorization ?? "" },
        body: Buffer.concat(chunks)
      })
      const body = Buffer.from(await answer.arrayBuffer())
      response.writeHead(answer.status, { "content-type": "application/octet-stream" }).end(body)
    } catch {
      response.writeHead(502).end()
    } finally {
      state.inFlight--
    }
  })
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/ilp`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  })
}

const waitFor = async <A>(what: string, check: () => Promise<A | undefined>, timeoutMs = 90_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`)
}

const call = (instance: Instance, method: "GET" | "POST", path: string, body?: unknown) =>
  adminCall(deployment, instance, method, path, body)

/** A TigerBeetle account's balance, read straight from the cluster. */
const ledgerAccount = async (id: bigint) => {
  const client = createClient({ cluster_id: deployment.tigerbeetle.clusterId, replica_addresses: [...deployment.tigerbeetle.addresses] })
  try {
    const [account] = await client.lookupAccounts([id])
    return account
  } finally {
    client.destroy()
  }
}

let walletCount = 0
const createWallet = (instance: Instance) =>
  call(instance, "POST", "/wallet-addresses", { url: `${a.spspUrl}/w${++walletCount}`, asset: usd })

describe.skipIf(!hasTigerBeetle)("two instances sharing TigerBeetle, PostgreSQL and Redis", () => {
  beforeAll(async () => {
    proxy = await startProxy()
    deployment = await startDeployment({
      config: {
        assets: [usd],
        maxHoldTimeMs: 5_000,
        peers: [
          { id: "sender", asset: usd, incomingTokens: [senderToken], staticIlpAddress: "test.sender", maxPacketAmount: "1000" },
          {
            id: "receiver",
            asset: usd,
            incomingTokens: ["instances-receiver-to-cluster-1"],
            outgoing: { url: proxy.url, token: clusterToReceiver },
            staticIlpAddress: "test.receiver",
            routes: ["test.receiver"]
          }
        ]
      }
    })
    ;[a, b] = deployment.instances as [Instance, Instance]
    receiverNode = await startNode({
      ilpAddress: "test.receiver",
      assets: [usd],
      peers: [{
        id: "cluster",
        asset: usd,
        incomingTokens: [clusterToReceiver],
        staticIlpAddress: "test.cluster",
        maxPacketAmount: receiverMaxPacket.toString()
      }]
    })
    proxy.target = receiverNode.url
    await depositTo(receiverNode, { kind: "peer", peerId: "cluster" }, 100_000_000n)
    // One ledger for both instances: deposit once, through either.
    await call(a, "POST", "/liquidity/deposit", { peerId: "sender", amount: "100000000" })
    await call(b, "POST", "/liquidity/deposit", { asset: usd, amount: "100000000" })
  }, 240_000)

  afterAll(async () => {
    await receiverNode?.close()
    await deployment?.stop()
    await proxy?.close()
  }, 60_000)

  it("concurrent STREAM senders through A and B deliver exactly the cap of an incoming payment created through A", async () => {
    const cap = 50_000n
    const wallet = await createWallet(a)
    const payment = await call(a, "POST", "/incoming-payments", { walletAddressId: wallet.id, incomingAmount: cap.toString() })
    // Credentials issued by one instance, used through the other.
    const fromA = await call(a, "GET", `/incoming-payments/${payment.id}/credentials`)
    const fromB = await call(b, "GET", `/incoming-payments/${payment.id}/credentials`)
    const open = async (through: Instance, credentials: { ilpAddress: string; sharedSecret: string }) => {
      const connection = await createConnection({
        plugin: makeHttpPlugin(through.ilpUrl, senderToken) as never,
        destinationAccount: credentials.ilpAddress,
        sharedSecret: Buffer.from(credentials.sharedSecret, "base64")
      })
      const stream = connection.createStream()
      // Each asks for the whole cap: together they may deliver it once. The one that cannot finish
      // waits for more room until the connections are closed below.
      const sending = stream.sendTotal(Number(cap), { timeout: 120_000 }).catch(() => undefined)
      return { connection, stream, sending }
    }
    const senders = await Promise.all([open(a, fromB), open(b, fromA)])
    const delivered = () => senders.map((sender) => BigInt(sender.stream.totalSent))
    await waitFor("the senders to deliver the cap", async () => {
      const [viaA, viaB] = delivered()
      return viaA! + viaB! >= cap ? true : undefined
    }, 120_000)
    await Promise.all(senders.map((sender) => sender.connection.destroy().catch(() => undefined)))
    await Promise.all(senders.map((sender) => sender.sending))
    const [viaA, viaB] = delivered() as [bigint, bigint]
    expect(viaA + viaB).toBe(cap)
    expect(viaA).toBeGreaterThan(0n)
    expect(viaB).toBeGreaterThan(0n)

    // The last packets' posts (and the receipt commits after them) complete after their Fulfill on
    // TigerBeetle: wait for B to report the payment completed, then the books must be exact.
    const onB = await waitFor("B to report the payment completed", async () => {
      const read = await call(b, "GET", `/incoming-payments/${payment.id}`)
      return read.state === "completed" ? read : undefined
    }, 30_000)
    expect(onB.receivedAmount.value).toBe(cap.toString())
    const account = await ledgerAccount(ids.incomingPayment(payment.id))
    expect(account?.credits_posted).toBe(cap)
    expect(account?.credits_pending).toBe(0n)
  }, 120_000)

  it("@interledger/pay pays a wallet address through B while A serves its SPSP URL", async () => {
    const wallet = await createWallet(b)
    expect(wallet.url.startsWith(a.spspUrl)).toBe(true)
    const spsp = await fetch(wallet.url, { headers: { accept: "application/spsp4+json" } })
      .then((response) => response.json() as Promise<{ destination_account: string; shared_secret: string }>)
    const plugin = makeHttpPlugin(b.ilpUrl, senderToken)
    const destination = await setupPayment({
      plugin: plugin as never,
      destinationAddress: spsp.destination_account,
      sharedSecret: Buffer.from(spsp.shared_secret, "base64")
    })
    const quote = await startQuote({
      plugin: plugin as never,
      destination,
      amountToSend: 7_000n,
      sourceAsset: usd,
      prices: { USD: 1 },
      slippage: 0.01
    })
    const progress = await pay({ plugin: plugin as never, destination, quote })
    expect(progress.error).toBeUndefined()
    expect(progress.amountDelivered).toBe(7_000n)
    // On TigerBeetle the post of the last packets completes after their Fulfill went upstream
    // (stages/LedgerReservation.ts): wait for it, then the books must be exact.
    await waitFor("the wallet address's balance on A to reach 7000", async () =>
      (await call(a, "GET", `/wallet-addresses/${wallet.id}`)).balance.available === "7000" ? true : undefined, 30_000)
    const account = await ledgerAccount(ids.walletAddress(wallet.id))
    expect(account?.credits_posted).toBe(7_000n)
    expect(account?.credits_pending).toBe(0n)
  }, 120_000)

  it("an outgoing payment created through A, A SIGKILLed mid-payment: B takes it over and completes it, paid once", async () => {
    const amount = 60_000n
    const wallet = await createWallet(a)
    await call(a, "POST", `/wallet-addresses/${wallet.id}/deposit`, { amount: "200000" })
    // The receiver: an incoming payment on the separate receiving node, capped at the amount.
    const receiverWallet = await runIn(
      receiverNode,
      Effect.gen(function*() {
        const w = yield* (yield* WalletAddresses).create({ url: "https://receiver.test/bob", asset: usd })
        const p = yield* (yield* IncomingPayments).create({ walletAddressId: w.id, incomingAmount: amount })
        const c = (yield* StreamCredentials).generate({ kind: "incoming", id: p.id }, usd)
        return { payment: p, credentials: c }
      })
    )
    const quote = await call(a, "POST", "/quotes", {
      walletAddressId: wallet.id,
      receiver: {
        ilpAddress: receiverWallet.credentials.ilpAddress,
        sharedSecret: Buffer.from(receiverWallet.credentials.sharedSecret).toString("base64")
      },
      receiveAmount: amount.toString()
    })
    const created = await call(a, "POST", "/outgoing-payments", { quoteId: quote.id })
    // Midway (read through B: the shared store), cut the receiver off, let A's packets settle, kill A.
    await waitFor("the payment to be midway", async () => {
      const payment = await call(b, "GET", `/outgoing-payments/${created.id}`)
      return BigInt(payment.deliveredAmount.value) >= 2_000n ? payment : undefined
    })
    proxy.paused = true
    await waitFor("A's packets to settle", async () => {
      if (proxy.inFlight > 0) return undefined
      const account = await ledgerAccount(ids.outgoingPayment(created.id))
      const payment = await call(b, "GET", `/outgoing-payments/${created.id}`)
      return account !== undefined && account.debits_pending === 0n && BigInt(payment.sentAmount.value) === account.debits_posted ?
        account :
        undefined
    })
    await a.process.kill("SIGKILL")
    const atKill = await call(b, "GET", `/outgoing-payments/${created.id}`)
    expect(atKill.state).toBe("sending")
    expect(BigInt(atKill.deliveredAmount.value)).toBeLessThan(amount)
    proxy.paused = false

    const done = await waitFor("B to complete the payment", async () => {
      const payment = await call(b, "GET", `/outgoing-payments/${created.id}`)
      return payment.state === "completed" || payment.state === "failed" ? payment : undefined
    }, 150_000)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.deliveredAmount.value).toBe(amount.toString())
    // The receiver got exactly the amount, once.
    const received = await balanceOf(receiverNode, receiverWallet.payment.ledgerAccountId)
    expect(received).toBe(amount)
    // What left the wallet: what was sent (same asset, rate 1) and nothing more; the rest refunded.
    expect(done.sentAmount.value).toBe(amount.toString())
    const paymentAccount = await ledgerAccount(ids.outgoingPayment(created.id))
    expect(paymentAccount?.debits_pending).toBe(0n)
    expect(paymentAccount!.credits_posted - paymentAccount!.debits_posted).toBe(0n)
    // This deployment paid the receiving node exactly that (the peer account has no other traffic).
    const peerAccount = await ledgerAccount(ids.peerLiquidity("receiver"))
    expect(peerAccount!.credits_posted - peerAccount!.debits_posted).toBe(amount)
    const walletAccount = await ledgerAccount(ids.walletAddress(wallet.id))
    expect(walletAccount!.credits_posted - walletAccount!.debits_posted).toBe(200_000n - amount)

    // The ledger audit is clean.
    const report = await Effect.runPromise(
      Audit.run().pipe(Effect.provide(LedgerTigerBeetle.layer({
        clusterId: deployment.tigerbeetle.clusterId,
        replicaAddresses: deployment.tigerbeetle.addresses,
        requestTimeoutMs: 5_000
      }))) as Effect.Effect<Audit.AuditReport, unknown>
    )
    expect(report.violations, Audit.renderReport(report).join("\n")).toEqual([])
  }, 240_000)
})
