/**
 * Receipt totals on the embedded ledger's connection: the contract; a posted packet's write run in
 * the post's transaction (`alongsidePost`); and moving in a `receipts.sqlite` of an earlier version.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync } from "node:fs"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { layerSqlite } from "../../src/Stream/ReceiptTotalsSqlite.ts"
import { layerInLedger } from "../../src/Stream/ReceiptTotalsSqliteInLedger.ts"
import { balanceOf, createAccounts, dmnec, fund, noFlags, transferSpec } from "../support/ledgerFixtures.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"
import { receiptTotalsContract } from "./ReceiptTotalsContract.ts"

const inLedger = (filename: string, options: Parameters<typeof layerInLedger>[0] = {}) => {
  const ledger = LedgerSqlite.layerWithConnection({ filename }).pipe(Layer.orDie)
  return Layer.merge(layerInLedger(options).pipe(Layer.provide(ledger)), ledger)
}

receiptTotalsContract("sqlite in the ledger's database (:memory:)", (connectionTtlSeconds) =>
  layerInLedger({ connectionTtlSeconds }).pipe(
    Layer.provide(LedgerSqlite.layerWithConnection({ filename: ":memory:" }).pipe(Layer.orDie))
  ), "test")

const withTempDir = <A, E, R>(f: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeTempDir("receipts-in-ledger-")),
    f,
    (dir) => Effect.sync(() => removeTempDir(dir))
  )

const L = 9

/** A funded payer, a payee, and one reserved packet of `amount` from one to the other. */
const reservePacket = (amount: bigint) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
    yield* fund(L, source!, from!, 1_000n)
    const packet = transferSpec(L, from!, to!, amount)
    yield* ledger.reserve([packet], 30)
    return { id: packet.id, to: to! }
  })

