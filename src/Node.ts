/**
 * One node, wired from its configuration: the services as Layers, the ILP-over-HTTP server, and
 * (later) the operator API. `start` is scoped: closing the scope stops accepting, lets in-flight
 * packets finish, and closes every store. Tests and `main.ts` both use it.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as HttpServer from "effect/http/HttpServer"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import * as LedgerSqlite from "./Accounting/LedgerSqlite.ts"
import type * as LedgerTigerBeetle from "./Accounting/LedgerTigerBeetle.ts"
import * as LedgerTimed from "./Accounting/LedgerTimed.ts"
import * as Config from "./Config.ts"
import * as DataDir from "./DataDir.ts"
import * as DataDirLock from "./DataDirLock.ts"
import * as LiquidityWatch from "./Events/LiquidityWatch.ts"
import * as Webhooks from "./Events/Webhooks.ts"
import * as Health from "./Health.ts"
import * as Metrics from "./Connector/Metrics.ts"
import * as Peers from "./Connector/Peers.ts"
import * as Pipeline from "./Connector/Pipeline.ts"
import * as Plugin from "./Connector/Plugin.ts"
import * as RateLimiter from "./Connector/RateLimiter.ts"
import type * as RateLimiterRedis from "./Connector/RateLimiterRedis.ts"
import * as AdminApi from "./Http/AdminApi.ts"
import * as IlpOverHttp from "./Http/IlpOverHttp.ts"
import * as PeerClient from "./Http/PeerClient.ts"
import { createPublicServer } from "./Http/PublicListener.ts"
import * as IncomingPayments from "./Payments/IncomingPayments.ts"
import * as OutgoingPayments from "./Payments/OutgoingPayments.ts"
import * as Quotes from "./Payments/Quotes.ts"
import * as ReceiverDirectory from "./Payments/ReceiverDirectory.ts"
import { PaymentsStore } from "./Payments/Store.ts"
import type * as StorePostgres from "./Payments/StorePostgres.ts"
import * as StoreSqlite from "./Payments/StoreSqlite.ts"
import * as WalletAddresses from "./Payments/WalletAddresses.ts"
import * as ClientKey from "./OpenPayments/ClientKey.ts"
import * as OpenPaymentsClient from "./OpenPayments/Client.ts"
import * as GrantStore from "./OpenPayments/GrantStore.ts"
import type * as GrantStorePostgres from "./OpenPayments/GrantStorePostgres.ts"
import * as OpenPayments from "./OpenPayments/Server.ts"
import * as Rates from "./Rates/Rates.ts"
import * as RatesHttp from "./Rates/RatesHttp.ts"
import * as NodeSettings from "./Settings/NodeSettings.ts"
import type * as SettingsPostgres from "./Settings/SettingsPostgres.ts"
import { SettingsStore } from "./Settings/SettingsStore.ts"
import * as SettingsSqlite from "./Settings/SettingsSqlite.ts"
import * as StreamCredentials from "./Stream/Credentials.ts"
import * as ReceiptTotals from "./Stream/ReceiptTotals.ts"
import type * as ReceiptTotalsRedis from "./Stream/ReceiptTotalsRedis.ts"
import * as ReceiptTotalsSqlite from "./Stream/ReceiptTotalsSqlite.ts"
import * as ReceiptTotalsSqliteInLedger from "./Stream/ReceiptTotalsSqliteInLedger.ts"
import * as Spsp from "./Stream/Spsp.ts"
import type * as Postgres from "./Store/Postgres.ts"
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
 * A layer from a module imported only when the profile that needs it is configured, so the
 * embedded profile never loads TigerBeetle's client, ioredis or the PostgreSQL driver (issue 13,
 * memory). The import runs when the layer is built, at start: a missing module still stops the
 * start, with its message.
 */
const lazyLayer = <A, E, R>(load: () => Promise<Layer.Layer<A, E, R>>): Layer.Layer<A, E, R> =>
  Layer.unwrap(Effect.promise(load))

/**
 * Static rates (seeded from config, edited through the API; `Settings/NodeSettings.ts` fills the
 * table) in front of the HTTP rates source when one is configured.
 */
const ratesLayer = (config: Config.NodeConfig): Layer.Layer<Rates.Rates | Rates.RatesTable> =>
  Rates.layerTable(
    config.rates.url === undefined ?
      undefined :
      RatesHttp.layerHttp({ url: config.rates.url, timeoutMs: config.rates.timeoutMs, cacheTtlMs: config.rates.cacheTtlMs })
        .pipe(Layer.provide(NodeHttpClient.layerUndici))
  )

