/** Byte helpers for tests that must not load Effect (kept apart from fixtures.ts for start-up time). */

/** Deterministic pseudo-random bytes (no dependence on the test runner's seed). */
export const patternBytes = (length: number, seed = 1): Uint8Array => {
  const bytes = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}
