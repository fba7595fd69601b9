/**
 * Capped packets' pending amounts held in memory on the embedded ledger's connection
 * (`ReceiptTotalsSqlitePending.ts`): a reserve writes no row; the commit in the post's transaction
 * INSERTs it as committed and is undone if that transaction rolls back (a post job rolled back,
 * a whole batch rolled back, a failed COMMIT), so the cap is never passed and the receipt total
 * always equals the ledger credit. Plus the table's own lapse, forgetting and bounds.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import fc from "fast-check"
import { StatementSync } from "node:sqlite"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { type ReceiptAlongside, ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { layerInLedger } from "../../src/Stream/ReceiptTotalsSqliteInLedger.ts"
import { PendingTable } from "../../src/Stream/ReceiptTotalsSqlitePending.ts"
import { join } from "node:path"
import { balanceOf, createAccounts, dmnec, fund, noFlags, transferSpec } from "../support/ledgerFixtures.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const L = 11

const inLedger = (filename = ":memory:") => {
  const ledger = LedgerSqlite.layerWithConnection({ filename }).pipe(Layer.orDie)
  return Layer.merge(layerInLedger().pipe(Layer.provide(ledger)), ledger)
}

const sqliteError = () => Object.assign(new Error("disk I/O error (injected)"), { code: "ERR_SQLITE_ERROR" })

/** Test-only fault: the next `n` COMMIT statements run on any connection throw before committing. */
let commitsToFail = 0
const originalRun = StatementSync.prototype.run
const withFailingCommits = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      commitsToFail = 0
      StatementSync.prototype.run = function(this: StatementSync, ...params: Array<unknown>) {
        if (commitsToFail > 0 && this.sourceSQL === "COMMIT") {
          commitsToFail--
          throw sqliteError()
        }
        return originalRun.apply(this, params as Parameters<typeof originalRun>)
      }
    }),
    () => effect,
    () => Effect.sync(() => (StatementSync.prototype.run = originalRun))
  )

/** A funded payer and a payee on one ledger; `packet` reserves one transfer of `amount` between them. */
const accounts = Effect.gen(function*() {
  const ledger = yield* Ledger
  const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
  yield* fund(L, source!, from!, 1_000_000n)
  const packet = (amount: bigint) =>
    Effect.gen(function*() {
      const spec = transferSpec(L, from!, to!, amount)
      yield* ledger.reserve([spec], 30)
      return spec.id
    })
  return { to: to!, packet }
})

const payment = (cap: bigint) => ({ key: "pay", cap })
const ref = (id: bigint) => ({ packetId: id.toString(), connectionKey: "conn", paymentKey: "pay" })

/** The receipt commit of `id` to run in its post; `throwAfter`: the post's job then throws a storage error. */
const commitAlongside = (id: bigint, throwAfter = false) =>
  Effect.map(ReceiptTotals, (totals): ReceiptAlongside => {
    const write = totals.alongsidePost!({ kind: "commit", packet: ref(id) })
    return {
      run: () => {
        write.run()
        if (throwAfter) throw sqliteError()
      },
      outcome: write.outcome
    }
  })

const reserve = (id: bigint, amount: bigint, cap: bigint) =>
  Effect.flatMap(ReceiptTotals, (totals) =>
    totals.reserve({ connectionKey: "conn", amount, payment: payment(cap), packetId: id.toString(), pendingMs: 30_000 }))

