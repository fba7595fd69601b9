/**
 * Stage 12: the next hop's expiry is `min(expiresAt - minMessageWindow, now + maxHoldTime)`; when
 * that leaves less than `minMessageWindow` from now, the packet cannot be forwarded in time: R02.
 * Local delivery keeps the packet's own expiry and only checks it has not passed (R00).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { Expired, InsufficientTimeout } from "../IlpErrors.ts"
import type { Priced, Stage, Timed } from "../Stage.ts"

export interface ExpirySettings {
  readonly minMessageWindowMs: number
  readonly maxHoldTimeMs: number
}

export const outgoingExpiryAt = (expiresAt: number, now: number, settings: ExpirySettings): number =>
  Math.min(expiresAt - settings.minMessageWindowMs, now + settings.maxHoldTimeMs)

export const outgoingExpiry = (settings: ExpirySettings): Stage<Priced, Timed> => (next) => (request) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (request.destination.kind === "local") {
      return request.prepare.expiresAt <= now ?
        Effect.fail(new Expired({ reason: "packet expired before delivery" })) :
        next({ ...request, outgoingExpiresAt: request.prepare.expiresAt })
    }
    const outgoingExpiresAt = outgoingExpiryAt(request.prepare.expiresAt, now, settings)
    return outgoingExpiresAt < now + settings.minMessageWindowMs ?
      Effect.fail(new InsufficientTimeout({ reason: "not enough time left to forward the packet" })) :
      next({ ...request, outgoingExpiresAt })
  })
