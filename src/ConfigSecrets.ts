/**
 * Secrets in the configuration: incoming and admin tokens are kept only as SHA-256 digests (and may
 * be configured as `sha256:<hex>`), and the secrets printed in `examples/` are known by their
 * digests so that the production profile can refuse them (`Config.ts` cross-checks).
 */
import { hash } from "node:crypto"
import * as Redacted from "effect/Redacted"
import type { NodeConfig } from "./Config.ts"

export const hashToken = (token: string): string => hash("sha256", token, "hex")

/** An incoming token given as its digest, `sha256:<64 hex>`, so the config file holds no secret. */
const tokenDigestPattern = /^sha256:([0-9a-fA-F]{64})$/

/** The hex SHA-256 digest of a configured incoming token: given as a digest, or hashed here. */
export const incomingTokenDigest = (token: string): string => {
  const digest = tokenDigestPattern.exec(token)?.[1]
  return digest === undefined ? hashToken(token) : digest.toLowerCase()
}

/**
 * The SHA-256 digest of the admin token, which may itself be configured as `sha256:<hex>` (the
 * operator keeps the token; the node keeps only its digest); undefined when none is configured.
 */
export const adminTokenDigest = (config: Pick<NodeConfig, "adminToken">): Buffer | undefined =>
  config.adminToken === undefined ? undefined : Buffer.from(incomingTokenDigest(Redacted.value(config.adminToken)), "hex")

/**
 * SHA-256 digests of the secrets in `examples/` (admin token, STREAM secret as its hex text, peer
 * tokens, the example digest): the production profile refuses to start with any of them
 * (test/Config.test.ts checks this list against the example files).
 */
export const exampleSecretDigests: ReadonlySet<string> = new Set([
  "74b24cfb440f816a5057b1a683f449df249fd65c9c4c211d040868940398e90d",
  "b2051f80db0f62d50b41087abf37f22b4aae3cccbebcee5ed8103e01f9251a53",
  "a9191b41f47535fbdb89a4f34b227f715c9d7c87bcdc9540af35504aa888c755",
  "9f93dc92b7d4db75caa536148557dfe075c0f72691b21bc49265685cebfedc1c",
  "0a3c1e5b9e7d8f46c21b3a5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b",
  "87ba2b663b71a0438f9733cea1e5441a54c3363922ba119aea02add1c5dc1bb2"
])

/** The first field holding an example secret, if any. */
export const exampleSecretField = (config: NodeConfig): string | undefined => {
  const isExample = (secret: string) => exampleSecretDigests.has(hashToken(secret))
  const adminDigest = adminTokenDigest(config)
  if (adminDigest !== undefined && exampleSecretDigests.has(adminDigest.toString("hex"))) return "adminToken"
  if (config.streamSecret !== undefined && isExample(Buffer.from(Redacted.value(config.streamSecret)).toString("hex"))) {
    return "streamSecret"
  }
  if (config.webhooks.secret !== undefined && isExample(Redacted.value(config.webhooks.secret))) return "webhooks.secret"
  for (const [index, peer] of config.peers.entries()) {
    if (peer.incomingTokenHashes.some((digest) => exampleSecretDigests.has(digest))) return `peers[${index}].incomingTokens`
    if (peer.outgoing !== undefined && isExample(Redacted.value(peer.outgoing.token))) return `peers[${index}].outgoing.token`
  }
  return undefined
}
