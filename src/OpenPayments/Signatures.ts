/**
 * HTTP Message Signatures (RFC 9421) as Open Payments uses them: a client signs each request to an
 * authorization or resource server with its Ed25519 key; the server verifies it against the
 * client's published key (its wallet address's `jwks.json`, or the key the grant is bound to).
 *
 * Verification is `@interledger/http-signature-utils` (`validateSignatureHeaders`,
 * `validateSignature`: the covered components, the content digest, the Ed25519 signature) plus
 * what that library leaves out and a server must still check:
 * - the signature's `keyid` is the expected key's `kid`;
 * - `created` is present and recent (`signatureAgeMsMax`, `signatureSkewMsMax`), bounding replay;
 * - a request with a body covers `content-digest` (else the body could be swapped);
 * - the `@target-uri` checked is the URL the server itself is reached at (its public URL + the
 *   request's path and query), not one the client names.
 *
 * Signing (the sending side) is the same library's `createHeaders`.
 */
import { createHeaders, type JWK, validateSignature, validateSignatureHeaders } from "@interledger/http-signature-utils"
import * as Effect from "effect/Effect"
import type { KeyObject } from "node:crypto"
import { isHttpUrl } from "../Http/OutboundFetch.ts"
import { fetchJson, FetchFailed } from "./Fetch.ts"
import { jwksKeysMax, signatureAgeMsMax, signatureSkewMsMax } from "./Limits.ts"

export interface SignedRequest {
  readonly method: string
  /** The full target URI as this server is reached at. */
  readonly url: string
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string | undefined
}

/** A usable Ed25519 public JWK from untrusted JSON, or undefined. Pure. */
export const parseJwk = (value: unknown): JWK | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const { alg, crv, kid, kty, x } = value as Record<string, unknown>
  if (kty !== "OKP" || crv !== "Ed25519" || typeof kid !== "string" || kid === "" || typeof x !== "string") return undefined
  if (!/^[A-Za-z0-9_-]{43}$/.test(x)) return undefined
  if (alg !== undefined && alg !== "EdDSA") return undefined
  return { kid, x, kty: "OKP", crv: "Ed25519", alg: "EdDSA" }
}

/** The `keyid` of a Signature-Input header. Pure. */
export const keyIdOf = (signatureInput: string | undefined): string | undefined =>
  signatureInput === undefined ? undefined : /;keyid="([^"]*)"/.exec(signatureInput)?.[1]

const createdOf = (signatureInput: string): number | undefined => {
  const match = /;created=(\d{1,12})(?:;|$)/.exec(signatureInput)
  return match === null ? undefined : Number(match[1]) * 1000
}

const componentsOf = (signatureInput: string): ReadonlyArray<string> =>
  (/^sig1=\(([^)]*)\)/.exec(signatureInput)?.[1] ?? "").split(" ").map((c) => c.replace(/"/g, "")).filter((c) => c !== "")

/** Why the request's signature does not verify with `key`, or undefined when it does. */
export const signatureProblem = async (key: JWK, request: SignedRequest, now: number): Promise<string | undefined> => {
  const signature = request.headers["signature"]
  const signatureInput = request.headers["signature-input"]
  if (signature === undefined || signatureInput === undefined) return "the request is not signed"
  if (!signatureInput.startsWith("sig1=")) return "unsupported Signature-Input"
  if (keyIdOf(signatureInput) !== key.kid) return "the request is not signed with the client's key"
  const created = createdOf(signatureInput)
  if (created === undefined) return "the signature has no created time"
  if (created < now - signatureAgeMsMax || created > now + signatureSkewMsMax) return "the signature is too old or from the future"
  const components = componentsOf(signatureInput)
  const hasBody = request.body !== undefined && request.body !== ""
  if (hasBody && !components.includes("content-digest")) return "the signature does not cover the body"
  const like = {
    method: request.method,
    url: request.url,
    headers: Object.fromEntries(Object.entries(request.headers).filter(([, v]) => v !== undefined)) as Record<string, string>,
    ...(hasBody ? { body: request.body } : {})
  }
  try {
    if (!validateSignatureHeaders(like)) return "the signature does not cover the required components"
    return (await validateSignature(key, like)) ? undefined : "the signature does not verify"
  } catch {
    return "the signature does not verify"
  }
}

/** The Ed25519 keys of a client's wallet address (`<url>/jwks.json`), bounded. */
export const fetchClientKeys = (walletAddressUrl: string): Effect.Effect<ReadonlyArray<JWK>, FetchFailed> =>
  isHttpUrl(walletAddressUrl) ?
    Effect.map(fetchJson({ url: `${walletAddressUrl.replace(/\/+$/, "")}/jwks.json` }), ({ json }) => {
      const keys = (json as { keys?: unknown } | undefined)?.keys
      if (!Array.isArray(keys)) return []
      return keys.slice(0, jwksKeysMax).map(parseJwk).filter((key) => key !== undefined)
    }) :
    Effect.fail(new FetchFailed({ reason: "the client is not an http(s) URL", status: undefined, temporary: false }))

/** Signature (and content) headers for a request this node sends as a client. */
export const signRequest = (
  request: { readonly method: string; readonly url: string; readonly headers: Record<string, string>; readonly body?: string | undefined },
  key: { readonly privateKey: KeyObject; readonly keyId: string }
): Promise<Record<string, string>> =>
  createHeaders({
    request: { method: request.method, url: request.url, headers: request.headers, ...(request.body === undefined ? {} : { body: request.body }) },
    privateKey: key.privateKey,
    keyId: key.keyId
  }).then((headers) => {
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(headers)) if (typeof value === "string") out[name] = value
    return out
  })
