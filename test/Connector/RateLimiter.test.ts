/**
 * The in-memory limiter at its boundaries: a packets/s token bucket (burst, fractional refill, cap,
 * clock going backwards) and an exact amount-per-period bucket, tested on the pure bucket logic;
 * then `layerMemory` against the shared contract (`RateLimiterContract.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import { accountsMax, layerMemory, makeMemory } from "../../src/Connector/RateLimiter.ts"
import { rateLimiterContract } from "./RateLimiterContract.ts"

const t0 = 1_700_000_000_000

describe("RateLimiter.takePacket (token bucket)", () => {
  it("a fresh bucket allows exactly the burst, then refuses", () => {
    const limiter = makeMemory()
    const settings = { packetsPerSecond: 1, burst: 3 }
    expect([1, 2, 3, 4].map(() => limiter.takePacket("a", settings, t0))).toEqual([true, true, true, false])
  })

  it("refills one token per 1/rate seconds, exactly at the boundary", () => {
    const limiter = makeMemory()
    const settings = { packetsPerSecond: 10, burst: 1 }
    expect(limiter.takePacket("a", settings, t0)).toBe(true)
    expect(limiter.takePacket("a", settings, t0 + 99)).toBe(false)
    expect(limiter.takePacket("a", settings, t0 + 100)).toBe(true)
    expect(limiter.takePacket("a", settings, t0 + 100)).toBe(false)
  })

  it("fractional rates keep partial tokens: 0.5 packets/s is one packet per 2 s", () => {
    const limiter = makeMemory()
    const settings = { packetsPerSecond: 0.5, burst: 1 }
    expect(limiter.takePacket("a", settings, t0)).toBe(true)
    // Refused attempts in between must not lose the partial refill.
    expect(limiter.takePacket("a", settings, t0 + 500)).toBe(false)
    expect(limiter.takePacket("a", settings, t0 + 1_000)).toBe(false)
    expect(limiter.takePacket("a", settings, t0 + 1_999)).toBe(false)
    expect(limiter.takePacket("a", settings, t0 + 2_000)).toBe(true)
    expect(limiter.takePacket("a", settings, t0 + 2_000)).toBe(false)
    expect(limiter.takePacket("a", settings, t0 + 4_000)).toBe(true)
  })

  it("refill is capped at the burst however long the account was idle", () => {
    const limiter = makeMemory()
    const settings = { packetsPerSecond: 100, burst: 2 }
    expect(limiter.takePacket("a", settings, t0)).toBe(true)
    expect(limiter.takePacket("a", settings, t0)).toBe(true)
    const later = t0 + 3_600_000
    expect([1, 2, 3].map(() => limiter.takePacket("a", settings, later))).toEqual([true, true, false])
  })

  it("time going backwards neither mints tokens nor breaks later refill", () => {
    const limiter = makeMemory()
    const settings = { packetsPerSecond: 1, burst: 1 }
    expect(limiter.takePacket("a", settings, t0 + 10_000)).toBe(true)
    expect(limiter.takePacket("a", settings, t0)).toBe(false)
    expect(limiter.takePacket("a", settings, t0 - 1_000_000)).toBe(false)
    // Refill resumes from the latest time seen, not from the earlier one.
    expect(limiter.takePacket("a", settings, t0 + 10_999)).toBe(false)
    expect(limiter.takePacket("a", settings, t0 + 11_000)).toBe(true)
  })

  it("accounts have separate buckets", () => {
    const limiter = makeMemory()
    const settings = { packetsPerSecond: 1, burst: 1 }
    expect(limiter.takePacket("a", settings, t0)).toBe(true)
    expect(limiter.takePacket("a", settings, t0)).toBe(false)
    expect(limiter.takePacket("b", settings, t0)).toBe(true)
  })

  it("is bounded: past accountsMax buckets the oldest is dropped (and starts full again)", () => {
    const limiter = makeMemory()
    const settings = { packetsPerSecond: 0.001, burst: 1 }
    for (let i = 0; i < accountsMax; i++) limiter.takePacket(`k${i}`, settings, t0)
    expect(limiter.takePacket("k0", settings, t0)).toBe(false)
    expect(limiter.takePacket("k1", settings, t0)).toBe(false)
    expect(limiter.takePacket("new", settings, t0)).toBe(true) // evicts k0, the oldest
    expect(limiter.takePacket("k1", settings, t0)).toBe(false)
    expect(limiter.takePacket("k0", settings, t0)).toBe(true) // evicts k1
  })
})

describe("RateLimiter.takeAmount (throughput per period)", () => {
  const settings = { amount: 1_000n, periodMs: 60_000 }

  it("exactly the allowance passes, one more unit fails", () => {
    const limiter = makeMemory()
    expect(limiter.takeAmount("a", settings, 1_000n, t0)).toBe(true)
    expect(limiter.takeAmount("a", settings, 1n, t0)).toBe(false)
  })

  it("the allowance can be taken in parts", () => {
    const limiter = makeMemory()
    expect(limiter.takeAmount("a", settings, 600n, t0)).toBe(true)
    expect(limiter.takeAmount("a", settings, 401n, t0)).toBe(false)
    expect(limiter.takeAmount("a", settings, 400n, t0)).toBe(true)
    expect(limiter.takeAmount("a", settings, 1n, t0)).toBe(false)
  })

  it("a refused amount takes nothing", () => {
    const limiter = makeMemory()
    expect(limiter.takeAmount("a", settings, 1_001n, t0)).toBe(false)
    expect(limiter.takeAmount("a", settings, 1_000n, t0)).toBe(true)
  })

  it("refills in proportion to the time elapsed over the period, exactly", () => {
    const limiter = makeMemory()
    expect(limiter.takeAmount("a", settings, 1_000n, t0)).toBe(true)
    // Half the period refills half the allowance.
    expect(limiter.takeAmount("a", settings, 501n, t0 + 30_000)).toBe(false)
    expect(limiter.takeAmount("a", settings, 500n, t0 + 30_000)).toBe(true)
    expect(limiter.takeAmount("a", settings, 1n, t0 + 30_000)).toBe(false)
  })

  it("no rounding in the account's favour: 3 per second needs a full 1/3 s per unit", () => {
    const limiter = makeMemory()
    const slow = { amount: 3n, periodMs: 1_000 }
    expect(limiter.takeAmount("a", slow, 3n, t0)).toBe(true)
    expect(limiter.takeAmount("a", slow, 1n, t0 + 333)).toBe(false) // 999 of 1000 amount·ms
    expect(limiter.takeAmount("a", slow, 1n, t0 + 334)).toBe(true)
  })

  it("refill is capped at the allowance", () => {
    const limiter = makeMemory()
    expect(limiter.takeAmount("a", settings, 1n, t0)).toBe(true)
    const later = t0 + 10 * 60_000
    expect(limiter.takeAmount("a", settings, 1_000n, later)).toBe(true)
    expect(limiter.takeAmount("a", settings, 1n, later)).toBe(false)
  })

  it("time going backwards does not refill", () => {
    const limiter = makeMemory()
    expect(limiter.takeAmount("a", settings, 1_000n, t0 + 60_000)).toBe(true)
    expect(limiter.takeAmount("a", settings, 1n, t0)).toBe(false)
    expect(limiter.takeAmount("a", settings, 1n, t0 + 60_059)).toBe(false)
    expect(limiter.takeAmount("a", settings, 1n, t0 + 60_060)).toBe(true)
  })

  it("handles u64-sized allowances without precision loss", () => {
    const limiter = makeMemory()
    const huge = { amount: (1n << 64n) - 1n, periodMs: 86_400_000 }
    expect(limiter.takeAmount("a", huge, (1n << 64n) - 2n, t0)).toBe(true)
    expect(limiter.takeAmount("a", huge, 2n, t0)).toBe(false)
    expect(limiter.takeAmount("a", huge, 1n, t0)).toBe(true)
  })

  it("accounts have separate allowances", () => {
    const limiter = makeMemory()
    expect(limiter.takeAmount("a", settings, 1_000n, t0)).toBe(true)
    expect(limiter.takeAmount("b", settings, 1_000n, t0)).toBe(true)
    expect(limiter.takeAmount("a", settings, 1n, t0)).toBe(false)
  })
})

rateLimiterContract("memory", () => layerMemory)
