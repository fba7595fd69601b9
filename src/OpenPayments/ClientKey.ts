/**
 * The node's own Open Payments client key (Ed25519): it signs the node's requests to other
 * authorization and resource servers (sending side), and its public half is what every local wallet
 * address publishes at `<wallet address URL>/jwks.json` — so any of this node's wallet addresses can
 * be the `client` of a grant the node requests.
 *
 * The key comes from config (`openPayments.privateKey`, env `OPEN_PAYMENTS_PRIVATE_KEY`: base64 of a
 * PKCS#8 PEM, the format Rafiki's `PRIVATE_KEY_FILE` tooling produces), else from
 * `<dataDir>/open-payments-key.pem` (written mode 0600 on first start), else — with an in-memory data
 * dir — it is generated for this process only. The private key is never logged.
 */
import { generateJwk, type JWK, loadBase64Key } from "@interledger/http-signature-utils"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { ConfigError, type NodeConfig, NodeConfigService } from "../Config.ts"

export interface ClientKeyShape {
  readonly privateKey: KeyObject
  readonly keyId: string
  /** The public key as published in JWKS documents. */
  readonly jwk: JWK
}

export class ClientKey extends Context.Service<ClientKey, ClientKeyShape>()("OpenPayments/ClientKey") {}

const keyFileName = "open-payments-key.pem"

const isEd25519 = (key: KeyObject): boolean => key.asymmetricKeyType === "ed25519"

const loadConfigured = (base64: string): KeyObject | string => {
  try {
    const key = loadBase64Key(base64)
    return key !== undefined && isEd25519(key) ? key : "openPayments.privateKey: not an Ed25519 private key"
  } catch {
    return "openPayments.privateKey: not a base64-encoded PEM private key"
  }
}

const loadOrCreateFile = (dataDir: string): KeyObject | string => {
  const path = join(dataDir, keyFileName)
  try {
    if (existsSync(path)) {
      const key = createPrivateKey(readFileSync(path))
      return isEd25519(key) ? key : `${path}: not an Ed25519 private key`
    }
    const { privateKey } = generateKeyPairSync("ed25519")
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(path, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" })
    return privateKey
  } catch (error) {
    return `${path}: ${(error as Error).message}`
  }
}

/** The key for `config`, or what is wrong. */
export const loadClientKey = (config: NodeConfig): Effect.Effect<ClientKeyShape, ConfigError> =>
  Effect.suspend(() => {
    const configured = config.openPayments.privateKey
    const key = configured !== undefined ?
      loadConfigured(Redacted.value(configured)) :
      config.dataDir === ":memory:" ?
      generateKeyPairSync("ed25519").privateKey :
      loadOrCreateFile(config.dataDir)
    if (typeof key === "string") return Effect.fail(new ConfigError({ message: `invalid configuration: ${key}` }))
    const keyId = config.openPayments.keyId
    return Effect.succeed({ privateKey: key, keyId, jwk: { ...generateJwk({ privateKey: key, keyId }), use: "sig" } })
  })

export const layer = Layer.effect(ClientKey, Effect.flatMap(NodeConfigService, loadClientKey))
