/**
 * The GNAP authorization server (RFC 9635 as Open Payments profiles it), for what this node serves:
 * non-interactive grants of `incoming-payment` access to its wallet addresses.
 *
 * - `POST <authServer>`: a grant request. The client names itself (`client`: its wallet address URL,
 *   `{ walletAddress }`, or `{ jwk }` for directed identity) and signs the request; the key whose
 *   `kid` the signature names is read from `<client>/jwks.json` (bounded: `Fetch.ts`) and the
 *   signature verified with it (`Signatures.ts`). The grant is bound to that key. Answer: an access
 *   token (random 256 bits, base64url; stored only as its SHA-256), valid `accessTokenLifetimeMs`,
 *   with its management URL, and a continuation token (the grant is final: there is nothing to
 *   continue, but Open Payments requires the field).
 *   Refused: other access types (`outgoing-payment` and `quote` need the account holder's
 *   interaction, which this node does not offer), unknown actions, an `identifier` that is not one
 *   of this node's active wallet addresses, `subject` requests.
 * - `DELETE <authServer>/token/{id}`: revokes the token (signed by the grant's key, with the token);
 *   `POST` on it rotates a live token: a new one for the same grant, the old one revoked. An
 *   expired token cannot be rotated (request a new grant), so a grant cannot outlive its tokens.
 * - `DELETE <authServer>/continue/{id}`: cancels the grant (with the continuation token, signed by
 *   the grant's key); its tokens stop working. `POST` on it: 400, the grant is already final.
 * - `authorize`: what the resource server asks for each request: the GNAP token is live, the request
 *   is signed by the key its grant is bound to, and the grant has the action for that wallet address.
 *   `read`/`list` without `-all` (and `complete`) reach only payments the same client created.
 */
import type { JWK } from "@interledger/http-signature-utils"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { pathOf, type WalletAddress, type WalletAddressesShape } from "../Payments/WalletAddresses.ts"
import { type AccessItem, type Grant, type GrantStoreShape } from "./GrantStore.ts"
import { isRecord, json, jsonBody, opError, type OpRequest, type OpResponse, trimSlash } from "./Http.ts"
import { accessItemsMax, jwksFetchesInFlightMax } from "./Limits.ts"
import type { FetchFailed } from "./Fetch.ts"
import { fetchClientKeys, keyIdOf, parseJwk, signatureProblem } from "./Signatures.ts"
import type { Validate } from "./Validation.ts"

export const incomingPaymentActions = ["create", "complete", "read", "read-all", "list", "list-all"] as const
export type Action = "create" | "complete" | "read" | "list"

/** What a request was authorized as: the grant, and whether it reaches other clients' payments. */
export interface Authorized {
  readonly grant: Grant
  readonly all: boolean
}

export interface AuthServerOptions {
  /** This authorization server's URL (grant requests are POSTed to it). */
  readonly url: string
  readonly accessTokenLifetimeMs: number
  readonly store: GrantStoreShape
  readonly walletAddresses: WalletAddressesShape
  /** Checks the request against the Open Payments specification (`Validation.ts`). */
  readonly validate: Validate
}

export const digest = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex")
const newToken = (): string => randomBytes(32).toString("base64url")

/** The local active wallet address with exactly this URL (trailing slashes aside), if any. */
export const localWallet = (walletAddresses: WalletAddressesShape, url: string) =>
  Effect.suspend(() => {
    const path = pathOf(url)
    if (path === undefined) return Effect.succeed(undefined)
    return Effect.map(
      walletAddresses.findByPath(path),
      (wallet): WalletAddress | undefined =>
        wallet !== undefined && wallet.active && trimSlash(wallet.url) === trimSlash(url) ? wallet : undefined
    )
  })

/** The access items of a grant request, or what is wrong with them. Pure. */
export const parseAccess = (value: unknown): ReadonlyArray<AccessItem> | string => {
  if (!isRecord(value) || !Array.isArray(value.access)) return "access_token.access: required"
  const items = value.access as Array<unknown>
  if (items.length === 0 || items.length > accessItemsMax) return `access_token.access: 1 to ${accessItemsMax} items`
  const parsed: Array<AccessItem> = []
  for (const item of items) {
    if (!isRecord(item)) return "access_token.access: items must be objects"
    if (item.type !== "incoming-payment") {
      return `access type ${JSON.stringify(item.type)}: only incoming-payment access is granted here (no interaction)`
    }
    const actions = item.actions
    if (!Array.isArray(actions) || actions.length === 0) return "actions: required"
    for (const action of actions) {
      if (!(incomingPaymentActions as ReadonlyArray<unknown>).includes(action)) return `action ${JSON.stringify(action)}: unknown`
    }
    if (item.identifier !== undefined && typeof item.identifier !== "string") return "identifier: must be a URL"
    if ("limits" in item) return "limits: not allowed on incoming-payment access"
    parsed.push({ type: "incoming-payment", actions: [...new Set(actions as Array<string>)], identifier: item.identifier })
  }
  return parsed
}

type ClientRef = { readonly kind: "url"; readonly url: string } | { readonly kind: "jwk"; readonly jwk: JWK }