/**
 * The ledger: TigerBeetle when configured (production), else the embedded SQLite ledger in
 * `dataDir` (`:memory:` keeps it in process memory, for tests). `embedded` is that one layer value,
 * also given to the receipt totals that commit in its transactions, so they get the same
 * connection (layers are built once per value); undefined on TigerBeetle.
 */
type EmbeddedLedger = ReturnType<typeof LedgerSqlite.layerWithConnection>
const ledgerLayers = (config: Config.NodeConfig) => {
  const tigerbeetle = config.tigerbeetle
  if (tigerbeetle === undefined) {
    const embedded: EmbeddedLedger = LedgerSqlite.layerWithConnection({ filename: storeFile(config, "ledger.sqlite") })
    return { ledger: LedgerTimed.layer(embedded), embedded }
  }
  const ledger = LedgerTimed.layer(
    lazyLayer((): Promise<ReturnType<typeof LedgerTigerBeetle.layer>> =>
      import("./Accounting/LedgerTigerBeetle.ts").then((module) => module.layer(tigerbeetle))
    )
  )
  return { ledger, embedded: undefined }
}

/**
 * STREAM receipt totals: Redis when configured (production); else, with the embedded ledger, in
 * the ledger's own database, so a posted packet's total commits in its post transaction (an older
 * `receipts.sqlite` is moved in at start, `ReceiptTotalsSqliteInLedger.ts`); else (TigerBeetle
 * without Redis) SQLite beside it.
 */
const receiptTotalsLayer = (config: Config.NodeConfig, embedded: EmbeddedLedger | undefined) => {
  const redisUrl = config.redisUrl
  return redisUrl === undefined ?
    embedded !== undefined ?
      ReceiptTotalsSqliteInLedger.layerInLedger({ importFrom: storeFile(config, "receipts.sqlite") }).pipe(Layer.provide(embedded)) :
      ReceiptTotalsSqlite.layerSqlite({ filename: secureStoreFile(config, "receipts.sqlite") }) :
    lazyLayer((): Promise<ReturnType<typeof ReceiptTotalsRedis.layerRedis>> =>
      import("./Stream/ReceiptTotalsRedis.ts").then((module) => module.layerRedis({ url: Redacted.value(redisUrl) }))
    )
}

/**
 * Per-account rate and throughput limits: Redis when configured (the same Redis as receipt totals;
 * shared by every instance, so the limits hold across them), else this process's memory.
 */
const rateLimiterLayer = (config: Config.NodeConfig) => {
  const redisUrl = config.redisUrl
  return redisUrl === undefined ?
    RateLimiter.layerMemory :
    lazyLayer((): Promise<ReturnType<typeof RateLimiterRedis.layerRedis>> =>
      import("./Connector/RateLimiterRedis.ts").then((module) => module.layerRedis({ url: Redacted.value(redisUrl) }))
    )
}

/**
 * Wallet addresses and payments: PostgreSQL when configured (production; shared by every instance,
 * migrated at start under an advisory lock), else SQLite beside the ledger.
 */
const paymentsStoreLayer = (config: Config.NodeConfig, postgres: PostgresLayer | undefined) =>
  postgres === undefined ?
    StoreSqlite.layer({ filename: storeFile(config, "payments.sqlite") }) :
    lazyLayer((): Promise<typeof StorePostgres.layer> => import("./Payments/StorePostgres.ts").then((module) => module.layer)).pipe(
      Layer.provide(postgres),
      // A clear first line (the URL stays redacted); the node does not start without its store.
      Layer.catch((error) =>
        Layer.effect(
          PaymentsStore,
          Effect.die(new Error(`PostgreSQL resource store unavailable at start: ${error.message}`, { cause: error }))
        )
      )
    )

/** One PostgreSQL pool per process, shared by the payments, settings and grant stores (a Layer value: built once). */
type PostgresLayer = ReturnType<typeof Postgres.layer>
const postgresLayer = (config: Config.NodeConfig): PostgresLayer | undefined => {
  const url = config.postgresUrl
  return url === undefined ?
    undefined :
    lazyLayer((): Promise<PostgresLayer> => import("./Store/Postgres.ts").then((module) => module.layer({ url })))
}

/** A shared store's layer that cannot start: one clear line (the URL stays redacted); the node does not start. */
const dieUnavailable = (what: string) => (error: { readonly message: string }) =>
  Effect.die(new Error(`PostgreSQL ${what} unavailable at start: ${error.message}`, { cause: error }))

