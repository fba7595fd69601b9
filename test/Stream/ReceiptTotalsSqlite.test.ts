import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { layerSqlite } from "../../src/Stream/ReceiptTotalsSqlite.ts"
import { receiptTotalsContract } from "./ReceiptTotalsContract.ts"

receiptTotalsContract("sqlite (:memory:)", (connectionTtlSeconds) =>
  layerSqlite({ filename: ":memory:", connectionTtlSeconds }), "test")

const withTempDir = <A, E, R>(f: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "receipt-totals-"))),
    f,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
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
})
