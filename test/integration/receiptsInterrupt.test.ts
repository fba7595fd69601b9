/**
 * Packets interrupted right after their receipt-total reserve (before the Fulfill is returned):
 * their ledger reservation is voided, and so is their receipt reservation. An `ilp-protocol-stream`
 * sender pays a capped incoming payment through the real pipeline, the real embedded ledger and the
 * real receipt store (SQLite files, or a real Redis); the first accepted reserves are each followed
 * by an interruption of the packet's fiber. The sender retries them, the payment completes at
 * exactly the cap, and the received total equals the ledger credit.
 *
 * In-process, so that the interruption lands exactly between the reserve and the Fulfill (the
 * store is wrapped: after an accepted reserve, the packet's fiber is interrupted). The same failure
 * through real processes and sockets is `receiptsRedisStall.test.ts`.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { createConnection } from "ilp-protocol-stream"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ensureConfiguredAccounts, ids } from "../../src/Accounting/Accounts.ts"
import { Ledger, newTransferId } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { deposit } from "../../src/Accounting/Liquidity.ts"
import * as Config from "../../src/Config.ts"
import * as Metrics from "../../src/Connector/Metrics.ts"
import { encodeReject, encodeReply } from "../../src/Connector/Packet.ts"
import * as Peers from "../../src/Connector/Peers.ts"
import * as Pipeline from "../../src/Connector/Pipeline.ts"
import * as RateLimiter from "../../src/Connector/RateLimiter.ts"
import * as PeerClient from "../../src/Http/PeerClient.ts"
import * as IncomingPayments from "../../src/Payments/IncomingPayments.ts"
import * as ReceiverDirectory from "../../src/Payments/ReceiverDirectory.ts"
import * as StoreSqlite from "../../src/Payments/StoreSqlite.ts"
import * as WalletAddresses from "../../src/Payments/WalletAddresses.ts"
import * as Rates from "../../src/Rates/Rates.ts"
import * as StreamCredentials from "../../src/Stream/Credentials.ts"
import { type ReceiptStoreUnavailable, ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import * as ReceiptTotalsRedis from "../../src/Stream/ReceiptTotalsRedis.ts"
import * as ReceiptTotalsSqlite from "../../src/Stream/ReceiptTotalsSqlite.ts"
import * as StreamReceiver from "../../src/Stream/StreamReceiver.ts"
import { startRedis } from "../support/redis.ts"

const usd = { code: "USD", scale: 2 }
const cap = 5_000n
const interruptions = 5

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** The store, except that the first `count` accepted reserves interrupt their packet right after. */
const interruptingAfterReserve = (inner: Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable>, count: number) => {
  const seen = { interrupted: 0 }
  const layer = Layer.effect(
    ReceiptTotals,
    Effect.map(ReceiptTotals, (totals) =>
      ReceiptTotals.of({
        ...totals,
        reserve: (request) =>
          Effect.tap(totals.reserve(request), (result) => {
            if (!result.accepted || seen.interrupted >= count) return Effect.void
            seen.interrupted++
            return Effect.interrupt
          })
      }))
  ).pipe(Layer.provide(inner))
  return { layer, seen }
}

/** The node's packet path (as `Node.servicesLayer` wires it) with the given receipt store. */
const servicesWith = (config: Config.NodeConfig, dir: string, receipts: Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable>) => {
  const stores = Layer.mergeAll(
    LedgerSqlite.layer({ filename: join(dir, "ledger.sqlite") }),
    StoreSqlite.layer({ filename: join(dir, "payments.sqlite") }),
    receipts,
    StreamCredentials.layer,
    Peers.layer,
    Metrics.layer,
    RateLimiter.layerMemory,
    Rates.layerStatic(config.rates.static),
    PeerClient.layer
  ).pipe(Layer.provideMerge(Config.layer(config)))
  const wallets = WalletAddresses.layer.pipe(Layer.provideMerge(stores))
  const payments = IncomingPayments.layer.pipe(Layer.provideMerge(wallets))
  const directory = ReceiverDirectory.layer.pipe(Layer.provideMerge(payments))
  const receiver = StreamReceiver.layer.pipe(Layer.provideMerge(directory))
  return Pipeline.layer.pipe(Layer.provideMerge(receiver))
}