/**
 * Peers, assets and rates: PostgreSQL when configured (shared by every instance; a change made on
 * one reaches the others through LISTEN/NOTIFY, with a 1 s periodic reload as backstop), else SQLite.
 */
const settingsStoreLayer = (config: Config.NodeConfig, postgres: PostgresLayer | undefined) =>
  postgres === undefined ?
    SettingsSqlite.layer({ filename: storeFile(config, "settings.sqlite") }) :
    lazyLayer((): Promise<ReturnType<typeof SettingsPostgres.layer>> =>
      import("./Settings/SettingsPostgres.ts").then((module) => module.layer())
    ).pipe(
      Layer.provide(postgres),
      Layer.catch((error) => Layer.effect(SettingsStore, dieUnavailable("settings store")(error)))
    )

/** Open Payments grants: PostgreSQL when configured (a grant issued by one instance is accepted by all), else SQLite. */
const grantStoreLayer = (config: Config.NodeConfig, postgres: PostgresLayer | undefined) =>
  postgres === undefined ?
    GrantStore.layerSqlite({ filename: storeFile(config, "openpayments.sqlite") }) :
    lazyLayer((): Promise<typeof GrantStorePostgres.layer> =>
      import("./OpenPayments/GrantStorePostgres.ts").then((module) => module.layer)
    ).pipe(
      Layer.provide(postgres),
      Layer.catch((error) => Layer.effect(GrantStore.GrantStore, dieUnavailable("grant store")(error)))
    )

/** `storeFile`, created empty with mode 0600 first (SQLite would create it with the umask's mode). */
const secureStoreFile = (config: Config.NodeConfig, name: string): string => {
  const file = storeFile(config, name)
  if (file !== ":memory:") DataDir.secureFile(file, { sqlite: true })
  return file
}

/** A store's file in the data directory (made 0700, its files 0600, by `DataDir.prepare` at start). */
const storeFile = (config: Config.NodeConfig, name: string): string => {
  if (config.dataDir === ":memory:") return ":memory:"
  mkdirSync(config.dataDir, { recursive: true, mode: DataDir.dirMode })
  return join(config.dataDir, name)
}

/** One process per data directory: held before any store in it opens (see `DataDirLock.ts`). */
const dataDirLockLayer = (config: Config.NodeConfig) =>
  config.dataDir === ":memory:" ? Layer.empty : DataDirLock.layer(config.dataDir)

/** Every service the packet path needs, for the embedded profile. */
export const servicesLayer = (config: Config.NodeConfig) => {
  const configLayer = Config.layer(config)
  const postgres = postgresLayer(config)
  const { ledger, embedded: embeddedLedger } = ledgerLayers(config)
  const stores = Layer.mergeAll(
    ledger,
    paymentsStoreLayer(config, postgres),
    settingsStoreLayer(config, postgres),
    receiptTotalsLayer(config, embeddedLedger),
    StreamCredentials.layer,
    Peers.layer,
    rateLimiterLayer(config),
    ratesLayer(config),
    PeerClient.layer
  ).pipe(Layer.provideMerge(Layer.merge(configLayer, Metrics.layer)), Layer.provide(dataDirLockLayer(config))) // Metrics first: the Redis clients record into it
  // Peers, assets and rates as stored (seeded from the config file), applied before any packet.
  const settings = NodeSettings.layer.pipe(Layer.provideMerge(stores))
  // Open Payments: the grant store (its own file in the data directory, or PostgreSQL), the node's client key.
  const clientKey = ClientKey.layer.pipe(Layer.provideMerge(settings))
  const openPayments = Layer.mergeAll(
    grantStoreLayer(config, postgres),
    OpenPaymentsClient.layer
  ).pipe(Layer.provideMerge(clientKey))
  const walletAddresses = WalletAddresses.layer.pipe(Layer.provideMerge(openPayments))
  const payments = IncomingPayments.layer.pipe(Layer.provideMerge(walletAddresses))
  const directory = ReceiverDirectory.layer.pipe(Layer.provideMerge(payments))
  const receiver = StreamReceiver.layer.pipe(Layer.provideMerge(directory))
  const health = Health.layer.pipe(Layer.provideMerge(receiver))
  const pipeline = Pipeline.layer.pipe(Layer.provideMerge(health))
  // Sending: the in-process plugin over the pipeline, quotes and outgoing payments over the plugin.
  const plugins = Plugin.layer.pipe(Layer.provideMerge(pipeline))
  const quotes = Quotes.layer().pipe(Layer.provideMerge(plugins))
  const outgoing = OutgoingPayments.layer().pipe(Layer.provideMerge(quotes))
  // Events: webhook delivery of the outbox (and the expiry sweep), liquidity threshold checks (src/Events/).
  return Layer.merge(Webhooks.layer, LiquidityWatch.layer).pipe(Layer.provideMerge(outgoing))
}