describe("capped reserves held in memory, committed in the ledger's post", () => {
  it.live("a post whose COMMIT fails: the packet is pending again, the cap holds, the retried post commits it once", () =>
    withFailingCommits(Effect.gen(function*() {
      const ledger = yield* Ledger
      const totals = yield* ReceiptTotals
      const { to, packet } = yield* accounts
      const id = yield* packet(40n)
      expect(yield* reserve(id, 40n, 40n)).toMatchObject({ accepted: true, paymentTotal: 40n })
      commitsToFail = 1
      const failed = yield* Effect.exit(ledger.post([id], yield* commitAlongside(id)))
      expect(Exit.isFailure(failed)).toBe(true)
      expect(commitsToFail).toBe(0)
      // Nothing posted, nothing counted as received, and the 40 still holds the whole cap.
      expect((yield* balanceOf(to)).creditsPosted).toBe(0n)
      expect(yield* totals.paymentTotal("pay")).toBe(0n)
      const other = yield* packet(1n)
      expect(yield* reserve(other, 1n, 40n)).toEqual({ accepted: false, paymentTotal: 40n, remaining: 0n })
      // The retried post commits it, once.
      const again = yield* commitAlongside(id)
      yield* ledger.post([id], again)
      expect(again.outcome()).toEqual({ _tag: "Done", result: { outcome: "committed", connectionTotal: 40n, paymentTotal: 40n } })
      expect((yield* balanceOf(to)).creditsPosted).toBe(40n)
      expect(yield* totals.paymentTotal("pay")).toBe(40n)
      expect(yield* totals.commit(ref(id))).toEqual({ outcome: "committed", connectionTotal: 40n, paymentTotal: 40n })
      expect(yield* totals.release(ref(id))).toBe("committed")
      expect(yield* reserve(yield* packet(1n), 1n, 40n)).toEqual({ accepted: false, paymentTotal: 40n, remaining: 0n })
    })).pipe(Effect.provide(inLedger())))

  it.live("a post job that throws after its receipt commit (rolled back alone, which aborts its batch): pending restored, books consistent", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const totals = yield* ReceiptTotals
      const { to, packet } = yield* accounts
      const a = yield* packet(30n)
      const b = yield* packet(20n)
      expect(yield* reserve(a, 30n, 50n)).toMatchObject({ accepted: true })
      expect(yield* reserve(b, 20n, 50n)).toMatchObject({ accepted: true, paymentTotal: 50n })
      // Both posts at once (one batch or two): `b`'s job throws after its receipt commit ran.
      const [postA, postB] = yield* Effect.all([
        Effect.exit(Effect.flatMap(commitAlongside(a), (w) => ledger.post([a], w))),
        Effect.exit(Effect.flatMap(commitAlongside(b, true), (w) => ledger.post([b], w)))
      ], { concurrency: "unbounded" })
      expect(Exit.isFailure(postB)).toBe(true)
      const posted = Exit.isSuccess(postA) ? 30n : 0n
      expect((yield* balanceOf(to)).creditsPosted).toBe(posted)
      expect(yield* totals.paymentTotal("pay")).toBe(posted)
      // Nothing left the cap: both amounts are still pending or committed.
      expect(yield* reserve(yield* packet(1n), 1n, 50n)).toEqual({ accepted: false, paymentTotal: 50n, remaining: 0n })
      // Settle both for good: every posted amount is counted exactly once.
      for (const id of [a, b]) yield* Effect.flatMap(commitAlongside(id), (w) => ledger.post([id], w))
      expect((yield* balanceOf(to)).creditsPosted).toBe(50n)
      expect(yield* totals.paymentTotal("pay")).toBe(50n)
    }).pipe(Effect.provide(inLedger())))

  it.live("restart: nothing pending survives; a pre-restart packet's commit answers unknown, its release released, and the whole rest of the cap is free", () =>
    Effect.acquireUseRelease(
      Effect.sync(() => makeTempDir("receipts-pending-restart-")),
      (dir) =>
        Effect.gen(function*() {
          const filename = join(dir, "ledger.sqlite")
          const ids = yield* Effect.gen(function*() {
            const ledger = yield* Ledger
            const { packet } = yield* accounts
            const posted = yield* packet(30n)
            const pending = yield* packet(50n)
            yield* reserve(posted, 30n, 100n)
            yield* reserve(pending, 50n, 100n)
            yield* Effect.flatMap(commitAlongside(posted), (w) => ledger.post([posted], w))
            return { posted, pending }
          }).pipe(Effect.provide(inLedger(filename)))
          yield* Effect.gen(function*() {
            const totals = yield* ReceiptTotals
            expect(yield* totals.paymentTotal("pay")).toBe(30n)
            expect(yield* totals.commit(ref(ids.pending))).toEqual({ outcome: "unknown" })
            expect(yield* totals.release(ref(ids.pending))).toBe("released")
            expect(yield* totals.commit(ref(ids.pending))).toEqual({ outcome: "released" })
            // The committed packet is known from its row.
            expect(yield* totals.commit(ref(ids.posted))).toEqual({ outcome: "committed", connectionTotal: 30n, paymentTotal: 30n })
            expect(yield* totals.release(ref(ids.posted))).toBe("committed")
            expect(yield* reserve(1n << 60n, 70n, 100n)).toMatchObject({ accepted: true, paymentTotal: 100n })
            expect(yield* reserve((1n << 60n) + 1n, 1n, 100n)).toEqual({ accepted: false, paymentTotal: 100n, remaining: 0n })
          }).pipe(Effect.provide(inLedger(filename)))
        }),
      (dir) => Effect.sync(() => removeTempDir(dir))
    ))

  it.live("concurrent packets, with injected job and COMMIT failures: the cap is never passed and the receipt total always equals the ledger credit", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.bigInt({ min: 1n, max: 120n }),
          fc.array(
            fc.record({
              amount: fc.bigInt({ min: 1n, max: 40n }),
              // What happens to the packet's post attempts before its final settle.
              attempts: fc.array(fc.constantFrom("throwInJob", "failCommit"), { maxLength: 2 }),
              finally: fc.constantFrom("post", "void")
            }),
            { minLength: 1, maxLength: 8 }
          ),
          (cap, packets) => Effect.runPromise(withFailingCommits(Effect.gen(function*() {
            const ledger = yield* Ledger
            const totals = yield* ReceiptTotals
            const { to, packet } = yield* accounts
            // Any ledger write may meet an injected COMMIT failure meant for a post: retried.
            const retried = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.retry(effect, { times: 20 })
            const postedAmounts = yield* Effect.all(packets.map((p) =>
              Effect.gen(function*() {
                const id = yield* retried(packet(p.amount))
                const reserved = yield* reserve(id, p.amount, cap)
                if (!reserved.accepted) {
                  yield* retried(ledger.voidPending([id]))
                  return 0n
                }
                let posted = false
                for (const attempt of p.attempts) {
                  if (posted) break
                  if (attempt === "failCommit") commitsToFail++
                  // May also fail because another packet's injected failure hit the same batch.
                  const exit = yield* Effect.exit(Effect.flatMap(commitAlongside(id, attempt === "throwInJob"), (w) => ledger.post([id], w)))
                  posted = Exit.isSuccess(exit)
                }
                if (posted || p.finally === "post") {
                  if (!posted) yield* retried(Effect.flatMap(commitAlongside(id), (w) => ledger.post([id], w)))
                  return p.amount
                }
                yield* retried(ledger.voidPending([id]))
                expect(yield* totals.release(ref(id))).toBe("released")
                return 0n
              })
            ), { concurrency: "unbounded" })
            commitsToFail = 0
            const posted = postedAmounts.reduce((a, b) => a + b, 0n)
            expect(posted).toBeLessThanOrEqual(cap)
            expect((yield* balanceOf(to)).creditsPosted).toBe(posted)
            expect(yield* totals.paymentTotal("pay")).toBe(posted)
            // Nothing is left pending: exactly the rest of the cap fits, and not a unit more.
            if (posted < cap) {
              expect(yield* reserve(yield* packet(cap - posted), cap - posted, cap)).toMatchObject({ accepted: true, paymentTotal: cap })
            }
            expect(yield* reserve(yield* packet(1n), 1n, cap)).toMatchObject({ accepted: false, remaining: 0n })
          })).pipe(Effect.provide(inLedger())))
        ),
        { numRuns: 60 }
      )
    ))
})