const run = async (receiptStore: (dir: string) => Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable>) => {
  const dir = mkdtempSync(join(tmpdir(), "ilp-receipts-interrupt-"))
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
  const config = await Effect.runPromise(Config.decodeConfig({
    ilpAddress: "test.shop",
    dataDir: dir,
    peers: [{ id: "sender", asset: usd, incomingTokens: ["interrupt-sender-token-000001"], staticIlpAddress: "test.sender", maxPacketAmount: "500" }]
  }, {}))
  const hooked = interruptingAfterReserve(receiptStore(dir), interruptions)
  const scope = Scope.makeUnsafe()
  cleanups.push(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  const services = await Effect.runPromise(Scope.provide(scope)(Layer.build(servicesWith(config, dir, hooked.layer))))
  const runIn = <A, E>(effect: Effect.Effect<A, E, Layer.Success<ReturnType<typeof servicesWith>>>) =>
    Effect.runPromise(Effect.provideContext(effect, services))

  await runIn(ensureConfiguredAccounts(config))
  await runIn(deposit(config, { kind: "peer", peerId: "sender" }, 1_000_000n, newTransferId()))
  const payment = await runIn(Effect.gen(function*() {
    const wallet = yield* (yield* WalletAddresses.WalletAddresses).create({ url: "https://wallet.test/shop", asset: usd })
    return yield* (yield* IncomingPayments.IncomingPayments).create({ walletAddressId: wallet.id, incomingAmount: cap })
  }))
  const credentials = await runIn(
    Effect.map(StreamCredentials.StreamCredentials, (c) => c.generate({ kind: "incoming", id: payment.id }, usd))
  )
  const pipeline = Context.get(services, Pipeline.Pipeline)
  const source = Context.get(services, Peers.Peers).byId("sender")!.account
  const counts = { fulfilled: 0, rejected: 0, interrupted: 0 }
  /**
   * Right after each interrupted packet (the sender sends one packet at a time, so nothing else is
   * in flight): what the store counts against the cap (committed + pending, read from a refused
   * over-cap reserve) equals the ledger's credit, posted + pending. The interrupted packet's pending
   * amount was released at once, not left to lapse at the reservation timeout.
   */
  const checks: Array<string> = []
  const check = async () => {
    const probe = await runIn(Effect.flatMap(ReceiptTotals, (totals) =>
      totals.reserve({
        packetId: `probe-${newTransferId()}`,
        connectionKey: "probe",
        amount: cap + 1n,
        payment: { key: payment.id, cap },
        pendingMs: 1_000
      })))
    const [account] = await runIn(Effect.flatMap(Ledger, (ledger) => ledger.balances([ids.incomingPayment(payment.id)])))
    const ledger = account!.creditsPosted + account!.creditsPending
    checks.push(probe.paymentTotal === ledger ? "equal" : `counted ${probe.paymentTotal}, ledger ${ledger}`)
  }
  const plugin = {
    connect: async () => {},
    disconnect: async () => {},
    isConnected: () => true,
    registerDataHandler: () => {},
    deregisterDataHandler: () => {},
    sendData: async (data: Buffer): Promise<Buffer> => {
      const exit = await Effect.runPromiseExit(pipeline.process({ bytes: data, source, unfulfillable: false }))
      if (Exit.isSuccess(exit)) {
        if (exit.value.type === 13) counts.fulfilled++
        else counts.rejected++
        return Buffer.from(encodeReply(exit.value))
      }
      // As a connector whose next hop dropped the packet: a temporary error the sender retries.
      counts.interrupted++
      await check()
      return Buffer.from(encodeReject({ code: "T00", triggeredBy: "test.sender", message: "lost", data: new Uint8Array(0) }))
    }
  }
  const connection = await createConnection({
    plugin: plugin as never,
    destinationAccount: credentials.ilpAddress,
    sharedSecret: Buffer.from(credentials.sharedSecret)
  })
  await connection.createStream().sendTotal(Number(cap), { timeout: 60_000 })
  await connection.destroy().catch(() => undefined)

  const [account] = await runIn(Effect.flatMap(Ledger, (ledger) => ledger.balances([ids.incomingPayment(payment.id)])))
  const received = await runIn(Effect.flatMap(ReceiptTotals, (totals) => totals.paymentTotal(payment.id)))
  const state = (await runIn(Effect.flatMap(IncomingPayments.IncomingPayments, (s) => s.get(payment.id)))).state
  return {
    afterEachInterruption: checks,
    interrupted: hooked.seen.interrupted,
    pluginSawInterrupted: counts.interrupted,
    received,
    credited: account!.creditsPosted,
    pending: account!.creditsPending,
    state
  }
}

const expected = {
  afterEachInterruption: Array.from({ length: interruptions }, () => "equal"),
  interrupted: interruptions,
  pluginSawInterrupted: interruptions,
  received: cap,
  credited: cap,
  pending: 0n,
  state: "completed"
}

describe("packets interrupted right after their receipt-total reserve", () => {
  it("embedded profile (SQLite receipt store): the payer still pays exactly the cap", async () => {
    expect(await run((dir) => ReceiptTotalsSqlite.layerSqlite({ filename: join(dir, "receipts.sqlite") }))).toEqual(expected)
  }, 90_000)

  it("Redis receipt store: the payer still pays exactly the cap", async () => {
    const redis = await startRedis()
    cleanups.push(redis.stop)
    expect(await run(() => ReceiptTotalsRedis.layerRedis({ url: redis.url }))).toEqual(expected)
  }, 90_000)
})
