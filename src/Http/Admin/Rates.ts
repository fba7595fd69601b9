/**
 * Static exchange rates: `/rates` (list) and `/rates/:base/:quote` (set, delete). A rate is how
 * many whole units of `quote` one whole unit of `base` buys; the optional `spread` is the fraction
 * the node keeps, so packets convert at `rate × (1 − spread)`, exactly (rationals), rounded down.
 * Only listed pairs exist (an inverse is never derived). A static rate takes precedence over the
 * HTTP rates source for its pair; a change applies to the next packet.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as Rational from "../../Rates/Rational.ts"
import { effectiveRate, type StaticRate } from "../../Rates/Rates.ts"
import { NodeSettings } from "../../Settings/NodeSettings.ts"
import type { AdminApi } from "./Api.ts"
import { AdminAuth, AssetJson, BadRequest, Conflict, doc, NotFound, settingsError, Unavailable } from "./Common.ts"

const RateJson = Schema.Struct({
  base: Schema.String,
  quote: Schema.String,
  rate: Schema.String,
  spread: Schema.optionalKey(Schema.String),
  effectiveRate: Schema.String.annotate({ description: "rate × (1 − spread) as an exact fraction num/den" })
})

const RateBody = Schema.Struct({
  rate: Schema.String.annotate({ description: "A positive decimal, e.g. \"0.9\"", examples: ["0.9"] }),
  spread: Schema.optionalKey(Schema.String.annotate({ description: "A decimal in [0, 1), e.g. \"0.005\" for 0.5 %" }))
})

const pairParams = { base: AssetJson.fields.code, quote: AssetJson.fields.code }

const changeErrors = [BadRequest, NotFound, Conflict, Unavailable] as const

export class RatesGroup extends HttpApiGroup.make("rates").add(
  HttpApiEndpoint.get("list", "/rates", { success: Schema.Array(RateJson) }).annotateMerge(doc(
    "List static rates",
    "Every static rate with its spread and the exact rate packets convert at."
  )),
  HttpApiEndpoint.put("set", "/rates/:base/:quote", { params: pairParams, payload: RateBody, success: RateJson, error: changeErrors })
    .annotateMerge(doc(
      "Set a static rate",
      "Sets how many whole units of quote one whole unit of base buys, less an optional spread. Applies to the " +
        "next packet. 400 for a rate that is not a positive decimal or a spread outside [0, 1)."
    )),
  HttpApiEndpoint.delete("delete", "/rates/:base/:quote", { params: pairParams, success: RateJson, error: changeErrors })
    .annotateMerge(doc(
      "Delete a static rate",
      "Removes the pair: packets needing it are rejected F07, or priced by the HTTP rates source when one is configured."
    ))
).middleware(AdminAuth) {}

const rateJson = (rate: StaticRate) => {
  const effective = effectiveRate(rate)
  return {
    base: rate.base,
    quote: rate.quote,
    rate: rate.rate,
    ...(rate.spread === undefined ? {} : { spread: rate.spread }),
    effectiveRate: Result.isSuccess(effective) ? Rational.format(effective.success) : `invalid: ${effective.failure}`
  }
}

export const ratesHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "rates", (handlers) =>
    Effect.gen(function*() {
      const settings = yield* NodeSettings
      const find = (base: string, quote: string) =>
        settings.current().rates.find((rate) => rate.base === base && rate.quote === quote)
      return handlers
        .handle("list", () => Effect.sync(() => settings.current().rates.map(rateJson)))
        .handle("set", ({ params, payload }) =>
          Effect.gen(function*() {
            const rate: StaticRate = { base: params.base, quote: params.quote, rate: payload.rate, spread: payload.spread }
            const effective = effectiveRate(rate)
            if (Result.isFailure(effective)) return yield* new BadRequest({ message: `rate: ${effective.failure}` })
            if (params.base === params.quote) return yield* new BadRequest({ message: "quote: must differ from base (same code is rate 1)" })
            yield* settings.putRate(rate).pipe(Effect.mapError(settingsError))
            return rateJson(rate)
          }))
        .handle("delete", ({ params }) =>
          Effect.gen(function*() {
            const existing = find(params.base, params.quote)
            yield* settings.deleteRate(params.base, params.quote).pipe(Effect.mapError(settingsError))
            return rateJson(existing ?? { base: params.base, quote: params.quote, rate: "0" })
          }))
    }))
