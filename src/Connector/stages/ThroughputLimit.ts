/** Stage 5: optional amount-per-period limit per source account; exceeding it is T04. */
import { Effect } from "effect"
import { InsufficientLiquidity } from "../IlpErrors.ts"
import type { RateLimiterShape } from "../RateLimiter.ts"
import type { PacketRequest, Stage } from "../Stage.ts"

export const throughputLimit = (limiter: RateLimiterShape): Stage<PacketRequest> => (next) => (request) => {
  const settings = request.source.throughputLimit
  if (settings === undefined || request.prepare.amount === 0n) return next(request)
  return limiter.takeAmount(request.source.key, settings, request.prepare.amount, request.receivedAt) ?
    next(request) :
    Effect.fail(new InsufficientLiquidity({ reason: "throughput limit exceeded" }))
}
