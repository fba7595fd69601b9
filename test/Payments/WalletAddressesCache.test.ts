/**
 * The wallet-address cache (`makeWalletCache`): bounded, least recently used first out, entries
 * fresh for `ttlMs`. A hit and a refresh both make an entry the most recently used.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeWalletCache, type WalletAddress } from "../../src/Payments/WalletAddresses.ts"

const wallet = (id: string): WalletAddress => ({
  id,
  url: `https://wallet.example/${id}`,
  asset: { code: "USD", scale: 2 },
  publicName: undefined,
  active: true,
  createdAt: 0,
  ledgerAccountId: 1n
})

describe("makeWalletCache", () => {
  it("serves an entry for less than ttlMs, drops it at ttlMs", () => {
    const cache = makeWalletCache(10, 1_000)
    cache.set(wallet("a"), 5_000)
    expect(cache.get("a", 5_999)?.id).toBe("a")
    expect(cache.get("a", 6_000)).toBeUndefined()
    expect(cache.size()).toBe(0)
    expect(cache.get("a", 5_500)).toBeUndefined()
  })

  it("evicts the least recently used entry: a hit moves an entry to the end", () => {
    const cache = makeWalletCache(3, 1_000)
    for (const id of ["a", "b", "c"]) cache.set(wallet(id), 0)
    expect(cache.get("a", 10)?.id).toBe("a")
    cache.set(wallet("d"), 10)
    expect(cache.size()).toBe(3)
    expect(cache.get("b", 20)).toBeUndefined()
    expect(["a", "c", "d"].map((id) => cache.get(id, 20)?.id)).toEqual(["a", "c", "d"])
  })

  it("a refresh (set of a cached id) moves the entry to the end and restarts its ttl", () => {
    const cache = makeWalletCache(4, 1_000)
    for (const id of ["a", "b", "c"]) cache.set(wallet(id), 0)
    cache.set(wallet("a"), 900)
    expect(cache.size()).toBe(3)
    cache.set(wallet("d"), 950)
    cache.set(wallet("e"), 950)
    expect(cache.size()).toBe(4)
    expect(cache.get("b", 960)).toBeUndefined()
    expect(cache.get("a", 1_899)?.id).toBe("a")
    expect(cache.get("c", 1_000)).toBeUndefined()
  })

  it("behaves as a model LRU with a ttl, and never holds more than entriesMax", () => {
    const op = fc.record({
      kind: fc.constantFrom("get" as const, "set" as const, "delete" as const),
      id: fc.constantFrom("a", "b", "c", "d", "e", "f"),
      advanceMs: fc.integer({ min: 0, max: 400 })
    })
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (entriesMax, ops) => {
        const ttlMs = 1_000
        const cache = makeWalletCache(entriesMax, ttlMs)
        // The model: ids from least to most recently used, with when each was cached.
        let model: Array<{ id: string; atMs: number }> = []
        let nowMs = 0
        for (const { kind, id, advanceMs } of ops) {
          nowMs += advanceMs
          const entry = model.find((e) => e.id === id)
          model = model.filter((e) => e.id !== id)
          if (kind === "get") {
            const fresh = entry !== undefined && nowMs - entry.atMs < ttlMs
            if (fresh) model.push(entry)
            expect(cache.get(id, nowMs)?.id).toBe(fresh ? id : undefined)
          } else if (kind === "set") {
            if (model.length >= entriesMax) model.shift()
            model.push({ id, atMs: nowMs })
            cache.set(wallet(id), nowMs)
          } else {
            cache.delete(id)
          }
          expect(cache.size()).toBe(model.length)
          expect(cache.size()).toBeLessThanOrEqual(entriesMax)
        }
      }),
      { numRuns: 300 }
    )
  })
})
