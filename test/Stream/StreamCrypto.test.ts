/**
 * The local receiver's STREAM crypto must be byte for byte what Node's `createHmac` and the
 * STREAM libraries compute: `HmacSha256` against `createHmac` on random keys and messages (keys
 * shorter and longer than the 64-byte block, messages past the shared scratch space), and
 * `encrypt` / `decrypt` against `@interledger/stream-receiver`'s.
 */
import { decrypt as libraryDecrypt, encrypt as libraryEncrypt } from "@interledger/stream-receiver/dist/src/utils.js"
import { createHash, createHmac, createSecretKey, randomBytes } from "node:crypto"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { sha256Matches } from "../../src/Connector/Packet.ts"
import { decrypt, encrypt, HmacSha256, makeIvSource } from "../../src/Stream/StreamCrypto.ts"

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((array) => Buffer.from(array))

describe("HmacSha256", () => {
  it("equals createHmac for any key and message, including messages larger than the scratch space", () => {
    fc.assert(
      fc.property(bytes(130), fc.oneof(bytes(200), bytes(9000)), (key, message) => {
        expect(new HmacSha256(key).digest(message)).toEqual(createHmac("sha256", key).update(message).digest())
      }),
      { numRuns: 300 }
    )
  })

  it("keeps each key's result when keys are used in turn, and on views into larger buffers", () => {
    const keys = [randomBytes(32), randomBytes(32), randomBytes(64), randomBytes(65), Buffer.alloc(0)]
    const hmacs = keys.map((key) => new HmacSha256(key))
    const backing = randomBytes(5000)
    for (let round = 0; round < 50; round++) {
      keys.forEach((key, i) => {
        const start = (round * 37 + i * 11) % 1000
        const message = backing.subarray(start, start + ((round * 131 + i) % 4500))
        expect(hmacs[i]!.digest(message)).toEqual(createHmac("sha256", key).update(message).digest())
      })
    }
  })

  it("writes the same MAC into a buffer at an offset, leaving the bytes around it", () => {
    fc.assert(
      fc.property(bytes(80), bytes(300), fc.nat(40), (key, message, offset) => {
        const target = Buffer.alloc(offset + 32 + 5, 0xab)
        new HmacSha256(key).digestInto(message, target, offset)
        expect(target.subarray(offset, offset + 32)).toEqual(createHmac("sha256", key).update(message).digest())
        expect([...target.subarray(0, offset), ...target.subarray(offset + 32)].every((byte) => byte === 0xab)).toBe(true)
      }),
      { numRuns: 200 }
    )
  })

  it("returns a buffer of its own (the next digest does not overwrite it)", () => {
    const hmac = new HmacSha256(randomBytes(32))
    const first = hmac.digest(Buffer.from("first"))
    const copy = Buffer.from(first)
    hmac.digest(Buffer.from("second"))
    expect(first).toEqual(copy)
  })
})

describe("sha256Matches", () => {
  it("is true exactly when the digest is SHA-256 of the preimage", () => {
    fc.assert(
      fc.property(bytes(200), fc.nat(31), fc.integer({ min: 1, max: 255 }), (preimage, at, flip) => {
        const digest = createHash("sha256").update(preimage).digest()
        expect(sha256Matches(preimage, digest)).toBe(true)
        const altered = Buffer.from(digest)
        altered[at] = altered[at]! ^ flip
        expect(sha256Matches(preimage, altered)).toBe(false)
        expect(sha256Matches(preimage, digest.subarray(0, 31))).toBe(false)
        expect(sha256Matches(preimage, Buffer.concat([digest, Buffer.alloc(1)]))).toBe(false)
      }),
      { numRuns: 300 }
    )
  })
})

describe("AES-256-GCM as STREAM frames it", () => {
  const iv = makeIvSource()

  it("the library decrypts what encrypt writes, and decrypt reads what the library writes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), bytes(2000), (rawKey, plaintext) => {
        const key = Buffer.from(rawKey)
        const keyObject = createSecretKey(key)
        expect(libraryDecrypt(key, encrypt(keyObject, iv(), plaintext))).toEqual(plaintext)
        expect(decrypt(keyObject, libraryEncrypt(key, plaintext))).toEqual(plaintext)
      }),
      { numRuns: 200 }
    )
  })

  it("refuses data that was altered or is too short to hold an IV and a full tag", () => {
    const key = createSecretKey(randomBytes(32))
    const data = encrypt(key, iv(), Buffer.from("stream packet"))
    for (let i = 0; i < data.length; i++) {
      const altered = Buffer.from(data)
      altered[i] = altered[i]! ^ 1
      expect(() => decrypt(key, altered)).toThrow()
    }
    for (let length = 0; length < 28; length++) expect(() => decrypt(key, data.subarray(0, length))).toThrow()
  })

  it("draws a different IV for every reply", () => {
    const seen = new Set<string>()
    for (let i = 0; i < 2000; i++) seen.add(iv().toString("hex"))
    expect(seen.size).toBe(2000)
  })
})
