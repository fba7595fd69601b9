/**
 * The receipt totals contract. Every layer runs this one suite (`ReceiptTotalsMemory.test.ts`,
 * `ReceiptTotalsSqlite.test.ts`, `ReceiptTotalsRedis.test.ts`). Tests use fresh keys, so they run
 * concurrently against one store, in real time (the TTL test sleeps about 2.3 s under "live" timing).
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import { randomUUID } from "node:crypto"
import {
  type AddRequest,
  type AddResult,
  type ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReceiptTotalsShape
} from "../../src/Stream/ReceiptTotals.ts"

/** The TTL every contract layer is built with. */
export const contractTtlSeconds = 1

const u64Max = 2n ** 64n - 1n
const fresh = (label: string) => `${label}-${randomUUID()}`

const add = (request: AddRequest) => ReceiptTotals.use((totals) => totals.add(request))
const get = (key: string) => ReceiptTotals.use((totals) => totals.get(key))
const paymentTotal = (key: string) => ReceiptTotals.use((totals) => totals.paymentTotal(key))

/** The expected shape of a concurrent run: everything accepted sums to the total, never past the cap. */
export const checkConcurrentRun = (
  amounts: ReadonlyArray<bigint>,
  results: ReadonlyArray<AddResult>,
  cap: bigint,
  finalTotal: bigint
): { readonly acceptedSum: bigint } => {
  let acceptedSum = 0n
  results.forEach((result, i) => {
    const amount = amounts[i]!
    if (result.accepted) {
      acceptedSum += amount
      expect(result.paymentTotal! <= cap).toBe(true)
    } else {
      expect(result.remaining).toBe(cap - result.paymentTotal)
      expect(amount > result.remaining).toBe(true)
      // The total only grows, so a refused amount must not fit under the final total either.
      expect(finalTotal + amount > cap).toBe(true)
    }
  })
  expect(finalTotal).toBe(acceptedSum)
  expect(finalTotal <= cap).toBe(true)
  return { acceptedSum }
}

/**
 * 200 concurrent random adds over 4 connections against one capped payment (cap = half their sum),
 * spread over `stores` (several instances sharing one backend), then 1000 concurrent single units,
 * which must fill the cap exactly: what is left after the first round is smaller than the largest
 * refused amount (<= 1000).
 */
export const concurrentCapRun = (seed: number, stores: ReadonlyArray<ReceiptTotalsShape>) =>
  Effect.gen(function*() {
    const store = (i: number) => stores[i % stores.length]!
    const amounts = fc.sample(fc.bigInt({ min: 1n, max: 1_000n }), { numRuns: 200, seed })
    const cap = amounts.reduce((sum, amount) => sum + amount, 0n) / 2n
    const payment = { key: fresh("pay"), cap }
    const connections = [0, 1, 2, 3].map(() => fresh("conn"))
    const results = yield* Effect.forEach(
      amounts,
      (amount, i) => store(i).add({ connectionKey: connections[i % 4]!, amount, payment }),
      { concurrency: "unbounded" }
    )
    const afterFirstRound = yield* store(0).paymentTotal(payment.key)
    checkConcurrentRun(amounts, results, cap, afterFirstRound)
    const connectionTotals = yield* Effect.forEach(connections, (key, i) => store(i).get(key))
    expect(connectionTotals.reduce((sum, total) => sum + total, 0n)).toBe(afterFirstRound)

    const units = Array.from({ length: 1_000 }, () => 1n)
    const unitResults = yield* Effect.forEach(
      units,
      (amount, i) => store(i).add({ connectionKey: connections[0]!, amount, payment }),
      { concurrency: "unbounded" }
    )
    expect(yield* store(1).paymentTotal(payment.key)).toBe(cap)
    expect(unitResults.filter((result) => result.accepted).length).toBe(Number(cap - afterFirstRound))
  })

/**
 * Adds every 300 ms for 1.2 s (past the 1 s TTL, so only refreshing keeps the key), then waits
 * 1.1 s without adds (past the last add's expiry).
 */
const ttlRun = (wait: (ms: number) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    const connectionKey = fresh("conn")
    const payment = { key: fresh("pay") }
    for (let i = 0; i < 4; i++) {
      yield* add({ connectionKey, amount: 1n, payment })
      yield* wait(300)
      expect(yield* get(connectionKey)).toBe(BigInt(i + 1))
    }
    yield* wait(contractTtlSeconds * 1000 + 100)
    expect(yield* get(connectionKey)).toBe(0n)
    expect(yield* paymentTotal(payment.key)).toBe(4n)
    // An expired connection starts again from zero.
    expect(yield* add({ connectionKey, amount: 2n, payment })).toEqual({
      accepted: true,
      connectionTotal: 2n,
      paymentTotal: 6n
    })
  })

