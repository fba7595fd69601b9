/**
 * The operator HTTP API server (SPEC §10): its own port, guarded by the admin token, described by
 * the OpenAPI document it serves at `GET /openapi.json`. The endpoints live in one file per
 * resource beside this one; `Api.ts` lists them.
 *
 * HTTP answers:
 * - `GET /healthz`: no auth. `GET /openapi.json`, `GET /docs` (the API reference page, rendered on
 *   the node from the OpenAPI document, no network access), `GET /metrics` (Prometheus text): the
 *   admin token, unless configured open (`openapiOpen` for the first two, `metricsOpen`).
 * - every other endpoint: `Authorization: Bearer <adminToken>`; missing or wrong token → 401. The
 *   token is compared as SHA-256 digests with `timingSafeEqual`. Without a configured token every
 *   guarded endpoint answers 401 (and `serve` logs a warning once).
 * - bad input → 400 `{ _tag, message }`, the message naming the field; unknown asset or peer → 404;
 *   a withdrawal over the available balance, or a `transferId` already used for a different or a
 *   failed transfer → 409; ledger unavailable → 503 (retry with the same `transferId`). Bodies over
 *   `adminBodyBytesMax` → 413. Client input never causes a 500.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as ByteSize from "effect/ByteSize"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SchemaIssue from "effect/SchemaIssue"
import type * as Scope from "effect/Scope"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import type * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import type * as HttpApiError from "effect/http-api/HttpApiError"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import { createHash, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import type { Ledger } from "../../Accounting/Ledger.ts"
import type { Health } from "../../Health.ts"
import { adminTokenDigest, type NodeConfig } from "../../Config.ts"
import { Metrics } from "../../Connector/Metrics.ts"
import * as Console from "../Console/Console.ts"
import type { Peers } from "../../Connector/Peers.ts"
import type { IncomingPayments } from "../../Payments/IncomingPayments.ts"
import type { OutgoingPayments } from "../../Payments/OutgoingPayments.ts"
import type { Quotes } from "../../Payments/Quotes.ts"
import type { PaymentsStore } from "../../Payments/Store.ts"
import type { WalletAddresses } from "../../Payments/WalletAddresses.ts"
import type { StreamCredentials } from "../../Stream/Credentials.ts"
import type { NodeSettings } from "../../Settings/NodeSettings.ts"
import type { ReceiptTotals } from "../../Stream/ReceiptTotals.ts"
import { AdminApi, openapiPath } from "./Api.ts"
import { assetsHandlers } from "./Assets.ts"
import { balancesHandlers } from "./Balances.ts"
import { eventsHandlers } from "./Events.ts"
import { AdminAuth, adminBodyBytesMax, BadRequest, RequestValidation, Unauthorized } from "./Common.ts"
import { incomingPaymentsHandlers } from "./IncomingPayments.ts"
import { liquidityHandlers } from "./Liquidity.ts"
import { outgoingPaymentsHandlers, quotesHandlers } from "./Payments.ts"
import { peersHandlers } from "./Peers.ts"
import { ratesHandlers } from "./Rates.ts"
import { referencePath, referenceResponse } from "./Reference.ts"
import { systemHandlers } from "./System.ts"
import { walletAddressesHandlers } from "./WalletAddresses.ts"
import { guardDocuments, metricsRoute } from "./Metrics.ts"
import { depositsHandlers, withdrawalsHandlers } from "./Withdrawals.ts"

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/** Whether `presented` is the admin token; constant time in the token's content. Pure. */
export const tokenMatches = (expectedDigest: Buffer | undefined, presented: string): boolean =>
  expectedDigest !== undefined && presented !== "" && timingSafeEqual(expectedDigest, sha256(presented))

const unauthorized = new Unauthorized({ message: "missing or invalid admin token" })

export const authLayer = (adminToken: Redacted.Redacted<string> | undefined): Layer.Layer<AdminAuth> => {
  const expected = adminTokenDigest({ adminToken })
  return Layer.succeed(AdminAuth, {
    bearer: (effect, { credential }) =>
      tokenMatches(expected, Redacted.value(credential)) ? effect : Effect.fail(unauthorized)
  })
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** `field.path: problem; ...` for a decoding failure (`body: ...` for the body as a whole). Pure. */
export const describeSchemaError = (error: HttpApiError.HttpApiSchemaError): string => {
  const slot = error.kind === "Payload" ? [] : [error.kind.toLowerCase()]
  const issues = formatIssues(error.cause.issue).issues.map((issue) => {
    const path = [...slot, ...(issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment))]
    return `${path.length === 0 ? "body" : path.join(".")}: ${issue.message}`
  })
  return issues.length === 0 ? `${error.kind.toLowerCase()}: invalid` : issues.join("; ")
}

