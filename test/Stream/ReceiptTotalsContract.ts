/**
 * The receipt totals contract. Every layer runs this one suite (`ReceiptTotalsMemory.test.ts`,
 * `ReceiptTotalsSqlite.test.ts`, `ReceiptTotalsRedis.test.ts`). Tests use fresh keys, so they run
 * concurrently against one store. Under "live" timing (Redis keeps its own time) the TTL and lapse
 * tests sleep for real, a few seconds each; they wait on conditions with generous deadlines and
 * assert only lower bounds on time (a busy machine makes things late, never early).
 *
 * Over 400 lines on purpose: the contract is one suite that every backend runs whole, so none can
 * skip a part; its concurrent runs are in receiptTotalsConcurrency.ts.
 */
import { expect, layer } from "@effect/vitest"
import { Clock, Effect, Exit, Layer } from "effect"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import { randomUUID } from "node:crypto"
import {
  type AddRequest,
  type ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReserveRequest
} from "../../src/Stream/ReceiptTotals.ts"
import { concurrentCapRun, concurrentReserveRun } from "./receiptTotalsConcurrency.ts"

export { concurrentCapRun, concurrentReserveRun } from "./receiptTotalsConcurrency.ts"

/**
 * The TTL of the shared contract layer: long, so that no test but the TTL test (which builds its
 * own layer with `ttlTestSeconds`) depends on timing.
 */
export const contractTtlSeconds = 3_600
/** The connection TTL of the TTL test. */
export const ttlTestSeconds = 3
/** Pending time of the lapse test. */
const lapseTestMs = 3_000
/** Most a condition is waited for. */
const waitDeadlineMs = 30_000

const u64Max = 2n ** 64n - 1n
const fresh = (label: string) => `${label}-${randomUUID()}`

const add = (request: AddRequest) => ReceiptTotals.use((totals) => totals.add(request))
const get = (key: string) => ReceiptTotals.use((totals) => totals.get(key))
const paymentTotal = (key: string) => ReceiptTotals.use((totals) => totals.paymentTotal(key))
const reserve = (request: ReserveRequest) => ReceiptTotals.use((totals) => totals.reserve(request))
const commit = (packetId: string, connectionKey: string, paymentKey?: string) =>
  ReceiptTotals.use((totals) => totals.commit({ packetId, connectionKey, ...(paymentKey === undefined ? {} : { paymentKey }) }))
const release = (packetId: string, connectionKey: string, paymentKey?: string) =>
  ReceiptTotals.use((totals) => totals.release({ packetId, connectionKey, ...(paymentKey === undefined ? {} : { paymentKey }) }))
/** A pending time no test waits for. */
const longPendingMs = 600_000

/** Polls `check` every `stepMs` (with `wait`, real or test time) until it holds; fails after `deadlineMs`. */
const waitUntil = <E, R>(
  wait: (ms: number) => Effect.Effect<void>,
  check: Effect.Effect<boolean, E, R>,
  what: string,
  stepMs = 100,
  deadlineMs = waitDeadlineMs
) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    while (!(yield* check)) {
      if ((yield* Clock.currentTimeMillis) - start > deadlineMs) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* wait(stepMs)
    }
  })

/**
 * Four adds, `ttlTestSeconds * 400` ms apart (together longer than the TTL, so only refreshing
 * keeps the key), then no adds until the key is gone. A run where an add came later than the TTL
 * after the one before (a stalled machine) proves nothing about refreshing: it is run again.
 */
const ttlRun = (wait: (ms: number) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    const ttlMs = ttlTestSeconds * 1000
    for (let attempt = 1; ; attempt++) {
      const connectionKey = fresh("conn")
      const payment = { key: fresh("pay") }
      let lastEnd = 0
      let lastStart = 0
      let conclusive = true
      for (let i = 0; i < 4; i++) {
        if (i > 0) yield* wait(ttlMs * 0.4)
        lastStart = yield* Clock.currentTimeMillis
        if (i > 0 && lastStart - lastEnd > ttlMs * 0.8) conclusive = false
        const result = yield* add({ connectionKey, amount: 1n, payment })
        lastEnd = yield* Clock.currentTimeMillis
        if (conclusive) expect(result).toMatchObject({ connectionTotal: BigInt(i + 1) })
      }
      if (!conclusive) {
        if (attempt < 3) continue
        return yield* Effect.die(new Error("the machine stalled longer than the TTL in 3 runs"))
      }
      yield* waitUntil(wait, Effect.map(get(connectionKey), (total) => total === 0n), "the connection to expire")
      // Expiry is never early: not before the TTL after the last add began.
      expect((yield* Clock.currentTimeMillis) - lastStart).toBeGreaterThanOrEqual(ttlMs - 50)
      expect(yield* paymentTotal(payment.key)).toBe(4n)
      // An expired connection starts again from zero.
      expect(yield* add({ connectionKey, amount: 2n, payment })).toEqual({
        accepted: true,
        connectionTotal: 2n,
        paymentTotal: 6n
      })
      return
    }
  })

