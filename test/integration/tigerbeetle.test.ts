/**
 * The node on a real TigerBeetle cluster (one replica, started once for this file from
 * `TIGERBEETLE_BIN` or ../shared/tigerbeetle/tigerbeetle, removed after), over real sockets:
 * - two node processes starting at the same moment grant each credit line once;
 * - a node process forwards under load, its books match what the senders saw, and the audit
 *   command reads the cluster: clean, nothing pending, and exit 1 on a violation;
 * - local STREAM delivery (ilp-protocol-stream) and sending with Pay, in-process nodes on it.
 * Tests share the cluster: each uses its own peers (id prefix) and wallets, so their accounts are
 * apart. Skipped, with one loud line, when no server binary is found.
 */
import { randomBytes } from "node:crypto"
import { statSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { createConnection } from "ilp-protocol-stream"
import { verifyReceipt } from "ilp-protocol-stream/dist/src/util/receipt.js"
import { AccountFilterFlags, createClient } from "tigerbeetle-node"
import { expect, it } from "vitest"
import { ids, ledgerOf } from "../../src/Accounting/Accounts.ts"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { OutgoingPayments } from "../../src/Payments/OutgoingPayments.ts"
import { Quotes } from "../../src/Payments/Quotes.ts"
import { WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { StreamCredentials } from "../../src/Stream/Credentials.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { makeHttpPlugin } from "../support/httpPlugin.ts"
import { depositTo, runIn, startNode } from "../support/node.ts"
import { fundWallet, waitForPayment } from "../support/sending.ts"
import { fulfillFromData, startTestPeer } from "../support/testPeer.ts"
import { describeOnCluster } from "../support/tigerbeetleFixture.ts"
import {
  admin,
  auditCluster,
  peerBalance,
  startLoad,
  usd,
  waitUntil,
  writeNodeConfig
} from "../support/tigerbeetleNode.ts"

const eur = { code: "EUR", scale: 2 }

describeOnCluster("node on TigerBeetle", "node-level TigerBeetle tests (credit lines, forwarding, audit, STREAM, Pay)", { tempPrefix: "ilp-tigerbeetle-" }, (fixture) => {
  /** Transfers touching an account, straight from the cluster. */
  const transfersOf = async (accountId: bigint) => {
    const client = createClient({ cluster_id: fixture.cluster.clusterId, replica_addresses: [...fixture.cluster.addresses] })
    try {
      return await client.getAccountTransfers({
        account_id: accountId,
        user_data_128: 0n,
        user_data_64: 0n,
        user_data_32: 0,
        code: 0,
        timestamp_min: 0n,
        timestamp_max: 0n,
        limit: 250,
        flags: AccountFilterFlags.debits | AccountFilterFlags.credits
      })
    } finally {
      client.destroy()
    }
  }

  const tigerbeetleConfig = () => ({
    tigerbeetle: { clusterId: String(fixture.cluster.clusterId), replicaAddresses: [...fixture.cluster.addresses] }
  })

  it("two node processes starting at the same moment grant each credit line once", async () => {
    const limit = 5_000n
    const files = await Promise.all([0, 1].map((i) =>
      writeNodeConfig(join(fixture.dir, `twins-${i}`), { peerUrl: fixture.peer.url, prefix: "twins-", senderCreditLimit: limit })
    ))
    const started = await Promise.all(files.map((f) => fixture.startNode(f)))
    const creditLine = ids.creditLine("twins-sender")
    const grants = await transfersOf(creditLine)
    expect(grants.map((t) => t.amount)).toEqual([limit])
    for (const f of files) {
      const sender = await peerBalance(f, "sender")
      expect(sender.creditsPosted - sender.debitsPosted).toBe(limit) // the grant, once
    }
    // A restart of one of them grants nothing more.
    await started[0]!.kill("SIGTERM")
    await fixture.startNode(files[0]!)
    expect((await transfersOf(creditLine)).length).toBe(1)
  }, 120_000)

  it("forwards under load with every answer right; the audit reads the cluster clean, and exits 1 on a violation", async () => {
    // The peer rejects every packet whose amount is a multiple of 3, fulfils the others.
    const rejecting = await startTestPeer((prepare) =>
      prepare.amount % 3n === 0n ? { reject: { code: "F99", triggeredBy: "test.upstream", message: "no", data: new Uint8Array() } } : fulfillFromData(prepare)
    )
    try {
      const files = await writeNodeConfig(join(fixture.dir, "forward"), { peerUrl: rejecting.url, prefix: "fw-" })
      await fixture.startNode(files)
      const funding = 10_000_000n
      await admin(files, "/liquidity/deposit", { peerId: "fw-sender", amount: funding.toString() })
      const load = startLoad(files.connectorPort, { workers: 10 })
      expect(await waitUntil(() => load.totals.fulfills >= 300 && load.totals.rejects >= 100, 60_000)).toBe(true)
      await load.stop()
      const { fulfilled, failures, codes } = load.totals
      expect(failures).toBe(0)
      // The peer's F99, and on a starved machine a ledger timeout (T00) or a late packet (R00/R02).
      expect(codes.get("F99")).toBeGreaterThan(0)
      for (const code of codes.keys()) expect(["F99", "T00", "R00", "R02"]).toContain(code)
      // Posts complete after the Fulfill is sent (docs/performance/tigerbeetle.md): wait until none is left pending.
      expect(await waitUntil(async () => (await peerBalance(files, "sender")).debitsPending === 0n, 20_000)).toBe(true)
      const sender = await peerBalance(files, "sender")
      const upstream = await peerBalance(files, "upstream")
      expect(sender.debitsPosted).toBe(fulfilled) // each Fulfill posted once, each Reject voided
      expect(upstream.creditsPosted).toBe(fulfilled)
      expect(sender.creditsPosted).toBe(funding)
      expect(upstream.creditsPending).toBe(0n)

      const clean = await auditCluster(fixture.cluster)
      expect(clean.output).toContain("OK: no violations")
      expect(clean.output).toMatch(/pending transfers: 0\b/)
      expect(clean.code).toBe(0)
      // A violation: the operator expects another settlement net than the deposits made.
      const wrong = await auditCluster(fixture.cluster, ["--expect-settlement", `${ledgerOf(usd)}=-1`])
      expect(wrong.output).toMatch(/VIOLATION ledger \d+: settlement net \d+, expected -1/)
      expect(wrong.code).toBe(1)
    } finally {
      await rejecting.close()
    }
  }, 120_000)

  it("delivers locally over STREAM with receipts, the incoming payment credited in the cluster", async () => {
    const senderToken = "tigerbeetle-stream-sender-tok1"
    const node = await startNode({
      ilpAddress: "test.tbreceiver",
      dataDir: join(fixture.dir, "stream"),
      assets: [usd],
      peers: [{ id: "stream-sender", asset: usd, incomingTokens: [senderToken], staticIlpAddress: "test.sender" }],
      ...tigerbeetleConfig()
    })
    fixture.onStop(() => node.close())
    await depositTo(node, { kind: "peer", peerId: "stream-sender" }, 1_000_000n)
    const payment = await runIn(
      node,
      Effect.gen(function*() {
        const wallet = yield* (yield* WalletAddresses).create({ url: "https://wallet.test/tb-alice", asset: usd })
        return yield* (yield* IncomingPayments).create({ walletAddressId: wallet.id, incomingAmount: 4_321n })
      })
    )
    const receipt = { nonce: randomBytes(16), secret: randomBytes(32) }
    const credentials = await runIn(
      node,
      Effect.map(StreamCredentials, (c) => c.generate({ kind: "incoming", id: payment.id }, usd, receipt))
    )
    const connection = await createConnection({
      plugin: makeHttpPlugin(node.url, senderToken) as never,
      destinationAccount: credentials.ilpAddress,
      sharedSecret: Buffer.from(credentials.sharedSecret)
    })
    const stream = connection.createStream()
    await stream.sendTotal(10_000, { timeout: 5_000 }).catch(() => undefined)
    const streamReceipt = stream.receipt
    await connection.destroy().catch(() => undefined)

    const received = await runIn(node, Effect.flatMap(ReceiptTotals, (t) => t.paymentTotal(payment.id)))
    expect(received).toBe(4_321n)
    const settled = await waitUntil(async () => {
      const [balance] = await runIn(node, Effect.flatMap(Ledger, (l) => l.balances([ids.incomingPayment(payment.id)])))
      return balance?.creditsPosted === 4_321n && balance.creditsPending === 0n
    }, 20_000)
    expect(settled).toBe(true)
    expect(streamReceipt).toBeDefined()
    expect(BigInt(verifyReceipt(streamReceipt!, receipt.secret).totalReceived.toString())).toBe(4_321n)
    // Without Redis the totals live in receipts.sqlite beside the data directory's other stores: 0600.
    expect(statSync(join(fixture.dir, "stream", "receipts.sqlite")).mode & 0o077).toBe(0)
  }, 60_000)

  it("sends with Pay from a node on TigerBeetle to another node, exactly", async () => {
    const aToB = "tigerbeetle-pay-a-to-b-token01"
    const nodeB = await startNode({
      ilpAddress: "test.tbpayb",
      dataDir: join(fixture.dir, "pay-b"),
      assets: [eur],
      peers: [{ id: "a", asset: eur, incomingTokens: [aToB], staticIlpAddress: "test.tbpaya", maxPacketAmount: "2000" }]
    })
    fixture.onStop(() => nodeB.close())
    const nodeA = await startNode({
      ilpAddress: "test.tbpaya",
      dataDir: join(fixture.dir, "pay-a"),
      assets: [usd, eur],
      rates: { static: { USD: { EUR: "0.9" } } },
      peers: [{
        id: "pay-b",
        asset: eur,
        incomingTokens: ["tigerbeetle-pay-b-to-a-token01"],
        outgoing: { url: nodeB.url, token: aToB },
        staticIlpAddress: "test.tbpayb",
        routes: ["test.tbpayb"]
      }],
      ...tigerbeetleConfig()
    })
    fixture.onStop(() => nodeA.close())
    await depositTo(nodeA, { kind: "asset", asset: eur }, 10_000_000n)
    await depositTo(nodeB, { kind: "peer", peerId: "a" }, 10_000_000n)
    const walletA = await runIn(nodeA, Effect.flatMap(WalletAddresses, (w) => w.create({ url: "https://a.test/tb-payer", asset: usd })))
    const walletB = await runIn(nodeB, Effect.flatMap(WalletAddresses, (w) => w.create({ url: "https://b.test/payee", asset: eur })))
    await fundWallet(nodeA, walletA, 100_000n)
    const incoming = await runIn(
      nodeB,
      Effect.flatMap(IncomingPayments, (p) => p.create({ walletAddressId: walletB.id, incomingAmount: 4_500n }))
    )
    const credentials = await runIn(
      nodeB,
      Effect.map(StreamCredentials, (c) => c.generate({ kind: "incoming", id: incoming.id }, eur))
    )
    const quote = await runIn(nodeA, Effect.flatMap(Quotes, (q) =>
      q.create({
        walletAddressId: walletA.id,
        receiver: { kind: "stream", ilpAddress: credentials.ilpAddress, sharedSecret: credentials.sharedSecret },
        receiveAmount: 4_500n
      })))
    const created = await runIn(nodeA, Effect.flatMap(OutgoingPayments, (p) => p.create({ quoteId: quote.id })))
    const done = await waitForPayment(nodeA, created.id, undefined, 30_000)
    expect(done.error).toBeUndefined()
    expect(done.state).toBe("completed")
    expect(done.deliveredAmount).toBe(4_500n)
    const balances = () =>
      runIn(nodeA, Effect.flatMap(Ledger, (l) => l.balances([walletA.ledgerAccountId, ids.peerLiquidity("pay-b")])))
    expect(await waitUntil(async () => (await balances()).every((b) => b.debitsPending === 0n && b.creditsPending === 0n), 20_000))
      .toBe(true)
    const [wallet, peerB] = await balances()
    expect(wallet!.creditsPosted - wallet!.debitsPosted).toBe(100_000n - done.sentAmount)
    expect(peerB!.creditsPosted - peerB!.debitsPosted).toBe(4_500n) // the 4 500 EUR cents delivered through peer b
    const incomingAfter = await runIn(nodeB, Effect.flatMap(IncomingPayments, (p) => p.get(incoming.id)))
    expect(incomingAfter.state).toBe("completed")
  }, 90_000)
})
