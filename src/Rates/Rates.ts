/**
 * Exchange rates: the `Rates` service, its errors, its layers and the pure conversion the
 * exchange-rate stage applies.
 *
 * A rate is "how many units of the destination asset one unit of the source asset buys", both in
 * whole units (scale 0); `convert` applies the scales. Asset codes match exactly (case-sensitive).
 * The same code on both sides is rate 1 without any lookup.
 *
 * Three layers:
 * - `layerStatic`: base → quote → rate from config. Only listed pairs exist: an inverse is never
 *   derived, because a quoted rate and its reciprocal are different commercial offers.
 * - `layerHttp` (in `RatesHttp.ts`): `GET <url>?base=CODE` answering `{ base, rates: { QUOTE:
 *   number } }`, cached per base (`cacheTtlMs`, at most `cacheEntriesMax` bases, in-flight fetches
 *   of a base coalesced into one request, see `CoalescingCache`). A failed fetch is remembered for
 *   `failureCacheTtlMs` (default 1 s) so a down source sees one request per base per second, not
 *   one per packet. JSON numbers become rationals through their shortest decimal (`0.9` is exactly
 *   9/10); decimal strings are accepted too. Any non-2xx answer (404 included) is
 *   `RatesUnavailable`: we cannot tell "unknown base" from a misconfigured URL. Needs an
 *   `HttpClient` (e.g. `NodeHttpClient.layerUndici`).
 * - `layerTable`: the static rates operators edit at run time, in front of either.
 *
 * Errors: `RateMissing` (no rate for the pair, or the listed value is not a positive decimal) is
 * final (ILP F07); `RatesUnavailable` (source down, timed out, non-2xx, oversized or malformed body)
 * is temporary (ILP T00).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Rational from "./Rational.ts"

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

/** No usable rate for the pair: not listed, or listed with an invalid value. ILP F07. */
export class RateMissing extends Data.TaggedError("RateMissing")<{
  readonly sourceCode: string
  readonly destinationCode: string
  readonly message: string
}> {}

/** The rates source could not answer for `base`. ILP T00. */
export class RatesUnavailable extends Data.TaggedError("RatesUnavailable")<{
  readonly base: string
  readonly message: string
  readonly cause?: unknown
}> {}

// -----------------------------------------------------------------------------
// Service
// -----------------------------------------------------------------------------

export class Rates extends Context.Service<Rates, {
  readonly rate: (
    sourceCode: string,
    destinationCode: string
  ) => Effect.Effect<Rational.Rational, RateMissing | RatesUnavailable>
}>()("Rates/Rates") {}

export interface Asset {
  readonly code: string
  readonly scale: number
}

/**
 * The destination amount for `amount` of `source` at `rate`, rounded down: we never forward more
 * value than we received. (The stage rejects a non-zero amount that converts to 0 with R01.)
 */
export const convert = (amount: bigint, source: Asset, destination: Asset, rate: Rational.Rational): bigint =>
  Rational.convertAmount(amount, source.scale, destination.scale, rate, "floor")

/** Looks up the rate for `source → destination` and converts `amount` with `convert`. */
export const exchange = (
  amount: bigint,
  source: Asset,
  destination: Asset
): Effect.Effect<bigint, RateMissing | RatesUnavailable, Rates> =>
  Rates.use((rates) =>
    Effect.map(rates.rate(source.code, destination.code), (rate) => convert(amount, source, destination, rate))
  )

// -----------------------------------------------------------------------------
// Quotes: the rates of one base, each lookup result built once
// -----------------------------------------------------------------------------

export type Lookup = Effect.Effect<Rational.Rational, RateMissing>

/** The rates of one base currency, as ready-made lookup results (a hit allocates nothing). */
export interface Quotes {
  readonly base: string
  readonly byQuote: ReadonlyMap<string, Lookup>
}

export const identity: Lookup = Effect.succeed(Rational.one)

const missing = (sourceCode: string, destinationCode: string, why: string): Lookup =>
  Effect.fail(new RateMissing({ sourceCode, destinationCode, message: `no rate ${sourceCode}→${destinationCode}: ${why}` }))

/** A listed rate value: a positive decimal number or decimal string; anything else is a reason. */
export const parseRateValue = (value: unknown): Result.Result<Rational.Rational, string> => {
  if (typeof value !== "number" && typeof value !== "string") return Result.fail("rate is not a number")
  const parsed = Rational.parse(value)
  if (Result.isFailure(parsed)) return Result.fail(`invalid rate: ${parsed.failure.reason}`)
  if (Rational.isZero(parsed.success)) return Result.fail("rate is zero")
  return Result.succeed(parsed.success)
}

const quoteLookup = (base: string, quote: string, value: unknown): Lookup => {
  const parsed = parseRateValue(value)
  return Result.isSuccess(parsed) ? Effect.succeed(parsed.success) : missing(base, quote, parsed.failure)
}

export const quotesFrom = (base: string, rates: Readonly<Record<string, unknown>>): Quotes => ({
  base,
  byQuote: new Map(Object.entries(rates).map(([quote, value]) => [quote, quoteLookup(base, quote, value)]))
})

export const lookupQuote = (quotes: Quotes, quote: string): Lookup =>
  quotes.byQuote.get(quote) ?? missing(quotes.base, quote, "not listed")

// -----------------------------------------------------------------------------
// Static layer
// -----------------------------------------------------------------------------

export type StaticRates = Readonly<Record<string, Readonly<Record<string, string | number>>>>

