/**
 * Per-account limits (SPEC §3 rows 4–5): a packets/s token bucket (stage 4, T05) and an
 * amount-per-period bucket (stage 5, T04), keyed by the source account's `key`.
 *
 * The service answers with Effects because the production layer (`RateLimiterRedis.layerRedis`)
 * asks Redis, so that the limits hold across instances (SPEC §1). `RateLimiterUnavailable` means the
 * limiter could not answer (Redis down, timeout); it never means "limit reached", which is `false`.
 * The stages turn it into T00, never T05/T04: an outage must not look like a limit.
 *
 * Semantics, shared by every layer (one contract suite, `test/Connector/RateLimiterContract.ts`):
 * - Packets: a bucket of `burst` tokens, refilled continuously at `packetsPerSecond` (fractional
 *   tokens are kept, so refused attempts never lose partial refill), capped at `burst`. A packet
 *   takes one whole token or is refused.
 * - Amounts: a bucket of `amount` units refilled continuously over `periodMs` (exactly: the bucket
 *   counts amount·ms, so nothing is rounded in the account's favour), capped at `amount`. A packet
 *   takes its whole amount or nothing.
 * - A fresh bucket is full. Time never runs backwards for a bucket: refill resumes from the latest
 *   time it has seen.
 *
 * The bucket logic here (`makeMemory`) is pure and synchronous, a function of the time given, so it
 * is tested at its boundaries without sleeping; `layerMemory` (embedded profile, one instance)
 * wraps it in `Effect.sync` and also exposes it as `buckets`, which the stages call directly.
 *
 * Bounded: at most `accountsMax` buckets in memory; past that the least recently created bucket is
 * dropped (it refills to full, which errs on the side of letting a quiet account through).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { RateLimitSettings, ThroughputLimitSettings } from "./Account.ts"

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

export interface RateLimiterShape {
  /**
   * The same buckets answered synchronously, when the limiter is in this process (`layerMemory`):
   * the stages then take without building an Effect per packet. Absent for limiters that do I/O.
   */
  readonly buckets?: MemoryBuckets | undefined
  /** Takes one packet token at `nowMs`; false when the bucket is empty. */
  readonly takePacket: (
    key: string,
    settings: RateLimitSettings,
    nowMs: number
  ) => Effect.Effect<boolean, RateLimiterUnavailable>
  /** Takes `amount` from the account's throughput allowance at `nowMs`; false when it would exceed it. */
  readonly takeAmount: (
    key: string,
    settings: ThroughputLimitSettings,
    amount: bigint,
    nowMs: number
  ) => Effect.Effect<boolean, RateLimiterUnavailable>
}

export class RateLimiter extends Context.Service<RateLimiter, RateLimiterShape>()("Connector/RateLimiter") {}

/**
 * The limiter could not answer (Redis down, timeout); never means "limit reached". After a take
 * fails with it, whether the token or amount was taken is unknown.
 */
export class RateLimiterUnavailable extends Data.TaggedError("RateLimiterUnavailable")<{
  readonly message: string
  readonly cause?: unknown
}> {}

// ---------------------------------------------------------------------------------------------
// The pure buckets
// ---------------------------------------------------------------------------------------------

/** The bucket logic, synchronous: what `layerMemory` runs and what the unit tests exercise. */
export interface MemoryBuckets {
  readonly takePacket: (key: string, settings: RateLimitSettings, nowMs: number) => boolean
  readonly takeAmount: (key: string, settings: ThroughputLimitSettings, amount: bigint, nowMs: number) => boolean
}

export const accountsMax = 100_000

interface PacketBucket {
  tokens: number
  updatedAtMs: number
}

/** Amounts are scaled by the period so refill stays exact: `available` counts amount·ms. */
interface AmountBucket {
  available: bigint
  updatedAtMs: number
}

const remember = <V>(map: Map<string, V>, key: string, value: V): V => {
  if (map.size >= accountsMax) {
    const oldest = map.keys().next()
    if (!oldest.done) map.delete(oldest.value)
  }
  map.set(key, value)
  return value
}

export const refillPacketBucket = (bucket: PacketBucket, settings: RateLimitSettings, nowMs: number): void => {
  const elapsedMs = Math.max(0, nowMs - bucket.updatedAtMs)
  bucket.tokens = Math.min(settings.burst, bucket.tokens + (elapsedMs * settings.packetsPerSecond) / 1000)
  bucket.updatedAtMs = Math.max(bucket.updatedAtMs, nowMs)
}

export const makeMemory = (): MemoryBuckets => {
  const packets = new Map<string, PacketBucket>()
  const amounts = new Map<string, AmountBucket>()
  return {
    takePacket: (key, settings, nowMs) => {
      const bucket = packets.get(key) ?? remember(packets, key, { tokens: settings.burst, updatedAtMs: nowMs })
      refillPacketBucket(bucket, settings, nowMs)
      if (bucket.tokens < 1) return false
      bucket.tokens -= 1
      return true
    },
    takeAmount: (key, settings, amount, nowMs) => {
      const period = BigInt(settings.periodMs)
      const capacity = settings.amount * period
      const bucket = amounts.get(key) ?? remember(amounts, key, { available: capacity, updatedAtMs: nowMs })
      const elapsedMs = BigInt(Math.max(0, nowMs - bucket.updatedAtMs))
      const refilled = bucket.available + elapsedMs * settings.amount
      bucket.available = refilled > capacity ? capacity : refilled
      bucket.updatedAtMs = Math.max(bucket.updatedAtMs, nowMs)
      const needed = amount * period
      if (needed > bucket.available) return false
      bucket.available -= needed
      return true
    }
  }
}

/** The service over in-process buckets: never unavailable. */
export const fromBuckets = (buckets: MemoryBuckets): RateLimiterShape => ({
  buckets,
  takePacket: (key, settings, nowMs) => Effect.sync(() => buckets.takePacket(key, settings, nowMs)),
  takeAmount: (key, settings, amount, nowMs) => Effect.sync(() => buckets.takeAmount(key, settings, amount, nowMs))
})

/** A fresh in-memory limiter (tests build stages with it). */
export const makeMemoryService = (): RateLimiterShape => fromBuckets(makeMemory())

/** Limits in this process's memory: the embedded profile (one instance). */
export const layerMemory: Layer.Layer<RateLimiter> = Layer.sync(RateLimiter, makeMemoryService)
