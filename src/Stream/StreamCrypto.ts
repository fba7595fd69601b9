/**
 * STREAM's per-packet cryptography for the local receiver (`StreamServerCached.ts`): HMAC-SHA256
 * with a connection's fixed keys, and AES-256-GCM as `ilp-protocol-stream` frames it
 * (iv ‖ auth tag ‖ ciphertext). The same bytes as the library's `hmac` / `encrypt` / `decrypt`
 * (test/Stream/StreamCrypto.test.ts checks them against it and against `createHmac`).
 *
 * Why not `createHmac`: on Node 24 most of an HMAC of a few dozen bytes is the `Hmac` object
 * (a stream `LazyTransform`, a native handle, the key's slots), not SHA-256. HMAC is defined as
 * two hashes (RFC 2104): H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)); with the padded keys computed once
 * per connection, that is two one-shot `crypto.hash` calls, which create no object.
 *
 * Why digests as `latin1` strings: a digest returned as a Buffer is a new native-backed
 * ArrayBuffer (~0.6 µs more per call, mostly allocation and GC), a `latin1` string is an ordinary
 * heap string whose characters are the digest's bytes, one for one (`"binary"` is Node's name for
 * `latin1` in `crypto`'s types). It is written where the bytes
 * are needed (`buffer.write(…, "latin1")`) or compared character by character. An HMAC costs ~0.9
 * µs this way against ~2.4 with `createHmac` and a `KeyObject` (docs/performance/local-delivery.md,
 * fifth pass).
 */
import { createCipheriv, createDecipheriv, hash, type KeyObject, randomBytes } from "node:crypto"

const blockBytes = 64
const digestBytes = 32
export const ivBytes = 12
export const authTagBytes = 16

/**
 * Scratch space for the inner and outer hash inputs, shared by every key: each `digest` call fills
 * and hashes it synchronously, so calls never overlap. Messages longer than fit (Prepare data may
 * be up to 32 KiB; STREAM packets are usually ~100 bytes) get a buffer of their own.
 */
const innerScratch = Buffer.allocUnsafe(blockBytes + 4096)
const outerScratch = Buffer.allocUnsafe(blockBytes + digestBytes)

/** HMAC-SHA256 under one key, as `createHmac("sha256", key).update(message).digest()`. */
export class HmacSha256 {
  private readonly innerPad: Buffer
  private readonly outerPad: Buffer

  constructor(key: Uint8Array) {
    // RFC 2104: a key longer than the block is hashed first; a shorter one is padded with zeros.
    const block = Buffer.alloc(blockBytes)
    block.set(key.length > blockBytes ? hash("sha256", key, "buffer") : key)
    this.innerPad = Buffer.allocUnsafe(blockBytes)
    this.outerPad = Buffer.allocUnsafe(blockBytes)
    for (let i = 0; i < blockBytes; i++) {
      this.innerPad[i] = block[i]! ^ 0x36
      this.outerPad[i] = block[i]! ^ 0x5c
    }
    block.fill(0)
  }

  /** The MAC as a new 32-byte Buffer. */
  digest(message: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(digestBytes)
    this.digestInto(message, out, 0)
    return out
  }

  /** The MAC written into `target` at `offset` (32 bytes). */
  digestInto(message: Uint8Array, target: Buffer, offset: number): void {
    target.write(this.digestLatin1(message), offset, digestBytes, "latin1")
  }

  private digestLatin1(message: Uint8Array): string {
    const innerBytes = blockBytes + message.length
    const inner = innerBytes <= innerScratch.length ? innerScratch : Buffer.allocUnsafe(innerBytes)
    this.innerPad.copy(inner, 0)
    inner.set(message, blockBytes)
    const innerDigest = hash("sha256", inner.subarray(0, innerBytes), "binary")
    this.outerPad.copy(outerScratch, 0)
    outerScratch.write(innerDigest, blockBytes, digestBytes, "latin1")
    return hash("sha256", outerScratch, "binary")
  }
}

/**
 * Random IVs drawn from a pool refilled 4 KiB at a time: one CSPRNG call per 341 replies instead
 * of one per reply (a 12-byte `randomBytes` costs 2 µs, about half of a 4 KiB one). Each IV is
 * used once; they are as random as `randomBytes(12)`.
 */
export const makeIvSource = (): (() => Buffer) => {
  const poolBytes = ivBytes * 341
  let pool = Buffer.alloc(0)
  let offset = 0
  return () => {
    if (offset + ivBytes > pool.length) {
      pool = randomBytes(poolBytes)
      offset = 0
    }
    const iv = pool.subarray(offset, offset + ivBytes)
    offset += ivBytes
    return iv
  }
}

/**
 * iv ‖ auth tag ‖ ciphertext, written into one buffer (GCM's `final` adds no bytes: one copy of
 * the ciphertext instead of two concatenations).
 */
export const encrypt = (key: KeyObject, iv: Buffer, plaintext: Buffer): Buffer => {
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  const ciphertext = cipher.update(plaintext)
  const rest = cipher.final()
  const out = Buffer.allocUnsafe(ivBytes + authTagBytes + ciphertext.length + rest.length)
  iv.copy(out, 0)
  cipher.getAuthTag().copy(out, ivBytes)
  ciphertext.copy(out, ivBytes + authTagBytes)
  rest.copy(out, ivBytes + authTagBytes + ciphertext.length)
  return out
}

export const decrypt = (key: KeyObject, data: Buffer): Buffer => {
  // A full 16-byte tag, always: data too short to hold one is refused (a shorter tag would be
  // accepted by GCM and is far easier to forge). The caller answers F06, as for any bad data.
  if (data.length < ivBytes + authTagBytes) throw new Error("STREAM data too short")
  const decipher = createDecipheriv("aes-256-gcm", key, data.subarray(0, ivBytes), { authTagLength: authTagBytes })
  decipher.setAuthTag(data.subarray(ivBytes, ivBytes + authTagBytes))
  const plaintext = decipher.update(data.subarray(ivBytes + authTagBytes))
  // Throws when the auth tag does not match; GCM adds no bytes here.
  const rest = decipher.final()
  return rest.length === 0 ? plaintext : Buffer.concat([plaintext, rest])
}
