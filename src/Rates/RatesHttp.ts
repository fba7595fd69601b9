/**
 * Exchange rates over HTTP: `layerHttp` (see `Rates.ts` for the service, its errors and what the
 * source must answer). `GET <url>?base=CODE`, cached per base with bounded entries, a remembered
 * failure, coalesced in-flight fetches and a bounded body; every failure is `RatesUnavailable`.
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as CoalescingCache from "./CoalescingCache.ts"
import { identity, lookupQuote, quotesFrom, Rates, RatesUnavailable } from "./Rates.ts"

export interface HttpOptions {
  /** Rates endpoint; `?base=CODE` is appended to its query. */
  readonly url: string
  /** Bound on one fetch: connect, headers and body. */
  readonly timeoutMs: number
  /** How long a fetched base stays fresh (0 = refetch on every miss, still coalesced). */
  readonly cacheTtlMs: number
  /** Most bases kept; past it the least recently fetched base is dropped. Default 256. */
  readonly cacheEntriesMax?: number | undefined
  /**
   * How long a failed fetch is remembered, so a down source costs one request per base per this
   * period instead of one per packet. 0 = not cached. Default 1000.
   */
  readonly failureCacheTtlMs?: number | undefined
  /** Largest response body read. Default 1 MiB. */
  readonly responseBytesMax?: number | undefined
}

export const httpDefaults = {
  cacheEntriesMax: 256,
  failureCacheTtlMs: 1_000,
  responseBytesMax: 1024 * 1024
} as const

type ResolvedHttpOptions = Required<{ readonly [K in keyof HttpOptions]: NonNullable<HttpOptions[K]> }>

const assertBound = (name: string, value: number, min: number): void => {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Rates.layerHttp: ${name} must be an integer >= ${min}, got ${value}`)
  }
}

/** Fills defaults and asserts the bounds (a bad bound is a configuration bug: a defect at start-up). */
export const resolveHttpOptions = (options: HttpOptions): ResolvedHttpOptions => {
  const resolved: ResolvedHttpOptions = {
    url: new URL(options.url).href,
    timeoutMs: options.timeoutMs,
    cacheTtlMs: options.cacheTtlMs,
    cacheEntriesMax: options.cacheEntriesMax ?? httpDefaults.cacheEntriesMax,
    failureCacheTtlMs: options.failureCacheTtlMs ?? httpDefaults.failureCacheTtlMs,
    responseBytesMax: options.responseBytesMax ?? httpDefaults.responseBytesMax
  }
  assertBound("timeoutMs", resolved.timeoutMs, 1)
  assertBound("cacheTtlMs", resolved.cacheTtlMs, 0)
  assertBound("cacheEntriesMax", resolved.cacheEntriesMax, 1)
  assertBound("failureCacheTtlMs", resolved.failureCacheTtlMs, 0)
  assertBound("responseBytesMax", resolved.responseBytesMax, 1)
  return resolved
}

const RatesResponse = Schema.Struct({
  base: Schema.String,
  rates: Schema.Record(Schema.String, Schema.Unknown)
})

const decodeRatesResponse = Schema.decodeUnknownEffect(Schema.fromJsonString(RatesResponse))

const unavailable = (base: string, message: string, cause?: unknown): RatesUnavailable =>
  new RatesUnavailable({ base, message, cause })

const isOk = (status: number): boolean => status >= 200 && status < 300

interface Body {
  readonly chunks: Array<Uint8Array>
  readonly bytes: number
}

/** Reads the body as UTF-8, failing as soon as it grows past `bytesMax` (the rest is never read). */
const readBody = (
  response: HttpClientResponse.HttpClientResponse,
  base: string,
  bytesMax: number
): Effect.Effect<string, RatesUnavailable | HttpClientError.HttpClientError> =>
  Stream.runFoldEffect(
    response.stream,
    (): Body => ({ chunks: [], bytes: 0 }),
    (body, chunk) => {
      const bytes = body.bytes + chunk.byteLength
      if (bytes > bytesMax) return Effect.fail(unavailable(base, `rates response over ${bytesMax} bytes`))
      body.chunks.push(chunk)
      return Effect.succeed({ chunks: body.chunks, bytes })
    }
  ).pipe(Effect.map((body) => Buffer.concat(body.chunks).toString("utf8")))

type FetchError = RatesUnavailable | Schema.SchemaError | HttpClientError.HttpClientError | Cause.TimeoutError

const toUnavailable = (base: string, timeoutMs: number) => (error: FetchError): RatesUnavailable => {
  switch (error._tag) {
    case "RatesUnavailable":
      return error
    case "TimeoutError":
      return unavailable(base, `rates source timed out after ${timeoutMs} ms`, error)
    case "SchemaError":
      return unavailable(base, `malformed rates response: ${error.message}`, error)
    case "HttpClientError":
      return unavailable(base, `rates request failed: ${error.message}`, error)
  }
}

/**
 * One bounded `GET <url>?base=CODE`, decoded into ready-made quotes. Runs only on a cache miss. The
 * body is read (up to `responseBytesMax`) before the status is judged, so an error answer frees its
 * connection for reuse.
 */
const fetchQuotes = (client: HttpClient.HttpClient, options: ResolvedHttpOptions) =>
  Effect.fn("Rates.fetchQuotes")(
    function*(base: string) {
      const response = yield* client.get(options.url, { urlParams: { base } })
      const text = yield* readBody(response, base, options.responseBytesMax)
      if (!isOk(response.status)) return yield* unavailable(base, `rates source answered HTTP ${response.status}`)
      const decoded = yield* decodeRatesResponse(text)
      if (decoded.base !== base) return yield* unavailable(base, `rates source answered for base ${decoded.base}`)
      return quotesFrom(base, decoded.rates)
    },
    (effect, base) =>
      effect.pipe(
        Effect.timeout(options.timeoutMs),
        Effect.mapError(toUnavailable(base, options.timeoutMs)),
        Effect.tapError((error) => Effect.logWarning(error.message).pipe(Effect.annotateLogs({ base })))
      )
  )

/**
 * A `Rates` backed by the HTTP source. A fresh cache hit is a synchronous `Map` lookup returning a
 * pre-built result: no I/O, no parsing, no allocation, no span (the hot path is deliberately not
 * `Effect.fn`-traced; fetches are).
 */
export const makeHttp = (
  options: HttpOptions
): Effect.Effect<Rates["Service"], never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = resolveHttpOptions(options)
    const client = yield* HttpClient.HttpClient
    const cache = yield* CoalescingCache.make({
      lookup: fetchQuotes(client, resolved),
      successTtlMs: resolved.cacheTtlMs,
      failureTtlMs: resolved.failureCacheTtlMs,
      entriesMax: resolved.cacheEntriesMax
    })
    return Rates.of({
      rate: (sourceCode, destinationCode) => {
        if (sourceCode === destinationCode) return identity
        const quotes = cache.peek(sourceCode)
        if (quotes !== undefined) return lookupQuote(quotes, destinationCode)
        return Effect.flatMap(cache.get(sourceCode), (fetched) => lookupQuote(fetched, destinationCode))
      }
    })
  })

/** Rates fetched over HTTP, cached per base; see `HttpOptions` for the bounds. */
export const layerHttp = (options: HttpOptions): Layer.Layer<Rates, never, HttpClient.HttpClient> =>
  Layer.effect(Rates)(makeHttp(options))