export const requestValidationLayer: Layer.Layer<RequestValidation> = HttpApiMiddleware.layerSchemaErrorTransform(
  RequestValidation,
  (error) => Effect.fail(new BadRequest({ message: describeSchemaError(error) }))
)

// ---------------------------------------------------------------------------------------------
// Routes and server
// ---------------------------------------------------------------------------------------------

/** Every route of the admin API, OpenAPI document included. Add a resource's handler layer here. */
export const routesLayer = (config: NodeConfig) =>
  HttpApiBuilder.layer(AdminApi, { openapiPath }).pipe(
    Layer.provide([
      systemHandlers(AdminApi),
      peersHandlers(AdminApi),
      assetsHandlers(AdminApi),
      ratesHandlers(AdminApi),
      balancesHandlers(AdminApi, config),
      liquidityHandlers(AdminApi, config),
      walletAddressesHandlers(AdminApi),
      incomingPaymentsHandlers(AdminApi),
      quotesHandlers(AdminApi),
      outgoingPaymentsHandlers(AdminApi),
      depositsHandlers(AdminApi),
      withdrawalsHandlers(AdminApi),
      eventsHandlers(AdminApi)
    ]),
    Layer.provide([authLayer(config.adminToken), requestValidationLayer])
  )

const tooLarge = HttpServerResponse.jsonUnsafe(
  { _tag: "PayloadTooLarge", message: `body: larger than ${adminBodyBytesMax} bytes` },
  { status: 413 }
)

/**
 * Bounds request bodies: refused from Content-Length before reading; a chunked body that passes the
 * limit fails the read with `BodyTooLarge`, which the server answers 413 (its request log shows 500).
 */
const limitBody = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (Number(request.headers["content-length"] ?? "0") > adminBodyBytesMax) return tooLarge
    return yield* Effect.provideService(app, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(BigInt(adminBodyBytesMax)))
  })

/** The node services the admin API's handlers use. */
export type AdminServices =
  | Health
  | Ledger
  | Peers
  | Metrics
  | WalletAddresses
  | IncomingPayments
  | StreamCredentials
  | ReceiptTotals
  | Quotes
  | OutgoingPayments
  | NodeSettings
  | PaymentsStore

export interface RunningAdminApi {
  readonly port: number
}

const portOf = (server: HttpServer.HttpServer["Service"]): number =>
  server.address._tag === "UnixPathAddress" ? 0 : server.address.port

/**
 * Serves the admin API on `config.adminHost:config.adminPort` (0 picks a free port) until the scope
 * closes; answers the port actually bound.
 */
export const serve = (
  config: NodeConfig
): Effect.Effect<RunningAdminApi, HttpServerError.ServeError, Scope.Scope | AdminServices> =>
  Effect.gen(function*() {
    if (config.adminToken === undefined) {
      yield* Effect.logWarning("admin API: no admin token configured (ADMIN_TOKEN); guarded endpoints answer 401")
    }
    // `/metrics`, `/openapi.json` and `/docs` need the admin token unless configured open (Metrics.ts).
    const expected = adminTokenDigest(config)
    const guard = guardDocuments(config, (token) => tokenMatches(expected, token))
    // The API reference, rendered once from the OpenAPI document; served like `/openapi.json`.
    const reference = referenceResponse()
    const referenceRoute = HttpRouter.add("GET", referencePath, () => Effect.succeed(reference))
    const routes = Layer.mergeAll(routesLayer(config), metricsRoute(config), referenceRoute, Console.routes(config))
    const serverLayer = HttpRouter.serve(routes, { disableListenLog: true, middleware: (app) => guard(limitBody(app)) }).pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: config.adminPort, host: config.adminHost }))
    )
    const server = Context.get(yield* Layer.build(serverLayer), HttpServer.HttpServer)
    const running: RunningAdminApi = { port: portOf(server) }
    yield* Effect.logInfo(`admin API listening on http://${config.adminHost}:${running.port}`)
    return running
  })
