/**
 * The node's packet path in-process (as `Node.servicesLayer` wires it, embedded stores in a temp
 * directory) with a receipt store of the test's choosing, a funded sender peer, an incoming payment
 * with STREAM credentials, and a plugin that hands each STREAM packet to the pipeline — for tests
 * that interrupt packets at a precise step (test/integration/receipts*.test.ts).
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { join } from "node:path"
import { ensureConfiguredAccounts, ids } from "../../src/Accounting/Accounts.ts"
import { Ledger, newTransferId } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { deposit } from "../../src/Accounting/Liquidity.ts"
import * as Config from "../../src/Config.ts"
import * as Metrics from "../../src/Connector/Metrics.ts"
import { encodeReject, encodeReply, type Reply } from "../../src/Connector/Packet.ts"
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
import type { ReceiptStoreUnavailable, ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import * as StreamReceiver from "../../src/Stream/StreamReceiver.ts"

export const usd = { code: "USD", scale: 2 } as const

/** A receipt store for the packet path: its own, or one on the embedded ledger's connection (`layerInLedger`). */
export type ReceiptsLayer = Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable, LedgerSqlite.LedgerConnection>

/** The node's packet path with the given receipt store (embedded ledger and resource store in `dir`). */
export const packetPathWith = (
  config: Config.NodeConfig,
  dir: string,
  receipts: ReceiptsLayer
) => {
  // One layer value: a receipt store on the ledger's connection gets this very ledger.
  const ledger = LedgerSqlite.layerWithConnection({ filename: join(dir, "ledger.sqlite") })
  const stores = Layer.mergeAll(
    ledger,
    StoreSqlite.layer({ filename: join(dir, "payments.sqlite") }),
    receipts.pipe(Layer.provide(ledger)),
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

type Services = Layer.Success<ReturnType<typeof packetPathWith>>

/**
 * Builds the packet path (closed by the returned `close`), funds the `sender` peer, and creates an
 * incoming payment (capped at `incomingAmount` when given) with STREAM credentials.
 */
export const startPacketPath = async (
  config: Config.NodeConfig,
  dir: string,
  receipts: ReceiptsLayer,
  incomingAmount?: bigint
) => {
  const scope = Scope.makeUnsafe()
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  const services = await Effect.runPromise(Scope.provide(scope)(Layer.build(packetPathWith(config, dir, receipts))))
  const runIn = <A, E>(effect: Effect.Effect<A, E, Services>) => Effect.runPromise(Effect.provideContext(effect, services))

  await runIn(ensureConfiguredAccounts(config))
  await runIn(deposit(config, { kind: "peer", peerId: "sender" }, 1_000_000n, newTransferId()))
  const payment = await runIn(Effect.gen(function*() {
    const wallet = yield* (yield* WalletAddresses.WalletAddresses).create({ url: "https://wallet.test/shop", asset: usd })
    return yield* (yield* IncomingPayments.IncomingPayments).create({
      walletAddressId: wallet.id,
      ...(incomingAmount === undefined ? {} : { incomingAmount })
    })
  }))
  const credentials = await runIn(
    Effect.map(StreamCredentials.StreamCredentials, (c) => c.generate({ kind: "incoming", id: payment.id }, usd))
  )
  /** The payment's ledger account: credits posted and pending. */
  const ledgerCredit = async () => {
    const [account] = await runIn(Effect.flatMap(Ledger, (ledger) => ledger.balances([ids.incomingPayment(payment.id)])))
    return account!
  }
  const paymentState = async () =>
    (await runIn(Effect.flatMap(IncomingPayments.IncomingPayments, (s) => s.get(payment.id)))).state
  const pipeline = Context.get(services, Pipeline.Pipeline)
  const source = Context.get(services, Peers.Peers).byId("sender")!.account

  /**
   * An ilp-protocol-stream plugin that runs every packet through the pipeline from `sender`. A packet
   * whose fiber was interrupted answers as a connector whose next hop dropped it (T00, which the
   * sender retries), after `onInterrupted`.
   */
  const plugin = (hooks: { readonly onReply?: (reply: Reply) => void; readonly onInterrupted: () => Promise<void> }) => ({
    connect: async () => {},
    disconnect: async () => {},
    isConnected: () => true,
    registerDataHandler: () => {},
    deregisterDataHandler: () => {},
    sendData: async (data: Buffer): Promise<Buffer> => {
      const exit = await Effect.runPromiseExit(pipeline.process({ bytes: data, source, unfulfillable: false }))
      if (Exit.isSuccess(exit)) {
        hooks.onReply?.(exit.value)
        return Buffer.from(encodeReply(exit.value))
      }
      await hooks.onInterrupted()
      return Buffer.from(encodeReject({ code: "T00", triggeredBy: "test.sender", message: "lost", data: new Uint8Array(0) }))
    }
  })

  return { services, runIn, close, payment, credentials, ledgerCredit, paymentState, plugin }
}
