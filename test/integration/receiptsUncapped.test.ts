/**
 * An uncapped incoming payment on the embedded (in-process) receipt store reserves nothing: the
 * receipt states the connection's committed total plus the packet, and the amount is added once the
 * ledger posted it (`StreamReceiver` `addsAfterPost`). Packets interrupted right after their receipt
 * was built (before the Fulfill is returned) are voided in the ledger and add nothing; after each,
 * the received total equals the ledger credit, and at the end the payment received exactly what
 * the sender sent, in the ledger and in the receipt totals, with nothing pending.
 *
 * In-process, so that the interruption lands exactly between building the receipt and the Fulfill
 * (the store is wrapped: after the connection-total read, the packet's fiber is interrupted).
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
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import * as ReceiptTotalsSqlite from "../../src/Stream/ReceiptTotalsSqlite.ts"
import * as StreamReceiver from "../../src/Stream/StreamReceiver.ts"

const usd = { code: "USD", scale: 2 }
const total = 5_000n
const interruptions = 5

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

describe("an uncapped incoming payment on the embedded receipt store", () => {
  it("adds each amount once posted, nothing for packets interrupted before their Fulfill; totals equal the ledger", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ilp-receipts-uncapped-"))
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
    const config = await Effect.runPromise(Config.decodeConfig({
      ilpAddress: "test.shop",
      dataDir: dir,
      peers: [{ id: "sender", asset: usd, incomingTokens: ["uncapped-sender-token-000001"], staticIlpAddress: "test.sender", maxPacketAmount: "500" }]
    }, {}))
    const seen = { interrupted: 0, reserves: 0 }
    const receipts = Layer.effect(
      ReceiptTotals,
      Effect.map(ReceiptTotals, (totals) =>
        ReceiptTotals.of({
          ...totals,
          reserve: (request) => Effect.andThen(Effect.sync(() => seen.reserves++), totals.reserve(request)),
          get: (key) =>
            Effect.tap(totals.get(key), () => {
              if (seen.interrupted >= interruptions) return Effect.void
              seen.interrupted++
              return Effect.interrupt
            })
        }))
    ).pipe(Layer.provide(ReceiptTotalsSqlite.layerSqlite({ filename: join(dir, "receipts.sqlite") })))
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
    const layer = Pipeline.layer.pipe(Layer.provideMerge(receiver))
    const scope = Scope.makeUnsafe()
    cleanups.push(() => Effect.runPromise(Scope.close(scope, Exit.void)))
    const services = await Effect.runPromise(Scope.provide(scope)(Layer.build(layer)))
    const runIn = <A, E>(effect: Effect.Effect<A, E, Layer.Success<typeof layer>>) =>
      Effect.runPromise(Effect.provideContext(effect, services))

    await runIn(ensureConfiguredAccounts(config))
    await runIn(deposit(config, { kind: "peer", peerId: "sender" }, 1_000_000n, newTransferId()))
    const payment = await runIn(Effect.gen(function*() {
      const wallet = yield* (yield* WalletAddresses.WalletAddresses).create({ url: "https://wallet.test/shop", asset: usd })
      return yield* (yield* IncomingPayments.IncomingPayments).create({ walletAddressId: wallet.id })
    }))
    const credentials = await runIn(
      Effect.map(StreamCredentials.StreamCredentials, (c) => c.generate({ kind: "incoming", id: payment.id }, usd))
    )
    const pipeline = Context.get(services, Pipeline.Pipeline)
    const source = Context.get(services, Peers.Peers).byId("sender")!.account
    const ledgerCredit = async () => {
      const [account] = await runIn(Effect.flatMap(Ledger, (ledger) => ledger.balances([ids.incomingPayment(payment.id)])))
      return account!
    }
    const received = () => runIn(Effect.flatMap(ReceiptTotals, (totals) => totals.paymentTotal(payment.id)))
    const checks: Array<string> = []
    let interruptedSeen = 0
    const plugin = {
      connect: async () => {},
      disconnect: async () => {},
      isConnected: () => true,
      registerDataHandler: () => {},
      deregisterDataHandler: () => {},
      sendData: async (data: Buffer): Promise<Buffer> => {
        const exit = await Effect.runPromiseExit(pipeline.process({ bytes: data, source, unfulfillable: false }))
        if (Exit.isSuccess(exit)) return Buffer.from(encodeReply(exit.value))
        interruptedSeen++
        const account = await ledgerCredit()
        const counted = await received()
        checks.push(counted === account.creditsPosted + account.creditsPending ? "equal" : `counted ${counted}, ledger ${account.creditsPosted}+${account.creditsPending}`)
        return Buffer.from(encodeReject({ code: "T00", triggeredBy: "test.sender", message: "lost", data: new Uint8Array(0) }))
      }
    }
    const connection = await createConnection({
      plugin: plugin as never,
      destinationAccount: credentials.ilpAddress,
      sharedSecret: Buffer.from(credentials.sharedSecret)
    })
    await connection.createStream().sendTotal(Number(total), { timeout: 60_000 })
    await connection.destroy().catch(() => undefined)

    const account = await ledgerCredit()
    const state = (await runIn(Effect.flatMap(IncomingPayments.IncomingPayments, (s) => s.get(payment.id)))).state
    expect({
      checks,
      interrupted: seen.interrupted,
      interruptedSeen,
      reserves: seen.reserves,
      received: await received(),
      credited: account.creditsPosted,
      pending: account.creditsPending,
      state
    }).toEqual({
      checks: Array.from({ length: interruptions }, () => "equal"),
      interrupted: interruptions,
      interruptedSeen: interruptions,
      reserves: 0,
      received: total,
      credited: total,
      pending: 0n,
      state: "processing"
    })
  }, 90_000)
})
