/**
 * One node, wired from its configuration: the services as Layers, the ILP-over-HTTP server, and
 * (later) the operator API. `start` is scoped: closing the scope stops accepting, lets in-flight
 * packets finish, and closes every store. Tests and `main.ts` both use it.
 */
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { HttpServer } from "effect/http"
import { createServer } from "node:http"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import * as LedgerSqlite from "./Accounting/LedgerSqlite.ts"
import * as LedgerTigerBeetle from "./Accounting/LedgerTigerBeetle.ts"
import * as Config from "./Config.ts"
import * as Health from "./Health.ts"
import * as Metrics from "./Connector/Metrics.ts"
import * as Peers from "./Connector/Peers.ts"
import * as Pipeline from "./Connector/Pipeline.ts"
import * as Plugin from "./Connector/Plugin.ts"
import * as RateLimiter from "./Connector/RateLimiter.ts"
import * as RateLimiterRedis from "./Connector/RateLimiterRedis.ts"
import * as AdminApi from "./Http/AdminApi.ts"
import * as IlpOverHttp from "./Http/IlpOverHttp.ts"
import * as PeerClient from "./Http/PeerClient.ts"
import * as PaymentsDb from "./Payments/Database.ts"
import * as IncomingPayments from "./Payments/IncomingPayments.ts"
import * as OutgoingPayments from "./Payments/OutgoingPayments.ts"
import * as Quotes from "./Payments/Quotes.ts"
import * as WalletAddresses from "./Payments/WalletAddresses.ts"
import * as Rates from "./Rates/Rates.ts"
import * as NodeSettings from "./Settings/NodeSettings.ts"
import * as SettingsSqlite from "./Settings/SettingsSqlite.ts"
import * as StreamCredentials from "./Stream/Credentials.ts"
import * as ReceiptTotalsRedis from "./Stream/ReceiptTotalsRedis.ts"
import * as ReceiptTotalsSqlite from "./Stream/ReceiptTotalsSqlite.ts"
import * as Spsp from "./Stream/Spsp.ts"
import * as StreamReceiver from "./Stream/StreamReceiver.ts"

export interface RunningNode {
  readonly ilpAddress: string
  readonly connectorPort: number
  readonly openPaymentsPort: number
  readonly adminPort: number
  /** The node's services, for operator commands run in-process (and tests). */
  readonly services: Context.Context<Services>
}

/**
 * Static rates (seeded from config, edited through the API; `Settings/NodeSettings.ts` fills the
 * table) in front of the HTTP rates source when one is configured.
 */
const ratesLayer = (config: Config.NodeConfig): Layer.Layer<Rates.Rates | Rates.RatesTable> =>
  Rates.layerTable(
    config.rates.url === undefined ?
      undefined :
      Rates.layerHttp({ url: config.rates.url, timeoutMs: config.rates.timeoutMs, cacheTtlMs: config.rates.cacheTtlMs })
        .pipe(Layer.provide(NodeHttpClient.layerUndici))
  )

/**
 * The ledger: TigerBeetle when configured (production), else the embedded SQLite ledger in
 * `dataDir` (`:memory:` keeps it in process memory, for tests).
 */
const ledgerLayer = (config: Config.NodeConfig) =>
  config.tigerbeetle === undefined ?
    LedgerSqlite.layer({ filename: storeFile(config, "ledger.sqlite") }) :
    LedgerTigerBeetle.layer(config.tigerbeetle)

/** STREAM receipt totals: Redis when configured (production), else SQLite beside the ledger. */
const receiptTotalsLayer = (config: Config.NodeConfig) =>
  config.redisUrl === undefined ?
    ReceiptTotalsSqlite.layerSqlite({ filename: storeFile(config, "receipts.sqlite") }) :
    ReceiptTotalsRedis.layerRedis({ url: Redacted.value(config.redisUrl) })

/**
 * Per-account rate and throughput limits: Redis when configured (the same Redis as receipt totals;
 * shared by every instance, so the limits hold across them), else this process's memory.
 */
const rateLimiterLayer = (config: Config.NodeConfig) =>
  config.redisUrl === undefined ?
    RateLimiter.layerMemory :
    RateLimiterRedis.layerRedis({ url: Redacted.value(config.redisUrl) })

