/**
 * The sending side of Open Payments: turning a receiver's Open Payments URL into STREAM credentials,
 * as a client of the receiver's authorization and resource servers, signing every request with the
 * node's key (`ClientKey.ts`) and naming as `client` the sending wallet address of this node (whose
 * `jwks.json` publishes that key).
 *
 * - An incoming payment URL (`…/incoming-payments/{id}`): read its public view for the
 *   authorization server, request a non-interactive grant for `incoming-payment` `read-all` (the
 *   payment was created by someone else), read the payment with that token and take its `ilp`
 *   method.
 * - A wallet address URL: read its document (`Accept: application/json`) for the authorization and
 *   resource servers, request `create` + `read` on it, create an incoming payment there (no amount:
 *   the quote decides it) and take its `ilp` method. The quote then keeps the new payment's URL, so
 *   a later payment attempt reads that payment instead of creating another.
 *
 * Every request is bounded (`Fetch.ts`). A completed or expired payment (no `ilp` method) is gone.
 * A grant is requested per resolution and not kept: tokens never touch the store or the logs.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { isValidAddress } from "../Connector/Packet.ts"
import { ClientKey, type ClientKeyShape } from "./ClientKey.ts"
import { isHttpUrl } from "../Http/OutboundFetch.ts"
import { fetchJson, type FetchFailed } from "./Fetch.ts"
import { isRecord, trimSlash } from "./Http.ts"
import { signRequest } from "./Signatures.ts"

export class OpenPaymentsFailed extends Data.TaggedError("OpenPaymentsFailed")<{
  readonly kind: "gone" | "unavailable" | "invalid"
  readonly reason: string
}> {}

export interface ResolvedIncomingPayment {
  /** The incoming payment paid (created here for a wallet address URL). */
  readonly incomingPaymentUrl: string
  readonly ilpAddress: string
  readonly sharedSecret: Uint8Array
}

export interface OpenPaymentsClientShape {
  /** STREAM credentials for an incoming payment URL or a wallet address URL, as `clientWalletAddressUrl`. */
  readonly resolve: (
    url: string,
    clientWalletAddressUrl: string
  ) => Effect.Effect<ResolvedIncomingPayment, OpenPaymentsFailed>
}

export class OpenPaymentsClient extends Context.Service<OpenPaymentsClient, OpenPaymentsClientShape>()(
  "OpenPayments/Client"
) {}

