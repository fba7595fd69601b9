/**
 * Per-account limits kept in process memory: a packets/s token bucket (keeps fractional refill) and
 * an amount-per-period bucket (exact integer arithmetic). Both are pure functions of the time given,
 * so they are tested at their boundaries without sleeping.
 *
 * Bounded: at most `accountsMax` buckets; past that the least recently created bucket is dropped
 * (it refills to full, which errs on the side of letting a quiet account through).
 */
import { Context, Layer } from "effect"
import type { RateLimitSettings, ThroughputLimitSettings } from "./Account.ts"

export interface RateLimiterShape {
  /** Takes one packet token; false when the bucket is empty. */
  readonly takePacket: (key: string, settings: RateLimitSettings, nowMs: number) => boolean
  /** Takes `amount` from the account's throughput allowance; false when it would exceed it. */
  readonly takeAmount: (key: string, settings: ThroughputLimitSettings, amount: bigint, nowMs: number) => boolean
}

export class RateLimiter extends Context.Service<RateLimiter, RateLimiterShape>()("Connector/RateLimiter") {}

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

export const makeMemory = (): RateLimiterShape => {
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

export const layerMemory: Layer.Layer<RateLimiter> = Layer.sync(RateLimiter, makeMemory)
