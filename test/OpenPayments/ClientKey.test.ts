/** The `openPayments` configuration (file and environment) and where the node's client key comes from. */
import { Effect, Redacted } from "effect"
import { generateKeyPairSync } from "node:crypto"
import { statSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { decodeConfig } from "../../src/Config.ts"
import { loadClientKey } from "../../src/OpenPayments/ClientKey.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const decode = (file: Record<string, unknown>, env: Record<string, string> = {}) => Effect.runPromise(decodeConfig(file, env))
const decodeError = (file: Record<string, unknown>, env: Record<string, string> = {}) =>
  Effect.runPromise(Effect.flip(decodeConfig(file, env)))

describe("openPayments configuration", () => {
  it("has defaults, reads the file, and the environment overrides field by field", async () => {
    const defaults = await decode({})
    expect(defaults.openPayments).toEqual({ publicUrl: undefined, privateKey: undefined, keyId: "node-key-1", accessTokenLifetimeMs: 600_000 })
    const merged = await decode(
      { openPayments: { publicUrl: "https://op.example", keyId: "file-key", accessTokenLifetimeMs: 60_000 } },
      { OPEN_PAYMENTS_KEY_ID: "env-key" }
    )
    expect(merged.openPayments.publicUrl).toBe("https://op.example")
    expect(merged.openPayments.keyId).toBe("env-key")
    expect(merged.openPayments.accessTokenLifetimeMs).toBe(60_000)
    const fromEnv = await decode({}, { OPEN_PAYMENTS_URL: "http://127.0.0.1:3003", OPEN_PAYMENTS_PRIVATE_KEY: "c2VjcmV0" })
    expect(fromEnv.openPayments.publicUrl).toBe("http://127.0.0.1:3003")
    expect(String(fromEnv.openPayments.privateKey)).not.toContain("c2VjcmV0")
  })

  it("refuses a public URL with a path, a bad key id, a non-positive lifetime", async () => {
    expect((await decodeError({ openPayments: { publicUrl: "https://op.example/base" } })).message).toContain("publicUrl")
    expect((await decodeError({ openPayments: { keyId: "has space" } })).message).toContain("keyId")
    expect((await decodeError({ openPayments: { accessTokenLifetimeMs: 0 } })).message).toContain("accessTokenLifetimeMs")
  })
})

describe("ClientKey", () => {
  it("uses a configured key, refuses a key that is not Ed25519 or not a key", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519")
    const pem = Buffer.from(privateKey.export({ format: "pem", type: "pkcs8" })).toString("base64")
    const config = await decode({ dataDir: ":memory:", openPayments: { privateKey: pem, keyId: "k1" } })
    const key = await Effect.runPromise(loadClientKey(config))
    expect(key.keyId).toBe("k1")
    expect(key.jwk).toMatchObject({ kid: "k1", kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" })
    expect(key.jwk.x).toBe(publicKey.export({ format: "jwk" }).x)
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "pem", type: "pkcs8" })
    const bad = await decode({ openPayments: { privateKey: Buffer.from(rsa).toString("base64") } })
    expect((await Effect.runPromise(Effect.flip(loadClientKey(bad)))).message).toContain("Ed25519")
    const garbage = await decode({ openPayments: { privateKey: "bm90IGEga2V5" } })
    const failure = await Effect.runPromise(Effect.flip(loadClientKey(garbage)))
    expect(failure.message).toContain("openPayments.privateKey")
    expect(failure.message).not.toContain("bm90IGEga2V5")
  })

  it("without one, generates a key once into the data dir (mode 0600) and reuses it", async () => {
    const dir = makeTempDir("client-key-")
    try {
      const config = await decode({ dataDir: dir })
      const first = await Effect.runPromise(loadClientKey(config))
      expect(statSync(join(dir, "open-payments-key.pem")).mode & 0o777).toBe(0o600)
      const second = await Effect.runPromise(loadClientKey(config))
      expect(second.jwk.x).toBe(first.jwk.x)
      expect(Redacted.isRedacted(config.openPayments.privateKey)).toBe(false)
    } finally {
      removeTempDir(dir)
    }
  })
})