const incomingPaymentPattern = /^https?:\/\/.+\/incoming-payments\/[^/?#]+$/

/** Whether `url` names an incoming payment (else it is taken as a wallet address). Pure. */
export const isIncomingPaymentUrl = (url: string): boolean => incomingPaymentPattern.test(url)

const fromFetch = (what: string) => (failure: FetchFailed) =>
  new OpenPaymentsFailed({
    kind: failure.status === 404 || failure.status === 410 ? "gone" : failure.temporary ? "unavailable" : "invalid",
    reason: `${what}: ${failure.reason}`
  })

const invalid = (reason: string) => new OpenPaymentsFailed({ kind: "invalid", reason })

const stringField = (json: unknown, field: string): string | undefined => {
  const value = isRecord(json) ? json[field] : undefined
  return typeof value === "string" ? value : undefined
}

/** The `ilp` method of an incoming payment answer, or why there is none. Pure. */
export const ilpMethodOf = (json: unknown): { readonly ilpAddress: string; readonly sharedSecret: Uint8Array } | string => {
  if (!isRecord(json)) return "the incoming payment answer is not an object"
  if (json.completed === true) return "gone:the incoming payment is completed"
  const expiresAt = typeof json.expiresAt === "string" ? Date.parse(json.expiresAt) : Number.NaN
  if (Number.isFinite(expiresAt) && expiresAt <= Date.now()) return "gone:the incoming payment has expired"
  const methods = Array.isArray(json.methods) ? json.methods : []
  const ilp = methods.find((method) => isRecord(method) && method.type === "ilp") as Record<string, unknown> | undefined
  if (ilp === undefined) return "gone:the incoming payment offers no ilp method"
  if (typeof ilp.ilpAddress !== "string" || !isValidAddress(ilp.ilpAddress)) return "the ilp method has no valid ilpAddress"
  const secret = typeof ilp.sharedSecret === "string" && /^[A-Za-z0-9_-]+={0,2}$/.test(ilp.sharedSecret) ?
    Buffer.from(ilp.sharedSecret, "base64url") :
    Buffer.alloc(0)
  if (secret.length !== 32) return "the ilp method has no 32-byte sharedSecret"
  return { ilpAddress: ilp.ilpAddress, sharedSecret: secret }
}

export const make = (key: ClientKeyShape): OpenPaymentsClientShape => {
  /** A signed JSON request (GNAP token when given). */
  const signed = (method: "GET" | "POST", url: string, options: { readonly token?: string; readonly body?: unknown }) =>
    Effect.flatMap(
      Effect.promise(async () => {
        const body = options.body === undefined ? undefined : JSON.stringify(options.body)
        const headers: Record<string, string> = { accept: "application/json" }
        if (options.token !== undefined) headers["authorization"] = `GNAP ${options.token}`
        // With a body, the signing adds Content-Type, Content-Digest and Content-Length (the length
        // fetch sends itself, from the same bytes).
        const signature = await signRequest({ method, url, headers, body }, key)
        delete signature["Content-Length"]
        return { headers: { ...headers, ...signature }, body }
      }),
      ({ body, headers }) => fetchJson({ url, method, headers, ...(body === undefined ? {} : { body }) })
    )

  /** A non-interactive grant's access token for `access`, as `client`. */
  const grant = (authServer: string, client: string, access: ReadonlyArray<Record<string, unknown>>) =>
    signed("POST", authServer, { body: { access_token: { access }, client } }).pipe(
      Effect.mapError(fromFetch("grant request")),
      Effect.flatMap(({ json }) => {
        const token = isRecord(json) && isRecord(json.access_token) ? json.access_token.value : undefined
        if (typeof token === "string" && token !== "") return Effect.succeed(token)
        return Effect.fail(
          isRecord(json) && json.interact !== undefined ?
            invalid("the authorization server requires interaction for this grant") :
            invalid("the grant answer has no access token")
        )
      })
    )

  const methodOf = (json: unknown, incomingPaymentUrl: string) => {
    const method = ilpMethodOf(json)
    if (typeof method !== "string") return Effect.succeed({ incomingPaymentUrl, ...method })
    return Effect.fail(
      method.startsWith("gone:") ?
        new OpenPaymentsFailed({ kind: "gone", reason: method.slice(5) }) :
        invalid(method)
    )
  }

  const fromIncomingPayment = (url: string, client: string) =>
    Effect.gen(function*() {
      const { json: publicView } = yield* fetchJson({ url }).pipe(Effect.mapError(fromFetch("incoming payment")))
      const authServer = stringField(publicView, "authServer")
      if (authServer === undefined || !isHttpUrl(authServer)) return yield* invalid("the incoming payment names no authServer")
      const token = yield* grant(authServer, client, [{ type: "incoming-payment", actions: ["read-all"] }])
      const { json } = yield* signed("GET", url, { token }).pipe(Effect.mapError(fromFetch("incoming payment")))
      return yield* methodOf(json, url)
    })

  const fromWalletAddress = (url: string, client: string) =>
    Effect.gen(function*() {
      const { json: document } = yield* fetchJson({ url }).pipe(Effect.mapError(fromFetch("wallet address")))
      const authServer = stringField(document, "authServer")
      const resourceServer = stringField(document, "resourceServer")
      const id = stringField(document, "id") ?? url
      if (authServer === undefined || !isHttpUrl(authServer) || resourceServer === undefined || !isHttpUrl(resourceServer)) {
        return yield* invalid("the wallet address document names no authServer/resourceServer")
      }
      const token = yield* grant(authServer, client, [{ type: "incoming-payment", actions: ["create", "read"], identifier: id }])
      const { json } = yield* signed("POST", `${trimSlash(resourceServer)}/incoming-payments`, {
        token,
        body: { walletAddress: id }
      }).pipe(Effect.mapError(fromFetch("create incoming payment")))
      const created = stringField(json, "id")
      if (created === undefined || !isIncomingPaymentUrl(created)) return yield* invalid("the created incoming payment has no URL")
      return yield* methodOf(json, created)
    })

  return {
    resolve: (url, client) =>
      !isHttpUrl(url) ?
        Effect.fail(invalid("openPaymentsUrl: must be an http(s) URL")) :
        isIncomingPaymentUrl(url) ?
        fromIncomingPayment(url, client) :
        fromWalletAddress(url, client)
  }
}

export const layer = Layer.effect(OpenPaymentsClient, Effect.map(ClientKey, make))