const parseClient = (value: unknown): ClientRef | string => {
  if (typeof value === "string") return { kind: "url", url: value }
  if (isRecord(value) && typeof value.walletAddress === "string") return { kind: "url", url: value.walletAddress }
  if (isRecord(value) && value.jwk !== undefined) {
    const jwk = parseJwk(value.jwk)
    return jwk === undefined ? "client.jwk: not an Ed25519 public key" : { kind: "jwk", jwk }
  }
  return "client: a wallet address URL, { walletAddress } or { jwk }"
}

export const makeAuthServer = (options: AuthServerOptions) => {
  const { store, walletAddresses } = options
  const base = trimSlash(options.url)

  const storeDown = () => Effect.succeed(opError(503, "request_denied", "grant store unavailable"))

  /** The client's key named by the request's signature, and the client's identity. */
  type Found =
    | { readonly key: JWK; readonly identity: string }
    | { readonly problem: string; readonly status?: number }
  let fetchesInFlight = 0
  /** The client's published keys, at most `jwksFetchesInFlightMax` fetches at once. */
  const boundedKeys = (url: string): Effect.Effect<ReadonlyArray<JWK> | "busy", FetchFailed> =>
    Effect.suspend((): Effect.Effect<ReadonlyArray<JWK> | "busy", FetchFailed> => {
      if (fetchesInFlight >= jwksFetchesInFlightMax) return Effect.succeed("busy" as const)
      fetchesInFlight++
      return Effect.ensuring(fetchClientKeys(url), Effect.sync(() => fetchesInFlight--))
    })
  const clientKey = (client: ClientRef, request: OpRequest): Effect.Effect<Found> => {
    const kid = keyIdOf(request.headers["signature-input"])
    if (kid === undefined) return Effect.succeed({ problem: "the request is not signed" })
    if (client.kind === "jwk") {
      return Effect.succeed(
        client.jwk.kid === kid ?
          { key: client.jwk, identity: `jwk:${client.jwk.kid}:${client.jwk.x}` } :
          { problem: "the request is not signed with client.jwk" }
      )
    }
    return boundedKeys(client.url).pipe(
      Effect.map((keys): Found => {
        if (keys === "busy") return { problem: "too many grant requests at once, retry later", status: 503 }
        const key = keys.find((candidate) => candidate.kid === kid)
        return key === undefined ?
          { problem: "the signing key is not among the client's published keys" } :
          { key, identity: trimSlash(client.url) }
      }),
      Effect.catchTag("FetchFailed", (failure) => Effect.succeed({ problem: `could not read the client's keys (${failure.reason})` }))
    )
  }

  const grant = (request: OpRequest): Effect.Effect<OpResponse> =>
    Effect.gen(function*() {
      const body = jsonBody(request)
      if (!isRecord(body)) return opError(400, "invalid_request", "the body must be a JSON object")
      const invalid = yield* options.validate("grant", request, body)
      if (invalid !== undefined) return opError(400, "invalid_request", invalid)
      if (body.subject !== undefined) return opError(400, "invalid_request", "subject requests are not supported")
      const client = parseClient(body.client)
      if (typeof client === "string") return opError(400, "invalid_client", client)
      const access = parseAccess(body.access_token)
      if (typeof access === "string") return opError(400, "invalid_request", access)
      for (const item of access) {
        if (item.identifier !== undefined && (yield* localWallet(walletAddresses, item.identifier)) === undefined) {
          return opError(400, "invalid_request", `identifier: ${item.identifier} is not a wallet address of this server`)
        }
      }
      const found = yield* clientKey(client, request)
      if ("problem" in found) {
        return found.status === 503 ?
          opError(503, "request_denied", found.problem) :
          opError(401, "invalid_client", found.problem)
      }
      const now = yield* Clock.currentTimeMillis
      const problem = yield* Effect.promise(() => signatureProblem(found.key, request, now))
      if (problem !== undefined) return opError(401, "invalid_client", problem)
      yield* Effect.ignore(store.purge(now))
      const token = newToken()
      const continueToken = newToken()
      const stored: Grant = {
        id: randomUUID(),
        client: found.identity,
        key: { kid: found.key.kid, x: found.key.x },
        access,
        createdAt: now
      }
      const tokenId = randomUUID()
      yield* store.create({
        grant: stored,
        continueTokenHash: digest(continueToken),
        token: { id: tokenId, grantId: stored.id, hash: digest(token), expiresAt: now + options.accessTokenLifetimeMs }
      })
      return json(200, {
        access_token: tokenAnswer(stored, token, tokenId),
        continue: { access_token: { value: continueToken }, uri: `${base}/continue/${stored.id}` }
      })
    }).pipe(Effect.catchTag("GrantStoreUnavailable", storeDown))

  /** The live grant behind the request's GNAP token, with the request signed by its key. */
  const authenticate = (request: OpRequest): Effect.Effect<{ grant: Grant; tokenId: string } | OpResponse> =>
    Effect.gen(function*() {
      const header = request.headers["authorization"]
      const match = header === undefined ? null : /^GNAP\s+([A-Za-z0-9_~.+/=-]{1,512})$/i.exec(header)
      if (match === null) return opError(401, "invalid_token", "a GNAP access token is required")
      const now = yield* Clock.currentTimeMillis
      const found = yield* store.findToken(digest(match[1]!), now)
      if (found === undefined) return opError(401, "invalid_token", "the access token is unknown, expired or revoked")
      const key: JWK = { kid: found.grant.key.kid, x: found.grant.key.x, alg: "EdDSA", kty: "OKP", crv: "Ed25519" }
      const problem = yield* Effect.promise(() => signatureProblem(key, request, now))
      if (problem !== undefined) return opError(401, "invalid_signature", problem)
      return { grant: found.grant, tokenId: found.token.id }
    }).pipe(Effect.catchTag("GrantStoreUnavailable", storeDown))

  /**
   * Authorizes `action` on a wallet address's incoming payments. Answers the grant and whether it
   * reaches every client's payments (`read-all`, `list-all`), or the error response.
   */
  const authorize = (request: OpRequest, action: Action, walletAddressUrl: string): Effect.Effect<Authorized | OpResponse> =>
    Effect.map(authenticate(request), (result) => {
      if (!("grant" in result)) return result
      const items = result.grant.access.filter((item) =>
        item.type === "incoming-payment" &&
        (item.identifier === undefined || trimSlash(item.identifier) === trimSlash(walletAddressUrl))
      )
      const all = (action === "read" || action === "list") && items.some((item) => item.actions.includes(`${action}-all` as string))
      if (!all && !items.some((item) => item.actions.includes(action))) {
        return opError(403, "insufficient_grant", `the access token does not allow ${action} at ${walletAddressUrl}`)
      }
      return { grant: result.grant, all }
    })

  const tokenAnswer = (grant: Grant, value: string, tokenId: string) => ({
    value,
    manage: `${base}/token/${tokenId}`,
    expires_in: Math.floor(options.accessTokenLifetimeMs / 1000),
    access: grant.access.map((item) => item.identifier === undefined ? { type: item.type, actions: item.actions } : item)
  })

  /** `POST <authServer>/token/{id}`: a new token for the presented one's grant; the old one is revoked. */
  const rotate = (request: OpRequest, tokenId: string): Effect.Effect<OpResponse> =>
    Effect.flatMap(authenticate(request), (result) => {
      if (!("grant" in result)) return Effect.succeed(result)
      if (result.tokenId !== tokenId) return Effect.succeed(opError(403, "insufficient_grant", "not this token's management URL"))
      const value = newToken()
      const nextId = randomUUID()
      return Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rotated = yield* store.rotateToken(
          tokenId,
          { id: nextId, grantId: result.grant.id, hash: digest(value), expiresAt: now + options.accessTokenLifetimeMs },
          now
        )
        if (!rotated) return opError(400, "invalid_rotation", "the token is no longer live")
        return json(200, { access_token: tokenAnswer(result.grant, value, nextId) })
      }).pipe(Effect.catchTag("GrantStoreUnavailable", storeDown))
    })

  /** `DELETE <authServer>/continue/{id}`: cancels the grant, with its continuation token and key. */
  const cancel = (request: OpRequest, grantId: string): Effect.Effect<OpResponse> =>
    Effect.gen(function*() {
      const header = request.headers["authorization"]
      const match = header === undefined ? null : /^GNAP\s+([A-Za-z0-9_~.+/=-]{1,512})$/i.exec(header)
      if (match === null) return opError(401, "invalid_continuation", "the continuation access token is required")
      const found = yield* store.findGrant(grantId)
      if (found === undefined || found.continueTokenHash !== digest(match[1]!)) {
        return opError(401, "invalid_continuation", "unknown grant or continuation token")
      }
      const key: JWK = { kid: found.grant.key.kid, x: found.grant.key.x, alg: "EdDSA", kty: "OKP", crv: "Ed25519" }
      const now = yield* Clock.currentTimeMillis
      const problem = yield* Effect.promise(() => signatureProblem(key, request, now))
      if (problem !== undefined) return opError(401, "invalid_signature", problem)
      yield* store.deleteGrant(grantId)
      return { status: 204 } satisfies OpResponse
    }).pipe(Effect.catchTag("GrantStoreUnavailable", storeDown))

  /** `DELETE <authServer>/token/{id}`: revokes the token presented (and only that one). */
  const revoke = (request: OpRequest, tokenId: string): Effect.Effect<OpResponse> =>
    Effect.flatMap(authenticate(request), (result) => {
      if (!("grant" in result)) return Effect.succeed(result)
      if (result.tokenId !== tokenId) return Effect.succeed(opError(403, "insufficient_grant", "not this token's management URL"))
      return store.revokeToken(tokenId).pipe(
        Effect.as({ status: 204 } satisfies OpResponse),
        Effect.catchTag("GrantStoreUnavailable", storeDown)
      )
    })

  return { url: base, grant, authorize, revoke, rotate, cancel }
}

export type AuthServer = ReturnType<typeof makeAuthServer>
