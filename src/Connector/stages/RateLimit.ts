/**
 * Stage 4: per-source-account packet rate limit (token bucket); an empty bucket is T05. A limiter
 * that cannot answer (Redis down) is T00: an outage must not look like a limit.
 */
import { Effect } from "effect"
import { InternalError, RateLimited } from "../IlpErrors.ts"
import type { RateLimiterShape } from "../RateLimiter.ts"
import type { PacketRequest, Stage } from "../Stage.ts"

export const rateLimit = (limiter: RateLimiterShape): Stage<PacketRequest> => (next) => (request) => {
  const settings = request.source.rateLimit
  if (settings === undefined) return next(request)
  return limiter.takePacket(request.source.key, settings, request.receivedAt).pipe(
    Effect.catchTag(
      "RateLimiterUnavailable",
      (error) => Effect.fail(new InternalError({ reason: `rate limiter unavailable: ${error.message}` }))
    ),
    Effect.flatMap((taken) =>
      taken ? next(request) : Effect.fail(new RateLimited({ reason: "packet rate limit exceeded" }))
    )
  )
}