const storeFile = (config: Config.NodeConfig, name: string): string => {
  if (config.dataDir === ":memory:") return ":memory:"
  mkdirSync(config.dataDir, { recursive: true })
  return join(config.dataDir, name)
}

/** Every service the packet path needs, for the embedded profile. */
export const servicesLayer = (config: Config.NodeConfig) => {
  const configLayer = Config.layer(config)
  const stores = Layer.mergeAll(
    ledgerLayer(config),
    PaymentsDb.layer({ filename: storeFile(config, "payments.sqlite") }),
    SettingsSqlite.layer({ filename: storeFile(config, "settings.sqlite") }),
    receiptTotalsLayer(config),
    StreamCredentials.layer,
    Peers.layer,
    rateLimiterLayer(config),
    ratesLayer(config),
    PeerClient.layer
  ).pipe(Layer.provideMerge(Layer.merge(configLayer, Metrics.layer))) // Metrics first: the Redis clients record into it
  // Peers, assets and rates as stored (seeded from the config file), applied before any packet.
  const settings = NodeSettings.layer.pipe(Layer.provideMerge(stores))
  const walletAddresses = WalletAddresses.layer.pipe(Layer.provideMerge(settings))
  const payments = IncomingPayments.layer.pipe(Layer.provideMerge(walletAddresses))
  const receiver = StreamReceiver.layer.pipe(Layer.provideMerge(payments))
  const health = Health.layer.pipe(Layer.provideMerge(receiver))
  const pipeline = Pipeline.layer.pipe(Layer.provideMerge(health))
  // Sending: the in-process plugin over the pipeline, quotes and outgoing payments over the plugin.
  const plugins = Plugin.layer.pipe(Layer.provideMerge(pipeline))
  const quotes = Quotes.layer().pipe(Layer.provideMerge(plugins))
  return OutgoingPayments.layer().pipe(Layer.provideMerge(quotes))
}

export type Services = Layer.Success<ReturnType<typeof servicesLayer>>

const portOf = (server: HttpServer.HttpServer["Service"]): number =>
  server.address._tag === "UnixPathAddress" ? 0 : server.address.port

const listen = (config: Config.NodeConfig, port: number, gracefulShutdownMs = 20_000) =>
  Effect.map(
    Layer.build(NodeHttpServer.layer(() => createServer(), {
      port,
      host: config.host,
      gracefulShutdownTimeout: Duration.millis(gracefulShutdownMs)
    })),
    (context) => Context.get(context, HttpServer.HttpServer)
  )

/** Starts the node's servers in the current scope. */
export const start = (config: Config.NodeConfig) =>
  Effect.gen(function*() {
    const services = yield* Layer.build(servicesLayer(config))
    // (The ledger accounts of every peer and asset were made when NodeSettings was built.)
    const peers = Context.get(services, Peers.Peers)
    const pipeline = Context.get(services, Pipeline.Pipeline)
    // In-flight packets may take up to the hold time to answer: the server waits that long on shutdown.
    // (On shutdown it drains: `Connection: close` on every answer, then waits for in-flight packets.)
    const ilpServer = yield* IlpOverHttp.serve({
      host: config.host,
      port: config.connectorPort,
      peers,
      pipeline,
      drainTimeoutMs: config.maxHoldTimeMs + 5_000
    })
    const spspServer = yield* listen(config, config.openPaymentsPort)
    yield* spspServer.serve(Spsp.makeApp(
      Context.get(services, WalletAddresses.WalletAddresses),
      Context.get(services, StreamCredentials.StreamCredentials)
    ))
    const admin = yield* AdminApi.serve(config).pipe(Effect.provideContext(services))
    const node: RunningNode = {
      ilpAddress: config.ilpAddress,
      connectorPort: ilpServer.port,
      openPaymentsPort: portOf(spspServer),
      adminPort: admin.port,
      services
    }
    yield* Effect.logInfo(`ILP-over-HTTP listening on http://${config.host}:${node.connectorPort} as ${config.ilpAddress}`)
    yield* Effect.logInfo(`SPSP listening on http://${config.host}:${node.openPaymentsPort}`)
    // Outgoing payments a previous run left unfinished carry on (what they sent is in the ledger).
    const resumed = yield* Context.get(services, OutgoingPayments.OutgoingPayments).resume
    if (resumed > 0) yield* Effect.logInfo(`resumed ${resumed} outgoing payment(s)`)
    return node
  })