describe("receipt totals in the ledger's database", () => {
  it.live("an uncapped packet's add runs in its post: the total and the credit move together, once", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const totals = yield* ReceiptTotals
      const add = { connectionKey: "conn-1", amount: 25n, payment: { key: "pay-1" } }
      const packet = yield* reservePacket(25n)
      const write = totals.alongsidePost!({ kind: "add", request: add })
      expect(write.outcome()).toBeUndefined()
      yield* ledger.post([packet.id], write)
      expect(write.outcome()).toEqual({ _tag: "Done", result: { accepted: true, connectionTotal: 25n, paymentTotal: 25n } })
      expect((yield* balanceOf(packet.to)).creditsPosted).toBe(25n)
      expect(yield* totals.get("conn-1")).toBe(25n)
      expect(yield* totals.paymentTotal("pay-1")).toBe(25n)
      // A repeated post posts nothing and adds nothing.
      const again = totals.alongsidePost!({ kind: "add", request: add })
      yield* ledger.post([packet.id], again)
      expect(again.outcome()).toBeUndefined()
      expect(yield* totals.paymentTotal("pay-1")).toBe(25n)
      // A post the ledger refuses (voided first) runs nothing.
      const voided = yield* reservePacket(25n)
      yield* ledger.voidPending([voided.id])
      const refused = totals.alongsidePost!({ kind: "add", request: add })
      yield* Effect.flip(ledger.post([voided.id], refused))
      expect(refused.outcome()).toBeUndefined()
      expect(yield* totals.get("conn-1")).toBe(25n)
    }).pipe(Effect.provide(inLedger(":memory:"))))

  it.live("a reserved packet's commit runs in its post; a capped payment's pending amount becomes committed", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const totals = yield* ReceiptTotals
      const packet = yield* reservePacket(40n)
      const reserved = yield* totals.reserve({
        connectionKey: "conn-2",
        amount: 40n,
        payment: { key: "pay-2", cap: 100n },
        packetId: packet.id.toString(),
        pendingMs: 30_000
      })
      expect(reserved.accepted).toBe(true)
      const write = totals.alongsidePost!({
        kind: "commit",
        packet: { packetId: packet.id.toString(), connectionKey: "conn-2", paymentKey: "pay-2" }
      })
      yield* ledger.post([packet.id], write)
      expect(write.outcome()).toEqual({ _tag: "Done", result: { outcome: "committed", connectionTotal: 40n, paymentTotal: 40n } })
      expect(yield* totals.paymentTotal("pay-2")).toBe(40n)
      // The cap counts it once: 60 more fit, 61 do not.
      const over = yield* totals.add({ connectionKey: "conn-2", amount: 61n, payment: { key: "pay-2", cap: 100n } })
      expect(over).toEqual({ accepted: false, paymentTotal: 40n, remaining: 60n })
    }).pipe(Effect.provide(inLedger(":memory:"))))

  it.live("totals survive a restart on the same file (written with the post's commit)", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "ledger.sqlite")
        yield* Effect.gen(function*() {
          const ledger = yield* Ledger
          const totals = yield* ReceiptTotals
          for (let i = 0; i < 3; i++) {
            const packet = yield* reservePacket(10n)
            yield* ledger.post([packet.id], totals.alongsidePost!({ kind: "add", request: { connectionKey: "c", amount: 10n, payment: { key: "p" } } }))
          }
        }).pipe(Effect.provide(inLedger(filename)))
        const after = yield* Effect.provide(
          Effect.flatMap(ReceiptTotals, (totals) => Effect.all([totals.get("c"), totals.paymentTotal("p")])),
          inLedger(filename)
        )
        expect(after).toEqual([30n, 30n])
      })
    ))

  it.live("moves an earlier receipts.sqlite in once, renames it, and refuses rows in both places", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const old = join(dir, "receipts.sqlite")
        yield* Effect.provide(
          Effect.flatMap(ReceiptTotals, (totals) =>
            Effect.all([
              totals.add({ connectionKey: "old-conn", amount: 7n, payment: { key: "old-pay", cap: 100n } }),
              totals.reserve({ connectionKey: "old-conn", amount: 3n, payment: { key: "old-pay", cap: 100n }, packetId: "p-1", pendingMs: 60_000 })
            ])),
          layerSqlite({ filename: old })
        )
        const ledgerFile = join(dir, "ledger.sqlite")
        const read = Effect.flatMap(ReceiptTotals, (totals) =>
          Effect.all([totals.get("old-conn"), totals.paymentTotal("old-pay")]))
        expect(yield* Effect.provide(read, inLedger(ledgerFile, { importFrom: old }))).toEqual([7n, 7n])
        expect(existsSync(old)).toBe(false)
        expect(readdirSync(dir).filter((f) => f.startsWith("receipts.sqlite.imported-") && !f.endsWith("-wal") && !f.endsWith("-shm")))
          .toHaveLength(1)
        // The packet left pending by the old process was released: the whole cap minus 7 is free.
        expect(yield* Effect.provide(
          Effect.flatMap(ReceiptTotals, (totals) => totals.add({ connectionKey: "c2", amount: 93n, payment: { key: "old-pay", cap: 100n } })),
          inLedger(ledgerFile, { importFrom: old })
        )).toMatchObject({ accepted: true, paymentTotal: 100n })
        // An empty receipts.sqlite (earlier versions created one at every start) is left alone.
        new DatabaseSync(old).close()
        expect(yield* Effect.provide(read, inLedger(ledgerFile, { importFrom: old }))).toEqual([7n, 100n])
        expect(existsSync(old)).toBe(true)
        // Rows in both places: the start fails with a clear message.
        yield* Effect.provide(
          Effect.flatMap(ReceiptTotals, (totals) => totals.add({ connectionKey: "stale", amount: 1n })),
          layerSqlite({ filename: old })
        )
        const failed = yield* Effect.flip(Effect.provide(read, inLedger(ledgerFile, { importFrom: old })))
        expect(String((failed as { cause?: Error }).cause?.message)).toContain("both in the ledger database and in")
      })
    ))

  it.live("moves in what a crashed earlier version left in its WAL file", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const live = join(dir, "live.sqlite")
        const old = join(dir, "receipts.sqlite")
        // A snapshot of the file and its WAL while the store still has it open: what a kill leaves.
        yield* Effect.provide(
          Effect.flatMap(ReceiptTotals, (totals) =>
            Effect.andThen(
              totals.add({ connectionKey: "wal-conn", amount: 11n, payment: { key: "wal-pay" } }),
              Effect.sync(() => {
                expect(existsSync(`${live}-wal`)).toBe(true)
                copyFileSync(live, old)
                copyFileSync(`${live}-wal`, `${old}-wal`)
              })
            )),
          layerSqlite({ filename: live })
        )
        const totals = yield* Effect.provide(
          Effect.flatMap(ReceiptTotals, (t) => Effect.all([t.get("wal-conn"), t.paymentTotal("wal-pay")])),
          inLedger(join(dir, "ledger.sqlite"), { importFrom: old })
        )
        expect(totals).toEqual([11n, 11n])
        expect(existsSync(old)).toBe(false)
        expect(existsSync(`${old}-wal`)).toBe(false)
      })
    ))

  it.live("a crash between the import's commit and the rename: the next start only renames", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const old = join(dir, "receipts.sqlite")
        yield* Effect.provide(
          Effect.flatMap(ReceiptTotals, (totals) => totals.add({ connectionKey: "k", amount: 5n, payment: { key: "pay" } })),
          layerSqlite({ filename: old })
        )
        const ledgerFile = join(dir, "ledger.sqlite")
        // The import as it committed, without the rename.
        yield* Effect.provide(Effect.void, inLedger(ledgerFile, { importFrom: old }))
        const renamed = readdirSync(dir).find((f) => f.startsWith("receipts.sqlite.imported-") && !f.includes("-wal") && !f.includes("-shm"))!
        const back = new DatabaseSync(join(dir, renamed))
        back.close()
        rmSync(old, { force: true })
        renameSync(join(dir, renamed), old)
        // Next start: recorded as imported, so not added again (5, not 10), and moved away.
        const totals = yield* Effect.provide(
          Effect.flatMap(ReceiptTotals, (t) => Effect.all([t.get("k"), t.paymentTotal("pay")])),
          inLedger(ledgerFile, { importFrom: old })
        )
        expect(totals).toEqual([5n, 5n])
        expect(existsSync(old)).toBe(false)
      })
    ))
})
