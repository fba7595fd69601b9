import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Rates from "../../src/Rates/Rates.ts"
import * as RatesHttp from "../../src/Rates/RatesHttp.ts"
import { delayed, fromTable, json, startRateServer } from "./rateServer.ts"

const table = {
  USD: { EUR: 0.9, JPY: 150, GBP: "0.79", ZERO: 0, NEG: -1.5, TEXT: "abc", NULL: null },
  EUR: { USD: 1.1 }
}

const options = (url: string, overrides: Partial<RatesHttp.HttpOptions> = {}): RatesHttp.HttpOptions => ({
  url,
  timeoutMs: 2_000,
  cacheTtlMs: 60_000,
  failureCacheTtlMs: 0,
  ...overrides
})

/** The HTTP `Rates` over a real undici client, released with the test's scope. */
const httpRates = (opts: RatesHttp.HttpOptions) =>
  Layer.build(RatesHttp.layerHttp(opts).pipe(Layer.provide(NodeHttpClient.layerUndici))).pipe(
    Effect.map((context) => Context.get(context, Rates.Rates))
  )

describe("RatesHttp.layerHttp", () => {
  it.effect("fetches a base and answers its quotes exactly", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(fromTable(table))
      const rates = yield* httpRates(options(server.url))
      expect(yield* rates.rate("USD", "EUR")).toEqual({ num: 9n, den: 10n })
      expect(yield* rates.rate("USD", "JPY")).toEqual({ num: 150n, den: 1n })
      expect(yield* rates.rate("USD", "GBP")).toEqual({ num: 79n, den: 100n })
      expect(yield* rates.rate("EUR", "USD")).toEqual({ num: 11n, den: 10n })
      expect(server.bases).toEqual(["USD", "EUR"])
    }))

  it.effect("same code is rate 1 without any request", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(fromTable(table))
      const rates = yield* httpRates(options(server.url))
      expect(yield* rates.rate("XYZ", "XYZ")).toEqual({ num: 1n, den: 1n })
      expect(server.bases).toEqual([])
    }))

  it.effect("an unlisted quote or an invalid value is RateMissing (and the base stays cached)", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(fromTable(table))
      const rates = yield* httpRates(options(server.url))
      for (const quote of ["CHF", "ZERO", "NEG", "TEXT", "NULL"]) {
        const error = yield* Effect.flip(rates.rate("USD", quote))
        expect(error).toMatchObject({ _tag: "RateMissing", sourceCode: "USD", destinationCode: quote })
      }
      const unknownBase = yield* Effect.flip(rates.rate("CHF", "USD"))
      expect(unknownBase._tag).toBe("RateMissing")
      expect(server.bases).toEqual(["USD", "CHF"])
    }))

  it.effect("caches a base for cacheTtlMs (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(fromTable(table))
      const rates = yield* httpRates(options(server.url, { cacheTtlMs: 10_000 }))
      yield* rates.rate("USD", "EUR")
      yield* rates.rate("USD", "JPY")
      expect(server.bases.length).toBe(1)
      yield* TestClock.adjust(9_999)
      yield* rates.rate("USD", "EUR")
      expect(server.bases.length).toBe(1)
      yield* TestClock.adjust(1)
      yield* rates.rate("USD", "EUR")
      expect(server.bases.length).toBe(2)
      yield* rates.rate("USD", "GBP")
      expect(server.bases.length).toBe(2)
    }))

  it.effect("coalesces concurrent lookups of one base into one request", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(delayed(100, fromTable(table)))
      const rates = yield* httpRates(options(server.url))
      const quotes = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? "EUR" : "JPY"))
      const results = yield* Effect.all(quotes.map((quote) => rates.rate("USD", quote)), { concurrency: "unbounded" })
      expect(results.filter((rate) => rate.den === 10n)).toHaveLength(25)
      expect(server.bases).toEqual(["USD"])
    }))

  it.effect("bounds the cache to cacheEntriesMax bases, dropping the least recently fetched", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(fromTable({ A: { X: 1 }, B: { X: 2 }, C: { X: 3 } }))
      const rates = yield* httpRates(options(server.url, { cacheEntriesMax: 2 }))
      yield* rates.rate("A", "X")
      yield* rates.rate("B", "X")
      yield* rates.rate("A", "X") // hit: free, does not reorder
      yield* rates.rate("C", "X") // drops A, the oldest fetch
      yield* rates.rate("B", "X")
      yield* rates.rate("C", "X")
      expect(server.bases).toEqual(["A", "B", "C"])
      yield* rates.rate("A", "X") // refetched, drops B
      yield* rates.rate("C", "X")
      expect(server.bases).toEqual(["A", "B", "C", "A"])
      yield* rates.rate("B", "X")
      expect(server.bases).toEqual(["A", "B", "C", "A", "B"])
    }))

  it.live("a hung source is RatesUnavailable within timeoutMs", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(() => {/* never answers */})
      const rates = yield* httpRates(options(server.url, { timeoutMs: 150 }))
      const start = yield* Clock.currentTimeMillis
      const error = yield* Effect.flip(rates.rate("USD", "EUR"))
      const elapsedMs = (yield* Clock.currentTimeMillis) - start
      expect(error).toMatchObject({ _tag: "RatesUnavailable", base: "USD" })
      expect(error.message).toContain("timed out after 150 ms")
      expect(elapsedMs).toBeGreaterThanOrEqual(140)
      // Not hanging; generous, a busy machine may add seconds.
      expect(elapsedMs).toBeLessThan(10_000)
    }))

  it.live("a slow body also counts against timeoutMs", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer((_, response) => {
        response.writeHead(200, { "content-type": "application/json" })
        response.write("{\"base\":\"USD\",") // and never the rest
      })
      const rates = yield* httpRates(options(server.url, { timeoutMs: 150 }))
      const error = yield* Effect.flip(rates.rate("USD", "EUR"))
      expect(error._tag).toBe("RatesUnavailable")
    }))

  type Respond = (response: Parameters<Parameters<typeof startRateServer>[0]>[1]) => void
  const garbage: ReadonlyArray<[string, Respond, string]> = [
    ["HTTP 500", (response) => json(response, { error: "boom" }, 500), "answered HTTP 500"],
    ["HTTP 404", (response) => json(response, { error: "no such base" }, 404), "answered HTTP 404"],
    ["not JSON", (response) => json(response, "<html>oops</html>"), "malformed rates response"],
    ["empty body", (response) => json(response, ""), "malformed rates response"],
    ["rates missing", (response) => json(response, { base: "USD" }), "malformed rates response"],
    ["rates not an object", (response) => json(response, { base: "USD", rates: [0.9] }), "malformed rates response"],
    ["base not a string", (response) => json(response, { base: 1, rates: {} }), "malformed rates response"],
    ["another base", (response) => json(response, { base: "EUR", rates: { USD: 1.1 } }), "answered for base EUR"],
    [
      "body over responseBytesMax",
      (response) => json(response, { base: "USD", rates: { EUR: 0.9, PAD: "x".repeat(2_000) } }),
      "over 1024 bytes"
    ]
  ]

  for (const [name, respond, why] of garbage) {
    it.effect(`${name} is RatesUnavailable`, () =>
      Effect.gen(function*() {
        const server = yield* startRateServer((_, response) => respond(response))
        const rates = yield* httpRates(options(server.url, { responseBytesMax: 1_024 }))
        const error = yield* Effect.flip(rates.rate("USD", "EUR"))
        expect(error).toMatchObject({ _tag: "RatesUnavailable", base: "USD" })
        expect(error.message).toContain(why)
      }))
  }

  it.effect("a body of exactly responseBytesMax is read", () =>
    Effect.gen(function*() {
      const head = JSON.stringify({ base: "USD", rates: { EUR: 0.9, PAD: "" } })
      const body = JSON.stringify({ base: "USD", rates: { EUR: 0.9, PAD: "x".repeat(1_024 - head.length) } })
      expect(body.length).toBe(1_024)
      const server = yield* startRateServer((_, response) => json(response, body))
      const rates = yield* httpRates(options(server.url, { responseBytesMax: 1_024 }))
      expect(yield* rates.rate("USD", "EUR")).toEqual({ num: 9n, den: 10n })
    }))

  it.effect("a closed server is RatesUnavailable", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(fromTable(table))
      yield* server.close
      const rates = yield* httpRates(options(server.url))
      const error = yield* Effect.flip(rates.rate("USD", "EUR"))
      expect(error).toMatchObject({ _tag: "RatesUnavailable", base: "USD" })
      expect(error.message).toContain("rates request failed")
    }))

  it.effect("a failure is not cached when failureCacheTtlMs is 0", () =>
    Effect.gen(function*() {
      let calls = 0
      const server = yield* startRateServer((base, response) => {
        calls += 1
        return calls === 1 ? json(response, "down", 503) : fromTable(table)(base, response)
      })
      const rates = yield* httpRates(options(server.url, { failureCacheTtlMs: 0 }))
      expect((yield* Effect.flip(rates.rate("USD", "EUR")))._tag).toBe("RatesUnavailable")
      expect(yield* rates.rate("USD", "EUR")).toEqual({ num: 9n, den: 10n })
      expect(server.bases.length).toBe(2)
    }))

  it.effect("a failure is cached for failureCacheTtlMs, then retried (TestClock)", () =>
    Effect.gen(function*() {
      let calls = 0
      const server = yield* startRateServer((base, response) => {
        calls += 1
        return calls === 1 ? json(response, "down", 503) : fromTable(table)(base, response)
      })
      const rates = yield* httpRates(options(server.url, { failureCacheTtlMs: 1_000 }))
      expect((yield* Effect.flip(rates.rate("USD", "EUR")))._tag).toBe("RatesUnavailable")
      expect((yield* Effect.flip(rates.rate("USD", "JPY")))._tag).toBe("RatesUnavailable")
      expect(server.bases.length).toBe(1)
      yield* TestClock.adjust(1_000)
      expect(yield* rates.rate("USD", "EUR")).toEqual({ num: 9n, den: 10n })
      expect(server.bases.length).toBe(2)
    }))

  it.effect("an interrupted caller neither wedges the base nor cancels the fetch others share", () =>
    Effect.gen(function*() {
      const server = yield* startRateServer(delayed(50, fromTable(table)))
      const rates = yield* httpRates(options(server.url))
      const fiber = yield* Effect.forkChild(rates.rate("USD", "EUR"))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      expect(yield* rates.rate("USD", "EUR")).toEqual({ num: 9n, den: 10n })
      expect(server.bases).toEqual(["USD"])
    }))

  it.effect("bad bounds are a defect at layer construction", () =>
    Effect.gen(function*() {
      for (const bad of [{ timeoutMs: 0 }, { cacheTtlMs: -1 }, { cacheEntriesMax: 0 }, { timeoutMs: 1.5 }, { url: "not a url" }]) {
        const exit = yield* Effect.exit(httpRates(options("http://127.0.0.1:1/rates", bad)))
        expect(exit._tag).toBe("Failure")
      }
    }))
})
