/**
 * `GET /metrics` (Prometheus text, `Connector/Metrics.ts`) on the admin port, with gauges read at
 * scrape time: each peer's liquidity and granted credit limit, each asset's liquidity (available
 * balances, smallest unit), `ilp_webhook_backlog` (events pending delivery) and
 * `ilp_dependency_up{dependency}` from the health probes.
 *
 * `/metrics`, `/openapi.json` and `/docs` (the reference page rendered from it) need the admin
 * token like every other endpoint, unless the configuration opens them (`metricsOpen`;
 * `openapiOpen` for the two documents: for a scraper or a browser that cannot carry the token). The gauges' ledger read is bounded by `gaugesReadTimeoutMs`; when it fails the
 * scrape still answers, without them.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { assetsOf, ids } from "../../Accounting/Accounts.ts"
import { grantedCreditLimit, Ledger } from "../../Accounting/Ledger.ts"
import * as Liquidity from "../../Accounting/Liquidity.ts"
import type { NodeConfig } from "../../Config.ts"
import { labelValue, Metrics } from "../../Connector/Metrics.ts"
import { Peers } from "../../Connector/Peers.ts"
import { Health } from "../../Health.ts"
import { PaymentsStore } from "../../Payments/Store.ts"
import { openapiPath } from "./Api.ts"
import { referencePath } from "./Reference.ts"

/** Bound of the ledger read behind the liquidity gauges. */
export const gaugesReadTimeoutMs = 1_000
export const metricsPath = "/metrics"

const gauge = (name: string, help: string, samples: ReadonlyArray<string>): ReadonlyArray<string> =>
  samples.length === 0 ? [] : [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples]

/** The liquidity and dependency gauges, as exposition lines. */
const gauges = (config: NodeConfig) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const peers = (yield* Peers).all().map((entry) => entry.config)
    const assets = assetsOf({ ...config, peers })
    const accountIds = [
      ...peers.flatMap((peer) => [ids.peerLiquidity(peer.id), ids.creditLine(peer.id)]),
      ...assets.map(ids.assetLiquidity)
    ]
    const read = yield* ledger.balances(accountIds).pipe(Effect.timeoutOption(gaugesReadTimeoutMs), Effect.option)
    const byId = new Map(Option.getOrElse(Option.flatten(read), () => []).map((balance) => [balance.id, balance]))
    const health = yield* (yield* Health).check
    // The webhook backlog (events pending delivery, every instance's), bounded like the ledger read;
    // absent from the scrape when the store does not answer.
    const backlog = yield* (yield* PaymentsStore).events.backlog().pipe(
      Effect.timeoutOption(gaugesReadTimeoutMs),
      Effect.catchCause(() => Effect.succeed(Option.none<number>()))
    )
    const peerSamples = (value: (peerId: string) => bigint | undefined) =>
      peers.flatMap((peer) => {
        const v = value(peer.id)
        return v === undefined ? [] : [`{peer="${labelValue(peer.id)}"} ${v}`]
      })
    const liquidity = (id: bigint) => {
      const balance = byId.get(id)
      return balance === undefined ? undefined : Liquidity.available(balance)
    }
    const granted = (id: bigint) => {
      const balance = byId.get(id)
      return balance === undefined ? undefined : grantedCreditLimit(balance)
    }
    return [
      ...gauge(
        "ilp_peer_liquidity",
        "Available balance of each peer's liquidity account (credit limit included), smallest unit of its asset.",
        peerSamples((peerId) => liquidity(ids.peerLiquidity(peerId))).map((s) => `ilp_peer_liquidity${s}`)
      ),
      ...gauge(
        "ilp_peer_credit_limit",
        "Credit limit granted to each peer, smallest unit of its asset.",
        peerSamples((peerId) => granted(ids.creditLine(peerId))).map((s) => `ilp_peer_credit_limit${s}`)
      ),
      ...gauge(
        "ilp_asset_liquidity",
        "Available balance of the node's own liquidity in each asset, smallest unit.",
        assets.flatMap((asset) => {
          const value = liquidity(ids.assetLiquidity(asset))
          return value === undefined ? [] : [
            `ilp_asset_liquidity{asset="${labelValue(asset.code)}",scale="${asset.scale}"} ${value}`
          ]
        })
      ),
      ...gauge(
        "ilp_webhook_backlog",
        "Events pending webhook delivery (not yet delivered, attempts not exhausted), across every instance.",
        Option.isSome(backlog) ? [`ilp_webhook_backlog ${backlog.value}`] : []
      ),
      ...gauge(
        "ilp_dependency_up",
        "1 when the dependency answered its health probe at this scrape, else 0.",
        Object.entries(health.checks).map(([name, state]) =>
          `ilp_dependency_up{dependency="${labelValue(name)}"} ${state === "ok" ? 1 : 0}`
        )
      )
    ]
  })

/** The `/metrics` route. */
export const metricsRoute = (config: NodeConfig) =>
  HttpRouter.add("GET", metricsPath, () =>
    Effect.gen(function*() {
      const metrics = yield* Metrics
      const lines = yield* gauges(config)
      return HttpServerResponse.text(metrics.render(lines), { contentType: "text/plain; version=0.0.4; charset=utf-8" })
    }))

const unauthorized = HttpServerResponse.jsonUnsafe(
  { _tag: "Unauthorized", message: "missing or invalid admin token" },
  { status: 401, headers: { "www-authenticate": "Bearer" } }
)

/** `Bearer <token>` from an Authorization header, the scheme case-insensitive. Pure. */
export const bearerToken = (header: string | undefined): string => {
  const match = /^bearer\s+(.+)$/i.exec(header ?? "")
  return match === null ? "" : match[1]!.trim()
}

/**
 * Middleware: `/metrics` and `/openapi.json` need the admin token unless configured open
 * (the API's own endpoints are guarded by their `AdminAuth` middleware).
 */
export const guardDocuments = (config: NodeConfig, isAdminToken: (token: string) => boolean) => {
  const guarded = new Set([
    ...(config.metricsOpen ? [] : [metricsPath]),
    ...(config.openapiOpen ? [] : [openapiPath, referencePath])
  ])
  return <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest>) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const path = request.url.split("?")[0]!
      if (guarded.has(path) && !isAdminToken(bearerToken(request.headers["authorization"]))) return unauthorized
      return yield* app
    })
}