/**
 * `timing: "test"` (layers that read Effect's `Clock`) runs the TTL test on its own store instance
 * with a `TestClock`, without sleeping; `"live"` (Redis keeps its own time) sleeps for real.
 */
export const receiptTotalsContract = (
  name: string,
  makeLayer: (connectionTtlSeconds: number) => Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable>,
  timing: "live" | "test"
): void => {
  layer(makeLayer(contractTtlSeconds), { excludeTestServices: true, timeout: "20 seconds", concurrent: true })(
    `${name} receipt totals contract`,
    (it) => {
      it.effect("accepts an add without a payment and reports only the connection total", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          expect(yield* get(connectionKey)).toBe(0n)
          expect(yield* add({ connectionKey, amount: 5n })).toEqual({ accepted: true, connectionTotal: 5n })
          expect(yield* get(connectionKey)).toBe(5n)
        }))

      it.effect("accumulates connection totals per key", () =>
        Effect.gen(function*() {
          const [a, b] = [fresh("conn"), fresh("conn")]
          const payment = { key: fresh("pay") }
          expect(yield* add({ connectionKey: a, amount: 10n, payment })).toEqual({
            accepted: true,
            connectionTotal: 10n,
            paymentTotal: 10n
          })
          expect(yield* add({ connectionKey: b, amount: 7n, payment })).toEqual({
            accepted: true,
            connectionTotal: 7n,
            paymentTotal: 17n
          })
          expect(yield* add({ connectionKey: a, amount: 1n })).toEqual({ accepted: true, connectionTotal: 11n })
          expect([yield* get(a), yield* get(b), yield* paymentTotal(payment.key)]).toEqual([11n, 7n, 17n])
        }))

      it.effect("accepts the amount that reaches the cap exactly and refuses the next unit", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const payment = { key: fresh("pay"), cap: 100n }
          expect(yield* add({ connectionKey, amount: 60n, payment })).toMatchObject({ accepted: true })
          expect(yield* add({ connectionKey, amount: 40n, payment })).toEqual({
            accepted: true,
            connectionTotal: 100n,
            paymentTotal: 100n
          })
          expect(yield* add({ connectionKey, amount: 1n, payment })).toEqual({
            accepted: false,
            paymentTotal: 100n,
            remaining: 0n
          })
          // A zero amount still fits.
          expect(yield* add({ connectionKey, amount: 0n, payment })).toMatchObject({ accepted: true, paymentTotal: 100n })
        }))

      it.effect("a refusal changes nothing and reports what may still arrive", () =>
        Effect.gen(function*() {
          const [connectionKey, other] = [fresh("conn"), fresh("conn")]
          const payment = { key: fresh("pay"), cap: 100n }
          yield* add({ connectionKey, amount: 60n, payment })
          expect(yield* add({ connectionKey: other, amount: 41n, payment })).toEqual({
            accepted: false,
            paymentTotal: 60n,
            remaining: 40n
          })
          expect([yield* get(connectionKey), yield* get(other), yield* paymentTotal(payment.key)]).toEqual([
            60n,
            0n,
            60n
          ])
          expect(yield* add({ connectionKey: other, amount: 40n, payment })).toMatchObject({
            accepted: true,
            connectionTotal: 40n,
            paymentTotal: 100n
          })
        }))

      it.effect("a cap of zero refuses any positive amount", () =>
        Effect.gen(function*() {
          const payment = { key: fresh("pay"), cap: 0n }
          expect(yield* add({ connectionKey: fresh("conn"), amount: 1n, payment })).toEqual({
            accepted: false,
            paymentTotal: 0n,
            remaining: 0n
          })
        }))

      it.effect("a total already past a lowered cap reports nothing remaining", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const key = fresh("pay")
          yield* add({ connectionKey, amount: 50n, payment: { key } })
          expect(yield* add({ connectionKey, amount: 1n, payment: { key, cap: 30n } })).toEqual({
            accepted: false,
            paymentTotal: 50n,
            remaining: 0n
          })
        }))

      it.effect("totals are exact beyond 2^53 and 2^64", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const payment = { key: fresh("pay") }
          const p53 = 2n ** 53n
          expect(yield* add({ connectionKey, amount: p53, payment })).toMatchObject({ connectionTotal: p53 })
          expect(yield* add({ connectionKey, amount: 1n, payment })).toMatchObject({ connectionTotal: p53 + 1n })
          expect(yield* add({ connectionKey, amount: 1n, payment })).toMatchObject({ connectionTotal: p53 + 2n })
          const total = p53 + 2n + 3n * u64Max
          for (let i = 0; i < 3; i++) yield* add({ connectionKey, amount: u64Max, payment })
          expect([yield* get(connectionKey), yield* paymentTotal(payment.key)]).toEqual([total, total])
          expect(total > 2n ** 65n).toBe(true)
        }))

      it.effect("caps beyond 2^64 are compared exactly", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const cap = 2n * u64Max + 1n
          const payment = { key: fresh("pay"), cap }
          yield* add({ connectionKey, amount: u64Max, payment })
          yield* add({ connectionKey, amount: u64Max, payment })
          expect(yield* add({ connectionKey, amount: 2n, payment })).toEqual({
            accepted: false,
            paymentTotal: 2n * u64Max,
            remaining: 1n
          })
          expect(yield* add({ connectionKey, amount: 1n, payment })).toEqual({
            accepted: true,
            connectionTotal: cap,
            paymentTotal: cap
          })
        }))

      it.effect("matches a BigInt model on random u64 sequences", () =>
        Effect.gen(function*() {
          const sequences = fc.sample(
            fc.tuple(
              fc.array(fc.bigInt({ min: 0n, max: u64Max }), { minLength: 1, maxLength: 8 }),
              fc.bigInt({ min: 0n, max: 2n ** 67n })
            ),
            { numRuns: 30, seed: 7 }
          )
          yield* Effect.forEach(sequences, ([amounts, cap]) =>
            Effect.gen(function*() {
              const connectionKey = fresh("conn")
              const payment = { key: fresh("pay"), cap }
              let model = 0n
              for (const amount of amounts) {
                const result = yield* add({ connectionKey, amount, payment })
                const fits = model + amount <= cap
                if (fits) model += amount
                expect(result).toEqual(
                  fits
                    ? { accepted: true, connectionTotal: model, paymentTotal: model }
                    : { accepted: false, paymentTotal: model, remaining: cap - model }
                )
              }
            }), { concurrency: 8 })
        }))

      it.effect("refreshes the connection TTL on each add; payments do not expire", () =>
        timing === "live"
          ? ttlRun(Effect.sleep)
          : ttlRun(TestClock.adjust).pipe(Effect.provide(Layer.provideMerge(makeLayer(contractTtlSeconds), TestClock.layer()))))

      it.effect("deletePayment forgets the payment total and nothing else", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const payment = { key: fresh("pay"), cap: 10n }
          yield* add({ connectionKey, amount: 10n, payment })
          const totals = yield* ReceiptTotals
          yield* totals.deletePayment(payment.key)
          yield* totals.deletePayment(payment.key)
          yield* totals.deletePayment(fresh("never-added"))
          expect([yield* paymentTotal(payment.key), yield* get(connectionKey)]).toEqual([0n, 10n])
          expect(yield* add({ connectionKey, amount: 10n, payment })).toEqual({
            accepted: true,
            connectionTotal: 20n,
            paymentTotal: 10n
          })
        }))

      it.effect("invalid requests are defects", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const invalid: ReadonlyArray<AddRequest> = [
            { connectionKey, amount: -1n },
            { connectionKey, amount: u64Max + 1n },
            { connectionKey: "", amount: 1n },
            { connectionKey: "x".repeat(513), amount: 1n },
            { connectionKey, amount: 1n, payment: { key: "" } },
            { connectionKey, amount: 1n, payment: { key: fresh("pay"), cap: -1n } },
            { connectionKey, amount: 1n, payment: { key: fresh("pay"), cap: 2n ** 128n } }
          ]
          for (const request of invalid) {
            const exit = yield* Effect.exit(add(request))
            expect(Exit.hasDies(exit)).toBe(true)
          }
          expect(Exit.hasDies(yield* Effect.exit(get("")))).toBe(true)
          expect(yield* get(connectionKey)).toBe(0n)
        }))

      it.effect("200 concurrent adds never pass the cap and fill it exactly", () =>
        ReceiptTotals.use((totals) => concurrentCapRun(42, [totals])))
    }
  )
}