/**
 * A pending amount that is neither committed nor released lapses `lapseTestMs` after its reserve
 * (never earlier), giving the room back; committing it afterwards still counts it (the ledger posted).
 */
const lapseRun = (wait: (ms: number) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    const connectionKey = fresh("conn")
    const payment = { key: fresh("pay"), cap: 10n }
    const started = yield* Clock.currentTimeMillis
    const first = { packetId: fresh("pkt"), connectionKey, amount: 10n, payment, pendingMs: lapseTestMs }
    expect(yield* reserve(first)).toMatchObject({ accepted: true, paymentTotal: 10n })
    let second = { packetId: fresh("pkt"), connectionKey, amount: 10n, payment, pendingMs: longPendingMs }
    const refused = yield* reserve(second)
    if ((yield* Clock.currentTimeMillis) - started < lapseTestMs) {
      expect(refused).toEqual({ accepted: false, paymentTotal: 10n, remaining: 0n })
    }
    yield* waitUntil(
      wait,
      Effect.gen(function*() {
        second = { ...second, packetId: fresh("pkt") }
        return (yield* reserve(second)).accepted
      }),
      "the pending amount to lapse"
    )
    expect((yield* Clock.currentTimeMillis) - started).toBeGreaterThanOrEqual(lapseTestMs - 50)
    expect(yield* commit(first.packetId, connectionKey, payment.key)).toEqual({
      outcome: "committed",
      connectionTotal: 10n,
      paymentTotal: 10n
    })
    expect(yield* commit(second.packetId, connectionKey, payment.key)).toEqual({
      outcome: "committed",
      connectionTotal: 20n,
      paymentTotal: 20n
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
  /** Runs `run` live, or on its own store with a `TestClock` (test timing: no sleeping). */
  const timed = (
    ttlSeconds: number,
    run: (wait: (ms: number) => Effect.Effect<void>) => Effect.Effect<void, ReceiptStoreUnavailable, ReceiptTotals>
  ) =>
    timing === "live"
      ? run(Effect.sleep).pipe(Effect.provide(makeLayer(ttlSeconds)))
      : run(TestClock.adjust).pipe(Effect.provide(Layer.provideMerge(makeLayer(ttlSeconds), TestClock.layer())))

  layer(makeLayer(contractTtlSeconds), { excludeTestServices: true, timeout: "120 seconds", concurrent: true })(
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

      it.effect("refreshes the connection TTL on each add; payments do not expire", () => timed(ttlTestSeconds, ttlRun))

      it.effect("a pending amount lapses after pendingMs, never earlier; a later commit still counts", () =>
        timed(contractTtlSeconds, lapseRun))

      it.effect("a reserve counts against the cap until committed or released; only commits are received", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const payment = { key: fresh("pay"), cap: 100n }
          const a = { packetId: fresh("pkt"), connectionKey, amount: 60n, payment, pendingMs: longPendingMs }
          const b = { packetId: fresh("pkt"), connectionKey, amount: 50n, payment, pendingMs: longPendingMs }
          expect(yield* reserve(a)).toEqual({ accepted: true, connectionTotal: 60n, paymentTotal: 60n })
          expect([yield* get(connectionKey), yield* paymentTotal(payment.key)]).toEqual([0n, 0n])
          expect(yield* reserve(b)).toEqual({ accepted: false, paymentTotal: 60n, remaining: 40n })
          expect(yield* release(a.packetId, connectionKey, payment.key)).toBe("released")
          const b2 = { ...b, packetId: fresh("pkt") }
          expect(yield* reserve(b2)).toEqual({ accepted: true, connectionTotal: 50n, paymentTotal: 50n })
          expect(yield* commit(b2.packetId, connectionKey, payment.key)).toEqual({
            outcome: "committed",
            connectionTotal: 50n,
            paymentTotal: 50n
          })
          expect([yield* get(connectionKey), yield* paymentTotal(payment.key)]).toEqual([50n, 50n])
          // `add` sees the pending amounts too.
          const c = { packetId: fresh("pkt"), connectionKey, amount: 30n, payment, pendingMs: longPendingMs }
          expect(yield* reserve(c)).toMatchObject({ accepted: true, connectionTotal: 80n, paymentTotal: 80n })
          expect(yield* add({ connectionKey, amount: 21n, payment })).toEqual({
            accepted: false,
            paymentTotal: 80n,
            remaining: 20n
          })
          expect(yield* add({ connectionKey, amount: 20n, payment })).toEqual({
            accepted: true,
            connectionTotal: 70n,
            paymentTotal: 100n
          })
          // Without a payment there is no cap: the reserve only says what the receipt will state.
          const other = fresh("conn")
          const d = { packetId: fresh("pkt"), connectionKey: other, amount: 5n, pendingMs: longPendingMs }
          expect(yield* reserve(d)).toEqual({ accepted: true, connectionTotal: 5n })
          expect(yield* get(other)).toBe(0n)
          expect(yield* commit(d.packetId, other)).toEqual({ outcome: "committed", connectionTotal: 5n })
          expect(yield* get(other)).toBe(5n)
        }))

      it.effect("commit and release are idempotent per packet, in any order", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const payment = { key: fresh("pay"), cap: 100n }
          const packet = (amount: bigint) => ({ packetId: fresh("pkt"), connectionKey, amount, payment, pendingMs: longPendingMs })
          const x = packet(10n)
          yield* reserve(x)
          const committed = { outcome: "committed", connectionTotal: 10n, paymentTotal: 10n }
          expect(yield* commit(x.packetId, connectionKey, payment.key)).toEqual(committed)
          expect(yield* commit(x.packetId, connectionKey, payment.key)).toEqual(committed)
          expect(yield* release(x.packetId, connectionKey, payment.key)).toBe("committed")
          const y = packet(20n)
          yield* reserve(y)
          expect(yield* release(y.packetId, connectionKey, payment.key)).toBe("released")
          expect(yield* release(y.packetId, connectionKey, payment.key)).toBe("released")
          expect(yield* commit(y.packetId, connectionKey, payment.key)).toEqual({ outcome: "released" })
          expect([yield* get(connectionKey), yield* paymentTotal(payment.key)]).toEqual([10n, 10n])
          // A release before the reserve (the reserve was late): the reserve is refused, nothing counts.
          const z = packet(30n)
          expect(yield* release(z.packetId, connectionKey, payment.key)).toBe("released")
          expect(yield* reserve(z)).toEqual({ accepted: false, paymentTotal: 10n, remaining: 0n })
          expect(yield* commit(z.packetId, connectionKey, payment.key)).toEqual({ outcome: "released" })
          expect(yield* commit(fresh("never"), connectionKey, payment.key)).toEqual({ outcome: "unknown" })
          expect(yield* reserve(packet(90n))).toMatchObject({ accepted: true, paymentTotal: 100n })
          expect([yield* get(connectionKey), yield* paymentTotal(payment.key)]).toEqual([10n, 10n])
        }))

      it.effect("a packet id reserved twice is a defect", () =>
        Effect.gen(function*() {
          const request = { packetId: fresh("pkt"), connectionKey: fresh("conn"), amount: 1n, pendingMs: longPendingMs }
          yield* reserve(request)
          expect(Exit.hasDies(yield* Effect.exit(reserve(request)))).toBe(true)
        }))

      it.effect("deletePayment forgets pending amounts too", () =>
        Effect.gen(function*() {
          const connectionKey = fresh("conn")
          const payment = { key: fresh("pay"), cap: 10n }
          yield* reserve({ packetId: fresh("pkt"), connectionKey, amount: 10n, payment, pendingMs: longPendingMs })
          yield* ReceiptTotals.use((totals) => totals.deletePayment(payment.key))
          expect(yield* reserve({ packetId: fresh("pkt"), connectionKey, amount: 10n, payment, pendingMs: longPendingMs }))
            .toMatchObject({ accepted: true, paymentTotal: 10n })
        }))

      it.effect("200 concurrent reserves never pass the cap; commits and releases leave exactly what was committed", () =>
        ReceiptTotals.use((totals) => concurrentReserveRun(11, [totals])))

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
          const invalidReserves: ReadonlyArray<ReserveRequest> = [
            { connectionKey, amount: 1n, packetId: "", pendingMs: 1000 },
            { connectionKey, amount: 1n, packetId: fresh("pkt"), pendingMs: 0 },
            { connectionKey, amount: 1n, packetId: fresh("pkt"), pendingMs: 1.5 },
            { connectionKey, amount: -1n, packetId: fresh("pkt"), pendingMs: 1000 }
          ]
          for (const request of invalidReserves) expect(Exit.hasDies(yield* Effect.exit(reserve(request)))).toBe(true)
          expect(Exit.hasDies(yield* Effect.exit(commit("", connectionKey)))).toBe(true)
          expect(Exit.hasDies(yield* Effect.exit(release(fresh("pkt"), "")))).toBe(true)
          expect(yield* get(connectionKey)).toBe(0n)
        }))

      it.effect("200 concurrent adds never pass the cap and fill it exactly", () =>
        ReceiptTotals.use((totals) => concurrentCapRun(42, [totals])))
    }
  )
}
