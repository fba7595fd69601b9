/**
 * Stage 5: optional amount-per-period limit per source account; exceeding it is T04. A limiter that
 * cannot answer (Redis down) is T00: an outage must not look like a limit.
 */
import * as Effect from "effect/Effect"
import { InsufficientLiquidity, InternalError } from "../IlpErrors.ts"
import type { RateLimiterShape } from "../RateLimiter.ts"
import type { PacketRequest, Stage } from "../Stage.ts"

const refused = () => Effect.fail(new InsufficientLiquidity({ reason: "throughput limit exceeded" }))

export const throughputLimit = (limiter: RateLimiterShape): Stage<PacketRequest> => (next) => (request) => {
  const settings = request.source.throughputLimit
  if (settings === undefined || request.prepare.amount === 0n) return next(request)
  // In-process buckets: no Effect per packet (same answer as `takeAmount`).
  const buckets = limiter.buckets
  if (buckets !== undefined) {
    return buckets.takeAmount(request.source.key, settings, request.prepare.amount, request.receivedAt) ?
      next(request) :
      refused()
  }
  return limiter.takeAmount(request.source.key, settings, request.prepare.amount, request.receivedAt).pipe(
    Effect.catchTag(
      "RateLimiterUnavailable",
      (error) => Effect.fail(new InternalError({ reason: `rate limiter unavailable: ${error.message}` }))
    ),
    Effect.flatMap((taken) =>
      taken ? next(request) : refused()
    )
  )
}
