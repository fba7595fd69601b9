/**
 * The receipt totals contract's concurrent runs (ReceiptTotalsContract.ts runs them on one store;
 * ReceiptTotalsRedis.test.ts also on several instances sharing one Redis): racing adds, and racing
 * reserves with commits and releases, against one capped payment. Seeded, so a failure repeats.
 */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { randomUUID } from "node:crypto"
import type { AddResult, ReceiptTotalsShape } from "../../src/Stream/ReceiptTotals.ts"

/** A pending time no test waits for. */
const longPendingMs = 600_000
const fresh = (label: string) => `${label}-${randomUUID()}`

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
 * Two-phase run: 200 concurrent random reserves over 4 connections against one capped payment (cap
 * = half their sum), spread over `stores`; then each accepted one is committed or released (seeded
 * coin) concurrently, commits and releases each sent twice; the committed total is exactly what was
 * committed, never past the cap; then 1000 concurrent unit reserves + commits fill the cap exactly.
 */
export const concurrentReserveRun = (seed: number, stores: ReadonlyArray<ReceiptTotalsShape>) =>
  Effect.gen(function*() {
    const store = (i: number) => stores[i % stores.length]!
    const amounts = fc.sample(fc.bigInt({ min: 1n, max: 1_000n }), { numRuns: 200, seed })
    const coins = fc.sample(fc.boolean(), { numRuns: 200, seed: seed + 1 })
    const cap = amounts.reduce((sum, amount) => sum + amount, 0n) / 2n
    const payment = { key: fresh("pay"), cap }
    const connections = [0, 1, 2, 3].map(() => fresh("conn"))
    const packets = amounts.map((amount, i) => ({
      packetId: fresh("pkt"),
      connectionKey: connections[i % 4]!,
      amount,
      payment,
      pendingMs: longPendingMs
    }))
    const results = yield* Effect.forEach(packets, (packet, i) => store(i).reserve(packet), { concurrency: "unbounded" })
    const counted = results.reduce((sum, result, i) => (result.accepted ? sum + amounts[i]! : sum), 0n)
    expect(counted <= cap).toBe(true)
    results.forEach((result, i) => {
      if (result.accepted) expect(result.paymentTotal! <= cap).toBe(true)
      else expect(amounts[i]! > result.remaining).toBe(true)
    })
    expect(yield* store(0).paymentTotal(payment.key)).toBe(0n)
    let committed = 0n
    const settle = packets.flatMap((packet, i) => {
      if (!results[i]!.accepted) return []
      const ref = { packetId: packet.packetId, connectionKey: packet.connectionKey, paymentKey: payment.key }
      if (coins[i]) committed += packet.amount
      const once = coins[i] ? Effect.asVoid(store(i).commit(ref)) : Effect.asVoid(store(i).release(ref))
      return [once, once]
    })
    yield* Effect.all(settle, { concurrency: "unbounded" })
    expect(yield* store(1).paymentTotal(payment.key)).toBe(committed)
    const connectionTotals = yield* Effect.forEach(connections, (key, i) => store(i).get(key))
    expect(connectionTotals.reduce((sum, total) => sum + total, 0n)).toBe(committed)

    // Leave room for exactly 500 units, then race 1000 of them.
    const big = { packetId: fresh("big"), connectionKey: connections[1]!, amount: cap - committed - 500n, payment, pendingMs: longPendingMs }
    expect(yield* store(2).reserve(big)).toMatchObject({ accepted: true, paymentTotal: cap - 500n })
    expect(yield* store(3).commit({ ...big, paymentKey: payment.key })).toMatchObject({ paymentTotal: cap - 500n })
    const units = yield* Effect.forEach(
      Array.from({ length: 1_000 }, (_, i) => i),
      (i) =>
        Effect.gen(function*() {
          const packet = { packetId: fresh("unit"), connectionKey: connections[0]!, amount: 1n, payment, pendingMs: longPendingMs }
          const result = yield* store(i).reserve(packet)
          if (result.accepted) yield* store(i + 1).commit({ ...packet, paymentKey: payment.key })
          return result.accepted
        }),
      { concurrency: "unbounded" }
    )
    expect(yield* store(0).paymentTotal(payment.key)).toBe(cap)
    expect(units.filter(Boolean).length).toBe(500)
  })