export type Services = Layer.Success<ReturnType<typeof servicesLayer>>

const portOf = (server: HttpServer.HttpServer["Service"]): number =>
  server.address._tag === "UnixPathAddress" ? 0 : server.address.port

/** A listener could not start: one line naming it, the address and the cause. */
export class ListenError extends Data.TaggedError("ListenError")<{ readonly message: string }> {}

/** The Node error under a serve/listen failure, as one line (e.g. "listen EADDRINUSE: address already in use ..."). */
const causeLine = (error: unknown): string => {
  let current: unknown = error
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null && "cause" in current; depth++) {
    if ((current as { cause: unknown }).cause === undefined) break
    current = (current as { cause: unknown }).cause
  }
  const message = String((current as Error)?.message ?? current)
  return (message === "" ? String((current as Error)?.name ?? "unknown error") : message).split("\n", 1)[0]!
}

const listenError = (what: string, config: Config.NodeConfig, port: number) => (error: unknown) =>
  new ListenError({ message: `${what}: cannot listen on ${config.host}:${port}: ${causeLine(error)}` })

const listen = (config: Config.NodeConfig, port: number, gracefulShutdownMs = 20_000) =>
  Effect.map(
    // A public listener: connection cap, header/body/idle timeouts (Http/PublicListener.ts).
    Layer.build(NodeHttpServer.layer(() => createPublicServer(config.publicListener).server, {
      port,
      host: config.host,
      gracefulShutdownTimeout: Duration.millis(gracefulShutdownMs)
    })),
    (context) => Context.get(context, HttpServer.HttpServer)
  )

/** Starts the node's servers in the current scope. */
export const start = (config: Config.NodeConfig) =>
  Effect.gen(function*() {
    if (config.dataDir !== ":memory:") yield* DataDir.prepare(config.dataDir)
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
      drainTimeoutMs: config.maxHoldTimeMs + 5_000,
      limits: config.publicListener
    }).pipe(Effect.mapError(listenError("ILP-over-HTTP listener (connectorPort, CONNECTOR_PORT)", config, config.connectorPort)))
    const spspServer = yield* listen(config, config.openPaymentsPort).pipe(
      Effect.mapError(listenError("SPSP / Open Payments listener (openPaymentsPort, OPEN_PAYMENTS_PORT)", config, config.openPaymentsPort))
    )
    // Open Payments on the same port, SPSP for everything it does not answer (src/OpenPayments/Server.ts).
    const spspApp = Spsp.makeApp(
      Context.get(services, WalletAddresses.WalletAddresses),
      Context.get(services, StreamCredentials.StreamCredentials)
    )
    yield* spspServer.serve(OpenPayments.makeApp({
      walletAddresses: Context.get(services, WalletAddresses.WalletAddresses),
      incomingPayments: Context.get(services, IncomingPayments.IncomingPayments),
      credentials: Context.get(services, StreamCredentials.StreamCredentials),
      totals: Context.get(services, ReceiptTotals.ReceiptTotals),
      store: Context.get(services, GrantStore.GrantStore),
      clientKey: Context.get(services, ClientKey.ClientKey)
    }, {
      publicUrl: config.openPayments.publicUrl ?? `http://${config.host}:${portOf(spspServer)}`,
      accessTokenLifetimeMs: config.openPayments.accessTokenLifetimeMs
    }, spspApp))
    const admin = yield* AdminApi.serve(config).pipe(
      Effect.provideContext(services),
      Effect.mapError(listenError("admin API listener (adminPort, ADMIN_PORT)", config, config.adminPort))
    )
    const node: RunningNode = {
      ilpAddress: config.ilpAddress,
      connectorPort: ilpServer.port,
      openPaymentsPort: portOf(spspServer),
      adminPort: admin.port,
      services
    }
    yield* Effect.logInfo(`ILP-over-HTTP listening on http://${config.host}:${node.connectorPort} as ${config.ilpAddress}`)
    yield* Effect.logInfo(`SPSP and Open Payments listening on http://${config.host}:${node.openPaymentsPort}`)
    // Outgoing payments a previous run left unfinished carry on (what they sent is in the ledger).
    const resumed = yield* Context.get(services, OutgoingPayments.OutgoingPayments).resume
    if (resumed > 0) yield* Effect.logInfo(`resumed ${resumed} outgoing payment(s)`)
    return node
  })
