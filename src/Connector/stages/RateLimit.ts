/**
 * Stage 4: per-source-account packet rate limit (token bucket); an empty bucket is T05. A limiter
 * that cannot answer (Redis down) is T00: an outage must not look like a limit.
 */
import * as Effect from "effect/Effect"
import { InternalError, RateLimited } from "../IlpErrors.ts"
import type { RateLimiterShape } from "../RateLimiter.ts"
import type { PacketRequest, Stage } from "../Stage.ts"

const refused = () => Effect.fail(new RateLimited({ reason: "packet rate limit exceeded" }))

export const rateLimit = (limiter: RateLimiterShape): Stage<PacketRequest> => (next) => (request) => {
  const settings = request.source.rateLimit
  if (settings === undefined) return next(request)
  // In-process buckets: no Effect per packet (same answer as `takePacket`).
  const buckets = limiter.buckets
  if (buckets !== undefined) {
    return buckets.takePacket(request.source.key, settings, request.receivedAt) ? next(request) : refused()
  }
  return limiter.takePacket(request.source.key, settings, request.receivedAt).pipe(
    Effect.catchTag(
      "RateLimiterUnavailable",
      (error) => Effect.fail(new InternalError({ reason: `rate limiter unavailable: ${error.message}` }))
    ),
    Effect.flatMap((taken) =>
      taken ? next(request) : refused()
    )
  )
}
