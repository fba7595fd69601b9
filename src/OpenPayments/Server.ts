/**
 * What the public Open Payments port serves, dispatched by method, path and Accept:
 *
 * | request | handler |
 * |---|---|
 * | `POST /auth` | grant request (`AuthServer.ts`) |
 * | `DELETE /auth/token/{id}`, `POST /auth/token/{id}` | revoke, rotate an access token |
 * | `DELETE /auth/continue/{id}` | cancel a grant |
 * | `POST /incoming-payments`, `GET /incoming-payments?wallet-address=…` | create, list |
 * | `GET /incoming-payments/{id}`, `POST /incoming-payments/{id}/complete` | read, complete |
 * | `GET <wallet path>/jwks.json` | the wallet address's keys |
 * | `GET <wallet path>`, Accept `application/json` (and not SPSP's) | the wallet address document |
 * | anything else | SPSP (`Stream/Spsp.ts`: `application/spsp4+json`, its 404/405/406 answers) |
 *
 * So `/auth` and `/incoming-payments` are reserved paths: a wallet address there would be shadowed
 * for these methods. The authorization server is `<publicUrl>/auth`, the resource server
 * `<publicUrl>` (the node's `openPayments.publicUrl`, default `http://<host>:<port>`).
 *
 * Request bodies are bounded (`requestBodyBytesMax`: 413, refused from Content-Length before reading).
 */
import * as ByteSize from "effect/ByteSize"
import * as Effect from "effect/Effect"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { IncomingPaymentsShape } from "../Payments/IncomingPayments.ts"
import type { WalletAddressesShape } from "../Payments/WalletAddresses.ts"
import type { StreamCredentialsShape } from "../Stream/Credentials.ts"
import type { ReceiptTotalsShape } from "../Stream/ReceiptTotals.ts"
import { spspContentType } from "../Stream/Spsp.ts"
import { makeAuthServer } from "./AuthServer.ts"
import type { ClientKeyShape } from "./ClientKey.ts"
import type { GrantStoreShape } from "./GrantStore.ts"
import { opError, type OpRequest, type OpResponse, trimSlash } from "./Http.ts"
import { requestBodyBytesMax } from "./Limits.ts"
import { makeResourceServer } from "./ResourceServer.ts"
import { makeValidate } from "./Validation.ts"

export interface OpenPaymentsServices {
  readonly walletAddresses: WalletAddressesShape
  readonly incomingPayments: IncomingPaymentsShape
  readonly credentials: StreamCredentialsShape
  readonly totals: ReceiptTotalsShape
  readonly store: GrantStoreShape
  readonly clientKey: ClientKeyShape
}

const respond = (answer: OpResponse) =>
  answer.body === undefined ?
    HttpServerResponse.empty({ status: answer.status }) :
    HttpServerResponse.jsonUnsafe(answer.body, {
      status: answer.status,
      headers: answer.status === 200 || answer.status === 201 ? { "cache-control": "no-store" } : {}
    })

/** The Open Payments app over `spsp` (the app answering everything else), for `publicUrl`. */
export const makeApp = <E, R>(
  services: OpenPaymentsServices,
  options: { readonly publicUrl: string; readonly accessTokenLifetimeMs: number },
  spsp: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest>
) => {
  const publicUrl = trimSlash(options.publicUrl)
  const validate = makeValidate()
  const auth = makeAuthServer({
    validate,
    url: `${publicUrl}/auth`,
    accessTokenLifetimeMs: options.accessTokenLifetimeMs,
    store: services.store,
    walletAddresses: services.walletAddresses
  })
  const resources = makeResourceServer({ url: publicUrl, auth, validate, ...services })

  /** The Open Payments answer for `request`, or undefined to hand it to SPSP. */
  const route = (request: OpRequest, accept: string): Effect.Effect<OpResponse | undefined> => {
    const { method, path } = request
    if (path === "/auth" || path === "/auth/") return method === "POST" ? auth.grant(request) : Effect.succeed(undefined)
    const token = /^\/auth\/token\/([A-Za-z0-9-]{1,64})$/.exec(path)
    if (token !== null && method === "DELETE") return auth.revoke(request, token[1]!)
    if (token !== null && method === "POST") return auth.rotate(request, token[1]!)
    const continuation = /^\/auth\/continue\/([A-Za-z0-9-]{1,64})$/.exec(path)
    if (continuation !== null && method === "DELETE") return auth.cancel(request, continuation[1]!)
    if (continuation !== null && method === "POST") {
      return Effect.succeed(opError(400, "invalid_continuation", "the grant is final: there is nothing to continue"))
    }
    if (path === "/incoming-payments") {
      if (method === "POST") return resources.create(request)
      if (method === "GET") return resources.list(request)
      return Effect.succeed(opError(405, "method_not_allowed", "method not allowed"))
    }
    const payment = /^\/incoming-payments\/([A-Za-z0-9-]{1,64})(\/complete)?$/.exec(path)
    if (payment !== null) {
      if (payment[2] === undefined && method === "GET") return resources.get(request, payment[1]!)
      if (payment[2] !== undefined && method === "POST") return resources.complete(request, payment[1]!)
      return Effect.succeed(opError(405, "method_not_allowed", "method not allowed"))
    }
    if (method !== "GET") return Effect.succeed(undefined)
    if (path.endsWith("/jwks.json")) {
      return Effect.map(
        services.walletAddresses.findByPath(trimSlash(path.slice(0, -"/jwks.json".length))),
        (wallet) => wallet !== undefined && wallet.active ? resources.jwks() : opError(404, "not_found", "unknown wallet address")
      )
    }
    if (accept.includes(spspContentType) || !accept.includes("application/json")) return Effect.succeed(undefined)
    return Effect.map(
      services.walletAddresses.findByPath(trimSlash(path)),
      (wallet) => wallet !== undefined && wallet.active ? resources.walletDocument(wallet) : opError(404, "not_found", "unknown wallet address")
    )
  }

  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const [path = "/", queryText = ""] = request.url.split("?", 2) as [string, string?]
    const accept = (request.headers["accept"] ?? "").toLowerCase()
    const hasBody = request.method === "POST" || request.method === "PUT" || request.method === "PATCH"
    if (hasBody && Number(request.headers["content-length"] ?? "0") > requestBodyBytesMax) {
      return respond(opError(413, "invalid_request", `body: larger than ${requestBodyBytesMax} bytes`))
    }
    const body = hasBody ?
      yield* Effect.provideService(request.text, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(BigInt(requestBodyBytesMax))).pipe(
        Effect.catch(() => Effect.succeed(undefined as string | undefined))
      ) :
      undefined
    if (hasBody && body === undefined) return respond(opError(413, "invalid_request", `body: larger than ${requestBodyBytesMax} bytes`))
    const opRequest: OpRequest = {
      method: request.method,
      path,
      query: new URLSearchParams(queryText),
      url: `${publicUrl}${request.url}`,
      headers: request.headers,
      body
    }
    const answer = yield* route(opRequest, accept)
    return answer === undefined ? yield* spsp : respond(answer)
  })
}
