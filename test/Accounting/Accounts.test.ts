/**
 * Derived ledger numbers and account ids (src/Accounting/Accounts.ts): the remembered derivations
 * answer exactly what a fresh SHA-256 of the label gives, before and after their caches are full
 * and cleared, for the same asset given as different objects.
 */
import fc from "fast-check"
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { derivedIdsCachedMax, ids, ledgerOf } from "../../src/Accounting/Accounts.ts"

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()
const freshLedger = (code: string, scale: number) => {
  const n = digest(`ledger:${code}:${scale}`).readUInt32BE(0)
  return n === 0 ? 1 : n
}
const freshAccount = (label: string) => BigInt(`0x${digest(`account:${label}`).subarray(0, 16).toString("hex")}`)

describe("Accounts: remembered derivations", () => {
  it("ledger numbers and liquidity / peer ids equal a fresh derivation", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 255 }), fc.string({ maxLength: 8 }), (code, scale, peer) => {
        expect(ledgerOf({ code, scale })).toBe(freshLedger(code, scale))
        expect(ledgerOf({ code: `${code}`, scale })).toBe(freshLedger(code, scale))
        expect(ids.assetLiquidity({ code, scale })).toBe(freshAccount(`asset-liquidity:${code}:${scale}`))
        expect(ids.peerLiquidity(peer)).toBe(freshAccount(`peer-liquidity:${peer}`))
      }),
      { numRuns: 500 }
    )
  })

  it("past the cache bound (cleared at once) the answers stay the same", () => {
    const usd = { code: "USD", scale: 2 }
    const before = [ledgerOf(usd), ids.assetLiquidity(usd), ids.peerLiquidity("alice")]
    for (let i = 0; i <= derivedIdsCachedMax; i++) {
      ledgerOf({ code: `C${i}`, scale: i % 19 })
      ids.assetLiquidity({ code: "X", scale: i })
      ids.peerLiquidity(`peer-${i}`)
    }
    expect([ledgerOf({ code: "USD", scale: 2 }), ids.assetLiquidity({ ...usd }), ids.peerLiquidity("alice")]).toEqual(before)
    expect(ledgerOf({ code: "C5", scale: 5 })).toBe(freshLedger("C5", 5))
  })
})
