import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as Rates from "../../src/Rates/Rates.ts"

const config: Rates.StaticRates = {
  USD: { EUR: "0.9", JPY: 150, GBP: 0.79 },
  EUR: { USD: "1.1" },
  BAD: { ZERO: 0, NEG: -1, NEGSTR: "-0.5", TEXT: "abc", NAN: Number.NaN, INF: Number.POSITIVE_INFINITY, EMPTY: "" }
}

const layer = Rates.layerStatic(config)

const rate = (source: string, destination: string) =>
  Rates.Rates.use((rates) => rates.rate(source, destination))

describe("Rates.layerStatic", () => {
  it.effect("answers listed pairs exactly, from strings and numbers", () =>
    Effect.gen(function*() {
      expect(yield* rate("USD", "EUR")).toEqual({ num: 9n, den: 10n })
      expect(yield* rate("USD", "JPY")).toEqual({ num: 150n, den: 1n })
      expect(yield* rate("USD", "GBP")).toEqual({ num: 79n, den: 100n })
      expect(yield* rate("EUR", "USD")).toEqual({ num: 11n, den: 10n })
    }).pipe(Effect.provide(layer)))

  it.effect("same code is rate 1 without a lookup, even when unlisted", () =>
    Effect.gen(function*() {
      expect(yield* rate("XRP", "XRP")).toEqual({ num: 1n, den: 1n })
      expect(yield* rate("USD", "USD")).toEqual({ num: 1n, den: 1n })
    }).pipe(Effect.provide(layer)))

  it.effect("missing pairs are RateMissing; no inverse is derived; codes are case-sensitive", () =>
    Effect.gen(function*() {
      for (const [source, destination] of [["USD", "CHF"], ["JPY", "USD"], ["CHF", "USD"], ["usd", "EUR"]] as const) {
        const error = yield* Effect.flip(rate(source, destination))
        expect(error._tag).toBe("RateMissing")
        expect(error).toMatchObject({ sourceCode: source, destinationCode: destination })
      }
    }).pipe(Effect.provide(layer)))

  it.effect("invalid values (zero, negative, non-numeric, NaN, Infinity, empty) are RateMissing", () =>
    Effect.gen(function*() {
      for (const quote of ["ZERO", "NEG", "NEGSTR", "TEXT", "NAN", "INF", "EMPTY"]) {
        const error = yield* Effect.flip(rate("BAD", quote))
        expect(error._tag).toBe("RateMissing")
        expect(error.message).toContain(`BAD→${quote}`)
      }
    }).pipe(Effect.provide(layer)))

  it.effect("an invalid entry does not stop the layer, nor spoil valid ones", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(rate("USD", "EUR").pipe(Effect.provide(Rates.layerStatic({ USD: { EUR: 0.9, X: "?" } }))))
      expect(exit).toEqual(Exit.succeed({ num: 9n, den: 10n }))
    }))
})

describe("Rates.convert", () => {
  const usd2 = { code: "USD", scale: 2 }
  const eur2 = { code: "EUR", scale: 2 }
  const eur9 = { code: "EUR", scale: 9 }

  it("floors the destination amount", () => {
    const rate = { num: 9n, den: 10n }
    expect(Rates.convert(100n, usd2, eur2, rate)).toBe(90n)
    expect(Rates.convert(1n, usd2, eur2, rate)).toBe(0n) // the stage turns this into R01
    expect(Rates.convert(19n, usd2, eur2, rate)).toBe(17n) // 17.1
    expect(Rates.convert(100n, usd2, eur9, rate)).toBe(900_000_000n)
    expect(Rates.convert(0n, usd2, eur2, rate)).toBe(0n)
  })

  it.effect("exchange looks the rate up and converts", () =>
    Effect.gen(function*() {
      expect(yield* Rates.exchange(1000n, usd2, eur9)).toBe(9_000_000_000n)
      expect(yield* Rates.exchange(1234n, usd2, { code: "USD", scale: 0 })).toBe(12n)
      const error = yield* Effect.flip(Rates.exchange(1n, eur2, { code: "JPY", scale: 0 }))
      expect(error._tag).toBe("RateMissing")
    }).pipe(Effect.provide(layer)))
})
