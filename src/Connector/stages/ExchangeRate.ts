/**
 * Stages 9–10: the amount the next hop receives, in its asset. Rounded down (we never forward more
 * value than we received). No usable rate: F07; the rates source down: T00; a non-zero amount
 * that converts to zero: R01; a converted amount beyond u64: F07 (the destination cannot receive it).
 */
import * as Effect from "effect/Effect"
import { convert, type Rates } from "../../Rates/Rates.ts"
import { AmountTooSmall, InternalError, RateUnavailable } from "../IlpErrors.ts"
import { u64 } from "../Packet.ts"
import type { Priced, Routed, Stage } from "../Stage.ts"

const destinationAsset = (request: Routed) =>
  request.destination.kind === "peer" ? request.destination.peer.config.asset : request.destination.receiver.asset

export const exchangeRate = (rates: Rates["Service"]): Stage<Routed, Priced> => (next) => (request) => {
  const source = request.source.asset
  const destination = destinationAsset(request)
  const amount = request.prepare.amount
  if (source.code === destination.code && source.scale === destination.scale) {
    return next({ ...request, destinationAmount: amount })
  }
  return rates.rate(source.code, destination.code).pipe(
    Effect.catchTags({
      RateMissing: (error) => Effect.fail(new RateUnavailable({ reason: error.message })),
      RatesUnavailable: (error) => Effect.fail(new InternalError({ reason: error.message }))
    }),
    Effect.flatMap((rate) => {
      const destinationAmount = convert(amount, source, destination, rate)
      if (amount > 0n && destinationAmount === 0n) {
        return Effect.fail(new AmountTooSmall({ reason: "amount converts to zero at the destination" }))
      }
      if (destinationAmount > u64.max) {
        return Effect.fail(new RateUnavailable({ reason: "converted amount exceeds the maximum packet amount" }))
      }
      return next({ ...request, destinationAmount })
    })
  )
}