/** `BASE→QUOTE: reason` for every listed value that is not a usable rate. */
const invalidEntries = (rates: StaticRates): ReadonlyArray<string> =>
  Object.entries(rates).flatMap(([base, quotes]) =>
    Object.entries(quotes).flatMap(([quote, value]) => {
      const parsed = parseRateValue(value)
      return Result.isFailure(parsed) ? [`${base}→${quote}: ${parsed.failure}`] : []
    })
  )

/** A `Rates` over a fixed table (base → quote → rate). Pure; see `layerStatic`. */
export const makeStatic = (rates: StaticRates): Rates["Service"] => {
  const table = new Map(Object.entries(rates).map(([base, quotes]) => [base, quotesFrom(base, quotes)]))
  return Rates.of({
    rate: (sourceCode, destinationCode) => {
      if (sourceCode === destinationCode) return identity
      const quotes = table.get(sourceCode)
      return quotes === undefined ? missing(sourceCode, destinationCode, "base not listed") : lookupQuote(quotes, destinationCode)
    }
  })
}

/**
 * Rates from config. Only the listed pairs exist (no inverse is derived). Invalid values (zero,
 * negative, not a decimal) do not stop start-up: they are logged once here and answer `RateMissing`.
 */
export const layerStatic = (rates: StaticRates): Layer.Layer<Rates> =>
  Layer.effect(Rates)(Effect.gen(function*() {
    const service = makeStatic(rates)
    const invalid = invalidEntries(rates)
    if (invalid.length > 0) yield* Effect.logWarning(`invalid static rates (answer RateMissing): ${invalid.join(", ")}`)
    return service
  }))

// -----------------------------------------------------------------------------
// Replaceable table (rates edited at run time through the operator API)
// -----------------------------------------------------------------------------

/** A static rate as the operator sets it: `rate` whole units of `quote` per unit of `base`, less `spread`. */
export interface StaticRate {
  readonly base: string
  readonly quote: string
  /** A positive decimal. */
  readonly rate: string
  /** A decimal in [0, 1): the node keeps this fraction (e.g. "0.005" = 0.5 %). Absent: none. */
  readonly spread?: string | undefined
}

/** `rate · (1 − spread)`, exact; or why the entry is not usable. Pure. */
export const effectiveRate = (entry: StaticRate): Result.Result<Rational.Rational, string> => {
  const rate = parseRateValue(entry.rate)
  if (Result.isFailure(rate) || entry.spread === undefined) return rate
  const spread = Rational.fromDecimal(entry.spread)
  if (Result.isFailure(spread)) return Result.fail(`invalid spread: ${spread.failure.reason}`)
  if (spread.success.num >= spread.success.den) return Result.fail("spread must be below 1")
  const kept = Rational.make(spread.success.den - spread.success.num, spread.success.den)
  return Result.isFailure(kept) ? Result.fail(kept.failure.reason) : Result.succeed(Rational.multiply(rate.success, kept.success))
}

export interface RatesTableShape {
  /** Replaces every static rate at once; lookups after the call see only the new table. */
  readonly replace: (rates: ReadonlyArray<StaticRate>) => void
}

/** The static rates in front of the node's `Rates` (see `layerTable`). */
export class RatesTable extends Context.Service<RatesTable, RatesTableShape>()("Rates/RatesTable") {}

/**
 * A `Rates` over a replaceable static table, in front of an optional `fallback` source (the HTTP
 * rates): a listed pair answers from the table (an invalid entry answers `RateMissing` with its
 * reason, as `layerStatic` does); an unlisted pair asks the fallback, or is `RateMissing` without
 * one. A hit is one or two `Map` lookups returning a pre-built result.
 */
export const makeTable = (fallback: Rates["Service"] | undefined): { readonly rates: Rates["Service"]; readonly table: RatesTableShape } => {
  let table = new Map<string, Quotes>()
  const rates = Rates.of({
    rate: (sourceCode, destinationCode) => {
      if (sourceCode === destinationCode) return identity
      const hit = table.get(sourceCode)?.byQuote.get(destinationCode)
      if (hit !== undefined) return hit
      return fallback === undefined ? missing(sourceCode, destinationCode, "not listed") : fallback.rate(sourceCode, destinationCode)
    }
  })
  const replace = (entries: ReadonlyArray<StaticRate>): void => {
    const next = new Map<string, Map<string, Lookup>>()
    for (const entry of entries) {
      const effective = effectiveRate(entry)
      const quotes = next.get(entry.base) ?? new Map<string, Lookup>()
      quotes.set(
        entry.quote,
        Result.isSuccess(effective) ? Effect.succeed(effective.success) : missing(entry.base, entry.quote, effective.failure)
      )
      next.set(entry.base, quotes)
    }
    table = new Map([...next].map(([base, byQuote]) => [base, { base, byQuote }]))
  }
  return { rates, table: RatesTable.of({ replace }) }
}

/** `Rates` and its `RatesTable`, over `fallback`'s rates when given (e.g. `layerHttp`). Starts empty. */
export const layerTable = <E = never, R = never>(
  fallback: Layer.Layer<Rates, E, R> | undefined
): Layer.Layer<Rates | RatesTable, E, R> => {
  const build = (inner: Rates["Service"] | undefined) => {
    const made = makeTable(inner)
    return Context.make(Rates, made.rates).pipe(Context.add(RatesTable, made.table))
  }
  return fallback === undefined ?
    Layer.succeedContext(build(undefined)) as Layer.Layer<Rates | RatesTable, E, R> :
    Layer.effectContext(Effect.map(Rates, build)).pipe(Layer.provide(fallback))
}
