/** Stage 4: per-source-account packet rate limit (token bucket); an empty bucket is T05. */
import { Effect } from "effect"
import { RateLimited } from "../IlpErrors.ts"
import type { RateLimiterShape } from "../RateLimiter.ts"
import type { PacketRequest, Stage } from "../Stage.ts"

export const rateLimit = (limiter: RateLimiterShape): Stage<PacketRequest> => (next) => (request) => {
  const settings = request.source.rateLimit
  if (settings === undefined) return next(request)
  return limiter.takePacket(request.source.key, settings, request.receivedAt) ?
    next(request) :
    Effect.fail(new RateLimited({ reason: "packet rate limit exceeded" }))
}
