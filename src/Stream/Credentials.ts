/**
 * STREAM credentials for local receivers (SPEC §7): an ILP address under our own that carries an
 * encrypted payment tag (and, for SPSP, the receipt nonce and secret), plus the shared secret.
 * Backed by `@interledger/stream-receiver`'s `StreamServer` with the node's 32-byte server secret
 * (as `CachedStreamServer`, which derives each connection's keys once instead of on every packet).
 *
 * Payment tags name what the money is for: `ip:<incoming payment id>` or `wa:<wallet address id>`.
 *
 * The server secret comes from config (`streamSecret`); without one, the embedded node keeps a
 * generated secret in `<dataDir>/stream-secret` (mode 0600) so credentials survive a restart.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { NodeConfigService } from "../Config.ts"
import { CachedStreamServer } from "./StreamServerCached.ts"

export interface ReceiptSetup {
  readonly nonce: Uint8Array
  readonly secret: Uint8Array
}

export interface Credentials {
  readonly ilpAddress: string
  readonly sharedSecret: Uint8Array
}

export type PaymentTag =
  | { readonly kind: "incoming"; readonly id: string }
  | { readonly kind: "wallet"; readonly id: string }

export interface StreamCredentialsShape {
  readonly server: CachedStreamServer
  readonly generate: (
    tag: PaymentTag,
    asset: { readonly code: string; readonly scale: number },
    receipt?: ReceiptSetup | undefined
  ) => Credentials
  /** The payment tag of a local destination address; undefined when it is not one of ours. */
  readonly decodeTag: (destination: string) => PaymentTag | undefined
}

export class StreamCredentials extends Context.Service<StreamCredentials, StreamCredentialsShape>()(
  "Stream/StreamCredentials"
) {}

const encodeTag = (tag: PaymentTag): string => `${tag.kind === "incoming" ? "ip" : "wa"}:${tag.id}`

export const parseTag = (text: string | void): PaymentTag | undefined => {
  if (typeof text !== "string") return undefined
  if (text.startsWith("ip:")) return { kind: "incoming", id: text.slice(3) }
  if (text.startsWith("wa:")) return { kind: "wallet", id: text.slice(3) }
  return undefined
}

export const make = (serverSecret: Uint8Array, ourAddress: string): StreamCredentialsShape => {
  const server = new CachedStreamServer({ serverSecret: Buffer.from(serverSecret), serverAddress: ourAddress })
  return {
    server,
    generate: (tag, asset, receipt) => {
      const credentials = server.generateCredentials({
        paymentTag: encodeTag(tag),
        asset: { code: asset.code, scale: asset.scale },
        ...(receipt === undefined ?
          {} :
          { receiptSetup: { nonce: Buffer.from(receipt.nonce), secret: Buffer.from(receipt.secret) } })
      })
      return { ilpAddress: credentials.ilpAddress, sharedSecret: credentials.sharedSecret }
    },
    decodeTag: (destination) => parseTag(server.decodePaymentTag(destination))
  }
}

/** The configured secret, or the one kept in the data directory (created on first start). */
const resolveSecret = (configured: Redacted.Redacted<Uint8Array> | undefined, dataDir: string): Uint8Array => {
  if (configured !== undefined) return Redacted.value(configured)
  if (dataDir === ":memory:") return randomBytes(32)
  const file = join(dataDir, "stream-secret")
  if (existsSync(file)) {
    const secret = Buffer.from(readFileSync(file, "utf8").trim(), "hex")
    if (secret.length !== 32) throw new Error(`${file} must hold 32 bytes as hex`)
    return secret
  }
  mkdirSync(dataDir, { recursive: true })
  const secret = randomBytes(32)
  writeFileSync(file, secret.toString("hex"), { mode: 0o600 })
  return secret
}

export const layer: Layer.Layer<StreamCredentials, never, NodeConfigService> = Layer.effect(
  StreamCredentials,
  Effect.map(NodeConfigService, (config) =>
    make(resolveSecret(config.streamSecret, config.dataDir), config.ilpAddress))
)
