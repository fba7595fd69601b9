/**
 * Stages 9–10: the destination amount, rounded down. Missing rate F07, rates down T00, non-zero
 * to zero R01, beyond u64 F07.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Asset } from "../../../src/Config.ts"
import type { Priced, Routed } from "../../../src/Connector/Stage.ts"
import { exchangeRate } from "../../../src/Connector/stages/ExchangeRate.ts"
import { makeStatic, type Rates, RatesUnavailable } from "../../../src/Rates/Rates.ts"
import { localReceiver, peerEntry, request, routedLocal, routedToPeer, spy } from "../fixtures.ts"

const u64Max = (1n << 64n) - 1n

/** Static rates wrapped so the test can see whether the stage asked for a rate. */
const countingRates = (inner: Rates["Service"] = makeStatic({ USD: { EUR: "0.9", JPY: 150 }, EUR: { USD: "1.1" } })) => {
  const asked: Array<string> = []
  const rates: Rates["Service"] = {
    rate: (source, destination) => {
      asked.push(`${source}→${destination}`)
      return inner.rate(source, destination)
    }
  }
  return { rates, asked }
}

const toPeer = (amount: bigint, source: Asset, destination: Asset): Routed =>
  routedToPeer(request({ prepare: { amount }, source: { asset: source } }), peerEntry({ asset: destination }))

const usd2 = { code: "USD", scale: 2 }
const eur2 = { code: "EUR", scale: 2 }
const eur9 = { code: "EUR", scale: 9 }
const jpy0 = { code: "JPY", scale: 0 }

const run = (routed: Routed, rates: Rates["Service"] = countingRates().rates) =>
  Effect.gen(function*() {
    const terminal = spy<Priced>()
    const exit = yield* Effect.exit(exchangeRate(rates)(terminal.handler)(routed))
    return { exit, calls: terminal.calls }
  })

const priced = (routed: Routed, rates?: Rates["Service"]) =>
  Effect.gen(function*() {
    const { exit, calls } = yield* run(routed, rates)
    expect(exit._tag).toBe("Success")
    expect(calls).toHaveLength(1)
    return calls[0]!
  })

const failure = (routed: Routed, rates?: Rates["Service"]) =>
  Effect.gen(function*() {
    const terminal = spy<Priced>()
    const error = yield* Effect.flip(exchangeRate(rates ?? countingRates().rates)(terminal.handler)(routed))
    expect(terminal.calls).toHaveLength(0)
    return error
  })

describe("stages/ExchangeRate", () => {
  it.effect("same asset passes the amount through without asking for a rate", () =>
    Effect.gen(function*() {
      const { rates, asked } = countingRates()
      const input = toPeer(u64Max, usd2, usd2)
      const out = yield* priced(input, rates)
      expect(out.destinationAmount).toBe(u64Max)
      expect(out.prepare).toBe(input.prepare)
      expect(out.destination).toBe(input.destination)
      expect(asked).toEqual([])
    }))

  it.effect("cross asset converts at the rate and rounds down", () =>
    Effect.gen(function*() {
      const { rates, asked } = countingRates()
      expect((yield* priced(toPeer(1_001n, usd2, eur2), rates)).destinationAmount).toBe(900n) // 900.9
      expect((yield* priced(toPeer(1_000n, usd2, eur2), rates)).destinationAmount).toBe(900n)
      expect((yield* priced(toPeer(9n, eur2, usd2), rates)).destinationAmount).toBe(9n) // 9.9
      expect(asked).toEqual(["USD→EUR", "USD→EUR", "EUR→USD"])
    }))

  it.effect("scales are applied: USD/2 → EUR/9 and USD/2 → JPY/0", () =>
    Effect.gen(function*() {
      expect((yield* priced(toPeer(1n, usd2, eur9))).destinationAmount).toBe(9_000_000n)
      expect((yield* priced(toPeer(199n, usd2, jpy0))).destinationAmount).toBe(298n) // 298.5
    }))

  it.effect("same code at another scale converts by the scale alone", () =>
    Effect.gen(function*() {
      expect((yield* priced(toPeer(5n, usd2, { code: "USD", scale: 4 }))).destinationAmount).toBe(500n)
      expect((yield* priced(toPeer(599n, { code: "USD", scale: 4 }, usd2))).destinationAmount).toBe(5n)
    }))

  it.effect("a local destination is priced in the receiver's asset", () =>
    Effect.gen(function*() {
      expect(localReceiver.asset).toEqual(eur2)
      const out = yield* priced(routedLocal(request({ prepare: { amount: 100n }, source: { asset: usd2 } })))
      expect(out.destinationAmount).toBe(90n)
    }))

  it.effect("missing rate → RateUnavailable (F07)", () =>
    Effect.gen(function*() {
      expect((yield* failure(toPeer(100n, usd2, { code: "CHF", scale: 2 })))._tag).toBe("RateUnavailable")
      expect((yield* failure(toPeer(100n, jpy0, usd2)))._tag).toBe("RateUnavailable") // no inverse derived
    }))

  it.effect("rates source down → InternalError (T00)", () =>
    Effect.gen(function*() {
      const down: Rates["Service"] = { rate: () => Effect.fail(new RatesUnavailable({ base: "USD", message: "timed out" })) }
      expect((yield* failure(toPeer(100n, usd2, eur2), down))._tag).toBe("InternalError")
    }))

  it.effect("a non-zero amount that converts to 0 → AmountTooSmall (R01)", () =>
    Effect.gen(function*() {
      expect((yield* failure(toPeer(1n, eur9, usd2)))._tag).toBe("AmountTooSmall")
    }))

  it.effect("the smallest amount that does not round to 0 passes", () =>
    Effect.gen(function*() {
      // 1 EUR/9 unit = 1.1e-9 USD = 1.1e-7 USD/2 units: 10^7 / 1.1 → the first amount giving 1 is 9_090_910.
      expect((yield* failure(toPeer(9_090_909n, eur9, usd2)))._tag).toBe("AmountTooSmall")
      expect((yield* priced(toPeer(9_090_910n, eur9, usd2))).destinationAmount).toBe(1n)
    }))

  it.effect("zero stays zero and passes (zero-amount packets still get priced)", () =>
    Effect.gen(function*() {
      expect((yield* priced(toPeer(0n, eur9, usd2))).destinationAmount).toBe(0n)
    }))

  it.effect("a converted amount beyond u64 → RateUnavailable", () =>
    Effect.gen(function*() {
      expect((yield* failure(toPeer(u64Max, usd2, jpy0)))._tag).toBe("RateUnavailable")
    }))
})