describe("PendingTable", () => {
  const request = (packetId: string, amount: bigint, pendingMs = 1_000, key = "p", cap = 100n) =>
    ({ packetId, connectionKey: "c", amount, payment: { key, cap }, pendingMs })
  const decide = (table: PendingTable, packetId: string, amount: bigint, nowMs: number, pendingMs = 1_000, key = "p") =>
    table.reserve(request(packetId, amount, pendingMs, key), nowMs, 500, () => 0n, () => 0n)

  it("a pending packet lapses at its lapse time (not before), at the next reserve or in the periodic pass; a lapsed one stays committable until its forget time", () => {
    const table = new PendingTable()
    expect(decide(table, "a", 60n, 0)._tag).toBe("Accepted")
    expect(decide(table, "b", 50n, 999)).toMatchObject({ _tag: "Refused", result: { paymentTotal: 60n, remaining: 40n } })
    // At the lapse time the next reserve lapses it first.
    expect(decide(table, "b", 50n, 1_000)).toMatchObject({ _tag: "Accepted", result: { paymentTotal: 50n } })
    expect(table.find("a", 1_000)).toMatchObject({ _tag: "Packet", packet: { counted: false } })
    // The periodic pass lapses `b` without any reserve, and forgets both at their forget times.
    table.sweep(1_999)
    expect(table.pendingOf("p", 1_999).total).toBe(50n)
    table.sweep(2_000)
    expect(table.payments.size).toBe(0)
    expect(table.find("b", 2_000)).toMatchObject({ _tag: "Packet", packet: { counted: false } })
    expect(table.find("b", 2_499)).toMatchObject({ _tag: "Packet" })
    table.sweep(2_500)
    expect(table.packets.size).toBe(0)
  })

  it("commit leaves the table logged; rolledBack puts it back pending, committed drops the log", () => {
    const table = new PendingTable()
    decide(table, "a", 60n, 0)
    const found = table.find("a", 10)
    if (found._tag !== "Packet") throw new Error("not found")
    table.commit("a", found.packet)
    expect(table.pendingOf("p", 10).total).toBe(0n)
    table.rolledBack()
    expect(table.pendingOf("p", 10)).toEqual({ total: 60n, count: 1 })
    table.commit("a", found.packet)
    table.committed()
    table.rolledBack()
    expect(table.pendingOf("p", 10).total).toBe(0n)
    expect(table.find("a", 10)._tag).toBe("Absent")
  })

  it("a release leaves a tombstone until its forget time: a late reserve is refused as released", () => {
    const table = new PendingTable()
    table.release("x", undefined, 0, 500)
    expect(decide(table, "x", 1n, 100)).toMatchObject({ _tag: "Refused", result: { remaining: 0n } })
    expect(table.find("x", 499)._tag).toBe("Released")
    expect(table.find("x", 500)._tag).toBe("Absent")
    expect(decide(table, "y", 10n, 0)._tag).toBe("Accepted")
    expect(decide(table, "y", 10n, 0)._tag).toBe("ReservedTwice")
  })

  it("bounds: pending packets per payment, and packets + tombstones in all (oldest tombstones dropped first)", () => {
    const table = new PendingTable(3, 2)
    expect(decide(table, "a", 1n, 0)._tag).toBe("Accepted")
    expect(decide(table, "b", 1n, 0)._tag).toBe("Accepted")
    expect(decide(table, "c", 1n, 0)).toMatchObject({ _tag: "Full", message: "too many packets pending for one payment" })
    expect(decide(table, "c", 1n, 0, 1_000, "q")._tag).toBe("Accepted")
    expect(decide(table, "d", 1n, 0, 1_000, "r")).toMatchObject({ _tag: "Full", message: "too many receipt packets pending" })
    // A release turns a packet into a tombstone; a new reserve drops the oldest tombstone for room.
    const a = table.find("a", 0)
    if (a._tag !== "Packet") throw new Error("not found")
    table.release("a", a.packet, 0, 500)
    table.release("z", undefined, 0, 500)
    expect(table.size).toBe(3)
    expect(decide(table, "d", 1n, 0, 1_000, "r")._tag).toBe("Accepted")
    expect(table.find("a", 0)._tag).toBe("Absent")
    expect(table.size).toBe(3)
    // Full of live packets: a release of an id never held leaves no tombstone.
    table.release("never", undefined, 0, 500)
    expect(table.size).toBe(3)
    expect(table.find("never", 0)._tag).toBe("Absent")
  })
})
