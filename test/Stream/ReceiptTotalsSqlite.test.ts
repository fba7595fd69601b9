import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as TestClock from "effect/testing/TestClock"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { layerSqlite } from "../../src/Stream/ReceiptTotalsSqlite.ts"
import { ReceiptCache } from "../../src/Stream/ReceiptTotalsSqliteCache.ts"
import { receiptTotalsContract } from "./ReceiptTotalsContract.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

receiptTotalsContract("sqlite (:memory:)", (connectionTtlSeconds) =>
  layerSqlite({ filename: ":memory:", connectionTtlSeconds }), "test")

const withTempDir = <A, E, R>(f: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeTempDir("receipt-totals-")),
    f,
    (dir) => Effect.sync(() => removeTempDir(dir))
  )

const rows = (filename: string, sql: string) => {
  const db = new DatabaseSync(filename)
  try {
    return db.prepare(sql).all()
  } finally {
    db.close()
  }
}

describe("ReceiptTotals.layerSqlite", () => {
  it.live("keeps totals across reopening the file, as exact TEXT", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "receipts.db")
        const big = 2n ** 64n - 1n
        yield* Effect.provide(
          ReceiptTotals.use((totals) =>
            Effect.andThen(
              totals.add({ connectionKey: "c", amount: big, payment: { key: "p" } }),
              totals.add({ connectionKey: "c", amount: big, payment: { key: "p" } })
            )
          ),
          layerSqlite({ filename })
        )
        expect(rows(filename, "SELECT key, total FROM receipt_payment_totals")).toEqual([
          { key: "p", total: (2n * big).toString() }
        ])
        const totals = yield* Effect.provide(
          ReceiptTotals.use((totals) => Effect.all([totals.get("c"), totals.paymentTotal("p")])),
          layerSqlite({ filename })
        )
        expect(totals).toEqual([2n * big, 2n * big])
      })
    ))

  it.live("one batch of adds to a few keys, with a cache of one key, writes each key's last total once (rows exact)", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "receipts.db")
        const adds = Array.from({ length: 60 }, (_, i) => ({
          connectionKey: `c${i % 3}`,
          amount: BigInt(i + 1),
          payment: { key: `p${i % 2}` }
        }))
        const expected = (key: (add: (typeof adds)[number]) => string, name: string) =>
          adds.filter((add) => key(add) === name).reduce((sum, add) => sum + add.amount, 0n)
        const results = yield* Effect.provide(
          ReceiptTotals.use((totals) =>
            // Concurrent: all land in the same batch; the one-key cache forgets keys in between.
            Effect.andThen(
              Effect.all(adds.map((add) => totals.add(add)), { concurrency: "unbounded" }),
              Effect.all([totals.get("c0"), totals.get("c1"), totals.get("c2"), totals.paymentTotal("p0"), totals.paymentTotal("p1")])
            )
          ),
          layerSqlite({ filename, cacheEntriesMax: 1 })
        )
        const want = [
          expected((add) => add.connectionKey, "c0"),
          expected((add) => add.connectionKey, "c1"),
          expected((add) => add.connectionKey, "c2"),
          expected((add) => add.payment.key, "p0"),
          expected((add) => add.payment.key, "p1")
        ]
        expect(results).toEqual(want)
        expect(rows(filename, "SELECT key, total FROM receipt_payment_totals ORDER BY key")).toEqual([
          { key: "p0", total: want[3]!.toString() },
          { key: "p1", total: want[4]!.toString() }
        ])
        expect(rows(filename, "SELECT key, total FROM receipt_connection_totals ORDER BY key").map((row) => row["total"]))
          .toEqual(want.slice(0, 3).map(String))
      })
    ))

  it.live("what a previous process left pending is released when the file opens again; commits stay", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "receipts.db")
        const payment = { key: "p", cap: 100n }
        const packet = (packetId: string, amount: bigint) =>
          ({ packetId, connectionKey: "c", amount, payment, pendingMs: 600_000 })
        // The "crashed" process: one packet committed, one left pending (its ledger reservation is
        // voided when the ledger opens again).
        yield* Effect.provide(
          ReceiptTotals.use((totals) =>
            Effect.gen(function*() {
              yield* totals.reserve(packet("posted", 30n))
              yield* totals.commit({ packetId: "posted", connectionKey: "c", paymentKey: "p" })
              expect(yield* totals.reserve(packet("in-flight", 70n))).toMatchObject({ accepted: true, paymentTotal: 100n })
            })
          ),
          layerSqlite({ filename })
        )
        const after = yield* Effect.provide(
          ReceiptTotals.use((totals) =>
            Effect.all([
              totals.paymentTotal("p"),
              totals.reserve(packet("next", 70n)),
              totals.commit({ packetId: "in-flight", connectionKey: "c", paymentKey: "p" })
            ])
          ),
          layerSqlite({ filename })
        )
        expect(after).toEqual([
          30n,
          { accepted: true, connectionTotal: 100n, paymentTotal: 100n },
          { outcome: "released" }
        ])
      })
    ))

  it.live("the sweeper deletes expired connection rows and forgotten packet rows in bounded batches", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "receipts.db")
        const layer = layerSqlite({
          filename,
          connectionTtlSeconds: 0.05,
          settleGraceMs: 50,
          sweepIntervalMs: 20,
          sweepBatchMax: 2
        })
        yield* Effect.provide(
          ReceiptTotals.use((totals) =>
            Effect.gen(function*() {
              for (const key of ["a", "b", "c", "d", "e"]) {
                yield* totals.add({ connectionKey: key, amount: 1n })
                yield* totals.reserve({ packetId: key, connectionKey: key, amount: 1n, pendingMs: 1 })
              }
              // Wait on the condition (a loaded machine sweeps late), for at most 30 s.
              const deadline = Date.now() + 30_000
              const left = () =>
                rows(filename, "SELECT key FROM receipt_connection_totals UNION ALL SELECT packet_id FROM receipt_packets")
              while (left().length > 0 && Date.now() < deadline) yield* Effect.sleep(50)
            })
          ),
          layer
        )
        expect(rows(filename, "SELECT key FROM receipt_connection_totals")).toEqual([])
        expect(rows(filename, "SELECT packet_id FROM receipt_packets")).toEqual([])
      })
    ))

  it.live("a corrupt stored total is a defect, not an outage", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "receipts.db")
        yield* Effect.provide(
          ReceiptTotals.use((totals) => totals.add({ connectionKey: "c", amount: 1n, payment: { key: "p" } })),
          layerSqlite({ filename })
        )
        rows(filename, "UPDATE receipt_payment_totals SET total = '1e3' RETURNING key")
        const exit = yield* Effect.exit(Effect.provide(
          ReceiptTotals.use((totals) => totals.add({ connectionKey: "c", amount: 1n, payment: { key: "p" } })),
          layerSqlite({ filename })
        ))
        expect(Exit.hasDies(exit)).toBe(true)
      })
    ))

  it.live("a file that cannot be opened fails the layer with ReceiptStoreUnavailable", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Effect.provide(ReceiptTotals.use((totals) => totals.get("c")), layerSqlite({ filename: join(dir, "no", "such.db") }))
        )
        expect(error._tag).toBe("ReceiptStoreUnavailable")
      })
    ))

  it.effect("each pending packet lapses at its own time, whatever the order of reserves and commits (cached lapse bound)", () =>
    Effect.provide(
      ReceiptTotals.use((totals) =>
        Effect.gen(function*() {
          const payment = { key: "p", cap: 100n }
          const reserve = (packetId: string, amount: bigint, pendingMs: number) =>
            totals.reserve({ packetId, connectionKey: "c", amount, payment, pendingMs })
          expect(yield* reserve("long", 10n, 60_000)).toMatchObject({ accepted: true, paymentTotal: 10n })
          // Reserved after a later-lapsing packet: it must still lapse first.
          expect(yield* reserve("short", 10n, 1_000)).toMatchObject({ accepted: true, paymentTotal: 20n })
          expect(yield* reserve("bulk", 80n, 600_000)).toMatchObject({ accepted: true, paymentTotal: 100n })
          expect(yield* reserve("over-1", 10n, 600_000)).toEqual({ accepted: false, paymentTotal: 100n, remaining: 0n })
          yield* TestClock.adjust(999)
          expect(yield* reserve("over-2", 10n, 600_000)).toEqual({ accepted: false, paymentTotal: 100n, remaining: 0n })
          yield* TestClock.adjust(1)
          expect(yield* reserve("after-short", 10n, 600_000)).toMatchObject({ accepted: true, paymentTotal: 100n })
          expect(yield* reserve("over-3", 10n, 600_000)).toEqual({ accepted: false, paymentTotal: 100n, remaining: 0n })
          yield* TestClock.adjust(59_000)
          expect(yield* reserve("after-long", 10n, 600_000)).toMatchObject({ accepted: true, paymentTotal: 100n })
          // A lapsed packet still commits (the ledger posted it); the committed totals follow.
          expect(yield* totals.commit({ packetId: "short", connectionKey: "c", paymentKey: "p" })).toEqual({
            outcome: "committed",
            connectionTotal: 10n,
            paymentTotal: 10n
          })
          expect(yield* totals.commit({ packetId: "bulk", connectionKey: "c", paymentKey: "p" })).toEqual({
            outcome: "committed",
            connectionTotal: 90n,
            paymentTotal: 90n
          })
          // Committed 90 + pending 10 (after-short) + 10 (after-long) = 110 > cap: counted as such.
          expect(yield* reserve("over-4", 1n, 600_000)).toEqual({ accepted: false, paymentTotal: 110n, remaining: 0n })
          expect(yield* totals.release({ packetId: "after-long", connectionKey: "c", paymentKey: "p" })).toBe("released")
          expect(yield* totals.release({ packetId: "after-short", connectionKey: "c", paymentKey: "p" })).toBe("released")
          expect(yield* reserve("last", 10n, 600_000)).toMatchObject({ accepted: true, paymentTotal: 100n })
          expect(yield* totals.paymentTotal("p")).toBe(90n)
        })
      ),
      layerSqlite({ filename: ":memory:" })
    ))

  it("the write cache keeps at most its bound of keys per kind, forgetting the oldest", () => {
    const cache = new ReceiptCache(2)
    cache.setPayment("a", 1n)
    cache.setPayment("b", 2n)
    cache.setPayment("a", 3n)
    cache.setPayment("c", 4n)
    expect([...cache.payments.entries()]).toEqual([["b", 2n], ["c", 4n]])
    cache.setPending("p", { total: 1n, count: 1, nextLapseMs: 5 })
    cache.forgetPayment("c")
    cache.forgetPayment("p")
    expect([...cache.payments.keys()]).toEqual(["b"])
    expect(cache.pending.size).toBe(0)
    cache.setConnection("x", { total: 1n, expiresAtMs: 1 })
    cache.clear()
    expect(cache.connections.size + cache.payments.size + cache.pending.size).toBe(0)
  })

  it.effect("pending sums forgotten from memory are summed again from the packet rows: caps and lapses hold", () =>
    Effect.provide(
      ReceiptTotals.use((totals) =>
        Effect.gen(function*() {
          // One key of each kind in memory: every switch between the two payments forgets the other's sum.
          const reserve = (key: string, packetId: string, amount: bigint, pendingMs = 600_000) =>
            totals.reserve({ packetId, connectionKey: `c-${key}`, amount, payment: { key, cap: 30n }, pendingMs })
          expect(yield* reserve("p", "p1", 10n, 1_000)).toMatchObject({ accepted: true, paymentTotal: 10n })
          expect(yield* reserve("q", "q1", 10n)).toMatchObject({ accepted: true, paymentTotal: 10n })
          expect(yield* reserve("p", "p2", 10n)).toMatchObject({ accepted: true, paymentTotal: 20n })
          expect(yield* reserve("q", "q2", 10n)).toMatchObject({ accepted: true, paymentTotal: 20n })
          expect(yield* reserve("p", "p3", 10n)).toMatchObject({ accepted: true, paymentTotal: 30n })
          expect(yield* reserve("q", "q3", 15n)).toEqual({ accepted: false, paymentTotal: 20n, remaining: 10n })
          expect(yield* reserve("p", "p4", 1n)).toEqual({ accepted: false, paymentTotal: 30n, remaining: 0n })
          expect(yield* totals.commit({ packetId: "q1", connectionKey: "c-q", paymentKey: "q" })).toMatchObject({
            outcome: "committed",
            paymentTotal: 10n
          })
          expect(yield* totals.release({ packetId: "p2", connectionKey: "c-p", paymentKey: "p" })).toBe("released")
          expect(yield* reserve("q", "q4", 10n)).toMatchObject({ accepted: true, paymentTotal: 30n })
          expect(yield* reserve("p", "p5", 10n)).toMatchObject({ accepted: true, paymentTotal: 30n })
          expect(yield* reserve("q", "q5", 1n)).toEqual({ accepted: false, paymentTotal: 30n, remaining: 0n })
          // p1 lapses at 1 s, found from the rows after its sum was forgotten.
          yield* TestClock.adjust(1_000)
          expect(yield* reserve("q", "q6", 1n)).toEqual({ accepted: false, paymentTotal: 30n, remaining: 0n })
          expect(yield* reserve("p", "p6", 10n)).toMatchObject({ accepted: true, paymentTotal: 30n })
        })
      ),
      layerSqlite({ filename: ":memory:", cacheEntriesMax: 1 })
    ))

  it.effect("a pending packet whose row was swept past its forget time (its settle never came) stops holding the cap", () =>
    Effect.provide(
      ReceiptTotals.use((totals) =>
        Effect.gen(function*() {
          const reserve = (key: string, packetId: string, amount: bigint, pendingMs: number) =>
            totals.reserve({ packetId, connectionKey: `c-${key}`, amount, payment: { key, cap: 10n }, pendingMs })
          expect(yield* reserve("p", "stuck", 10n, 1_000)).toMatchObject({ accepted: true, paymentTotal: 10n })
          // Past the lapse and the forget time, another payment's write sweeps the stuck row.
          yield* TestClock.adjust(2_000)
          expect(yield* reserve("q", "other", 1n, 600_000)).toMatchObject({ accepted: true })
          expect(yield* reserve("p", "next", 10n, 600_000)).toMatchObject({ accepted: true, paymentTotal: 10n })
        })
      ),
      layerSqlite({ filename: ":memory:", settleGraceMs: 50 })
    ))
})
