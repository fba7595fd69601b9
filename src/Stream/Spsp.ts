/**
 * SPSP (RFC 9) for local wallet addresses: `GET <wallet address URL path>` with
 * `Accept: application/spsp4+json` answers fresh STREAM credentials for that wallet address.
 *
 * `Receipt-Nonce` (16 bytes) and `Receipt-Secret` (32 bytes), base64, turn on STREAM receipts
 * (RFC 39): both or neither, of the right lengths, else 400. Unknown or inactive wallet address: 404.
 * Another Accept: 406. Another method: 405.
 *
 * Bounded work: every step is linear in the request, and a path longer than `requestPathCharsMax`
 * is answered 404 before any lookup (the lookup refuses longer wallet address paths itself); the listener's own bounds (header size,
 * timeouts, connection cap) are in `Http/PublicListener.ts`.
 */
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { Asset } from "../Config.ts"
import type { ReceiptSetup, StreamCredentialsShape } from "./Credentials.ts"

export const spspContentType = "application/spsp4+json"

/** Longest request path looked up, trailing slashes included (a wallet address path is at most 1024). */
export const requestPathCharsMax = 2_048

const base64Pattern = /^[A-Za-z0-9+/_-]*={0,2}$/

const decodeBase64 = (text: string): Uint8Array | undefined =>
  base64Pattern.test(text) ? Buffer.from(text, "base64") : undefined

/** The receipt setup from the request headers, undefined when absent, or a problem to answer 400 with. */
export const receiptSetupOf = (headers: Record<string, string | undefined>): ReceiptSetup | undefined | string => {
  const nonceText = headers["receipt-nonce"]
  const secretText = headers["receipt-secret"]
  if (nonceText === undefined && secretText === undefined) return undefined
  if (nonceText === undefined || secretText === undefined) return "Receipt-Nonce and Receipt-Secret go together"
  const nonce = decodeBase64(nonceText)
  const secret = decodeBase64(secretText)
  if (nonce?.length !== 16) return "Receipt-Nonce must be 16 bytes, base64"
  if (secret?.length !== 32) return "Receipt-Secret must be 32 bytes, base64"
  return { nonce, secret }
}

const problem = (status: number, detail: string) => HttpServerResponse.jsonUnsafe({ error: detail }, { status })

/** Wallet addresses by URL path: provided by the payments module (Stream never imports it). */
export interface WalletAddressLookup {
  readonly findByPath: (
    path: string
  ) => Effect.Effect<{ readonly id: string; readonly asset: Asset; readonly active: boolean } | undefined>
}

export const makeApp = (walletAddresses: WalletAddressLookup, credentials: StreamCredentialsShape) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.method !== "GET") return problem(405, "method not allowed")
    const accept = request.headers["accept"] ?? ""
    if (!accept.toLowerCase().includes(spspContentType)) return problem(406, `Accept must include ${spspContentType}`)
    const query = request.url.indexOf("?")
    const path = query < 0 ? request.url : request.url.slice(0, query)
    if (path.length > requestPathCharsMax) return problem(404, "unknown wallet address")
    const wallet = yield* walletAddresses.findByPath(path)
    if (wallet === undefined || !wallet.active) return problem(404, "unknown wallet address")
    const receipt = receiptSetupOf(request.headers)
    if (typeof receipt === "string") return problem(400, receipt)
    const { ilpAddress, sharedSecret } = credentials.generate({ kind: "wallet", id: wallet.id }, wallet.asset, receipt)
    const body = JSON.stringify({
      destination_account: ilpAddress,
      shared_secret: Buffer.from(sharedSecret).toString("base64"),
      receipts_enabled: receipt !== undefined
    })
    return HttpServerResponse.text(body, {
      status: 200,
      contentType: spspContentType,
      headers: { "cache-control": "no-store" }
    })
  })
