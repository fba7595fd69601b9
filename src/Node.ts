/**
 * One node, wired from its configuration: the services as Layers, the ILP-over-HTTP server, and
 * (later) the operator API. `start` is scoped: closing the scope stops accepting, lets in-flight
 * packets finish, and closes every store. Tests and `main.ts` both use it.
 */
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { createServer } from "node:http"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { ensureConfiguredAccounts } from "./Accounting/Accounts.ts"
import * as LedgerSqlite from "./Accounting/LedgerSqlite.ts"
import * as Config from "./Config.ts"
import * as LocalReceivers from "./Connector/LocalReceivers.ts"
import * as Peers from "./Connector/Peers.ts"
import * as Pipeline from "./Connector/Pipeline.ts"
import * as RateLimiter from "./Connector/RateLimiter.ts"
import { makeApp } from "./Http/IlpOverHttp.ts"
import * as PeerClient from "./Http/PeerClient.ts"
import * as Rates from "./Rates/Rates.ts"

export interface RunningNode {
  readonly ilpAddress: string
  readonly connectorPort: number
  /** The node's services, for operator commands run in-process (and tests). */
  readonly services: Context.Context<Services>
}

const ratesLayer = (config: Config.NodeConfig): Layer.Layer<Rates.Rates> =>
  config.rates.url === undefined ?
    Rates.layerStatic(config.rates.static) :
    Rates.layerHttp({ url: config.rates.url, timeoutMs: config.rates.timeoutMs, cacheTtlMs: config.rates.cacheTtlMs })
      .pipe(Layer.provide(NodeHttpClient.layerUndici))

/** The embedded ledger lives in `dataDir` (`:memory:` keeps it in process memory, for tests). */
const ledgerLayer = (config: Config.NodeConfig) => {
  if (config.dataDir === ":memory:") return LedgerSqlite.layer({ filename: ":memory:" })
  mkdirSync(config.dataDir, { recursive: true })
  return LedgerSqlite.layer({ filename: join(config.dataDir, "ledger.sqlite") })
}

/** Every service the packet path needs, for the embedded profile. */
export const servicesLayer = (config: Config.NodeConfig) => {
  const configLayer = Config.layer(config)
  const base = Layer.mergeAll(
    ledgerLayer(config),
    Peers.layer,
    RateLimiter.layerMemory,
    ratesLayer(config),
    LocalReceivers.layerNone,
    PeerClient.layer
  ).pipe(Layer.provideMerge(configLayer))
  return Pipeline.layer.pipe(Layer.provideMerge(base))
}

export type Services = Layer.Success<ReturnType<typeof servicesLayer>>

const portOf = (server: HttpServer.HttpServer["Service"]): number =>
  server.address._tag === "UnixPathAddress" ? 0 : server.address.port

/** Starts the node's servers in the current scope. */
export const start = (config: Config.NodeConfig) =>
  Effect.gen(function*() {
    const services = yield* Layer.build(servicesLayer(config))
    yield* ensureConfiguredAccounts(config).pipe(Effect.provideContext(services))
    const peers = Context.get(services, Peers.Peers)
    const pipeline = Context.get(services, Pipeline.Pipeline)
    const ilpServer = Context.get(
      yield* Layer.build(NodeHttpServer.layer(() => createServer(), { port: config.connectorPort, host: config.host })),
      HttpServer.HttpServer
    )
    yield* ilpServer.serve(makeApp(peers, pipeline))
    const node: RunningNode = { ilpAddress: config.ilpAddress, connectorPort: portOf(ilpServer), services }
    yield* Effect.logInfo(`ILP-over-HTTP listening on http://${config.host}:${node.connectorPort} as ${config.ilpAddress}`)
    return node
  })
