/**
 * The packet rows the embedded receipt totals remember (`ReceiptCache.packets`): a commit of a
 * packet this process reserved reads no row from SQLite, nor does the reserve of a new packet id
 * (`insertPacket` leaves a live row alone), and every answer and every row is the same as when
 * nothing is remembered and the reserve reads the row first. And a write batch skips its sweep of
 * forgotten packet rows only while none can be forgotten yet (`ReceiptCache.nextForgetMs`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import { DatabaseSync } from "node:sqlite"
import { ReceiptCache } from "../../src/Stream/ReceiptTotalsSqliteCache.ts"
import { PendingTable } from "../../src/Stream/ReceiptTotalsSqlitePending.ts"
import { makeWriteBatcher } from "../../src/Stream/ReceiptTotalsSqlite.ts"
import { prepare, schema, type Statements } from "../../src/Stream/ReceiptTotalsSqliteSchema.ts"
import { type ReserveRequest, releasedRefusal } from "../../src/Stream/ReceiptTotals.ts"
import {
  adjustPending,
  countedTotal,
  decide,
  makeDeferredTotals,
  readPending,
  step,
  type StepContext,
  type Write,
  WriteRefused,
  writeCommittedRows,
  writeDeferred
} from "../../src/Stream/ReceiptTotalsSqliteSteps.ts"

/** A store's steps on its own `:memory:` database, counting the packet row SELECTs. */
const makeStore = (cacheEntriesMax = 10_000, memory?: PendingTable) => {
  const db = new DatabaseSync(":memory:")
  db.exec(schema)
  const statements: Statements = prepare(db)
  const packet = statements.packet
  const get = packet.get.bind(packet) as (...params: ReadonlyArray<unknown>) => unknown
  let packetReads = 0
  packet.get = ((...params: ReadonlyArray<unknown>) => {
    packetReads++
    return get(...params)
  }) as typeof packet.get
  const cache = new ReceiptCache(cacheEntriesMax)
  /** `readFirst`: the reserve as it was before `insertPacket` (read the row, then `putPacket`). */
  const run = (write: Write, nowMs: number, readFirst = false): unknown => {
    const deferred = makeDeferredTotals()
    const ctx: StepContext = memory === undefined ?
      { statements, connectionTtlMs: 86_400_000, settleGraceMs: 500, nowMs, cache, deferred } :
      { statements, connectionTtlMs: 86_400_000, settleGraceMs: 500, nowMs, cache, deferred, memory }
    let answer: unknown
    db.exec("BEGIN IMMEDIATE")
    try {
      answer = readFirst && write.kind === "reserve" ? reserveReadingFirst(ctx, write.request) : step(ctx, write)
    } catch (error) {
      if (!(error instanceof WriteRefused)) {
        db.exec("ROLLBACK")
        throw error
      }
      answer = Effect.runSyncExit(error.outcome)._tag
    }
    writeDeferred(statements, deferred)
    // The transaction's owner writes the committed rows of packets held in memory before its COMMIT.
    if (memory !== undefined) writeCommittedRows(statements, memory)
    db.exec("COMMIT")
    memory?.committed()
    return answer
  }
  const dump = () => ({
    packets: db.prepare("SELECT * FROM receipt_packets ORDER BY packet_id").all(),
    connections: db.prepare("SELECT * FROM receipt_connection_totals ORDER BY key").all(),
    payments: db.prepare("SELECT * FROM receipt_payment_totals ORDER BY key").all()
  })
  return { db, cache, run, dump, reads: () => packetReads }
}

/** The reserve step as it was before `insertPacket` (read the row first), from the same helpers: the reference. */
const reserveReadingFirst = (ctx: StepContext, request: ReserveRequest): unknown => {
  const row = ctx.statements.packet.get(request.packetId, ctx.nowMs) as { state: number } | undefined
  if (row?.state === 3) return releasedRefusal(request.payment === undefined ? 0n : countedTotal(ctx, request.payment.key).total)
  if (row !== undefined) return "Failure"
  const result = decide(ctx, request)
  if (!result.accepted) return result
  if (request.payment !== undefined && readPending(ctx, request.payment.key).count >= 10_000) return "Failure"
  const lapseAtMs = ctx.nowMs + request.pendingMs
  if (request.payment !== undefined) adjustPending(ctx, request.payment.key, request.amount, 1, lapseAtMs)
  ctx.statements.putPacket.run(
    request.packetId,
    1,
    request.amount.toString(),
    request.payment?.key ?? null,
    lapseAtMs,
    lapseAtMs + ctx.settleGraceMs
  )
  return result
}

const reserve = (packetId: string, amount: bigint, pendingMs = 1_000, cap = 1_000n): Write => ({
  kind: "reserve",
  request: { packetId, connectionKey: "c", amount, payment: { key: "p", cap }, pendingMs }
})
const commit = (packetId: string): Write => ({ kind: "commit", packet: { packetId, connectionKey: "c", paymentKey: "p" } })
const release = (packetId: string): Write => ({ kind: "release", packet: { packetId, connectionKey: "c", paymentKey: "p" } })


/** A random step over five packet ids: a reserve, a commit, a release, or the clock moving on. */
const packetStep = (() => {
  const ids = ["a", "b", "c", "d", "e"]
  return fc.oneof(
    fc.record({
      kind: fc.constant("reserve" as const),
      id: fc.constantFrom(...ids),
      amount: fc.bigInt({ min: 0n, max: 40n }),
      pendingMs: fc.integer({ min: 1, max: 1_500 })
    }),
    fc.record({ kind: fc.constantFrom("commit" as const, "release" as const), id: fc.constantFrom(...ids) }),
    fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 1_200 }) })
  )
})()

describe("receipt totals: remembered packet rows", () => {
  it("a reserve of a new id and a commit of a packet reserved here before its lapse read no packet row; after its lapse, or once settled, the commit reads SQLite", () => {
    const store = makeStore()
    try {
      expect(store.run(reserve("a", 10n), 0)).toMatchObject({ accepted: true, paymentTotal: 10n })
      expect(store.reads()).toBe(0)
      expect(store.run(commit("a"), 999)).toEqual({ outcome: "committed", connectionTotal: 10n, paymentTotal: 10n })
      expect(store.reads()).toBe(0)
      expect(store.dump().packets).toMatchObject([{ packet_id: "a", state: 2 }])
      // Settled: forgotten, so a repeated commit reads the row and answers the current totals.
      expect(store.run(commit("a"), 1_000)).toEqual({ outcome: "committed", connectionTotal: 10n, paymentTotal: 10n })
      expect(store.reads()).toBe(1)
      // At its lapse time the remembered row no longer answers.
      store.run(reserve("b", 5n), 2_000)
      expect(store.reads()).toBe(1)
      expect(store.run(commit("b"), 3_000)).toEqual({ outcome: "committed", connectionTotal: 15n, paymentTotal: 15n })
      expect(store.reads()).toBe(2)
      // A release forgets it: a late commit reads "released" from the row.
      store.run(reserve("r", 5n), 4_000)
      expect(store.run(release("r"), 4_001)).toBe("released")
      const readsBefore = store.reads()
      expect(store.run(commit("r"), 4_002)).toEqual({ outcome: "released" })
      expect(store.reads()).toBe(readsBefore + 1)
      // A rolled-back transaction clears memory: the next commit reads the row.
      store.run(reserve("x", 5n), 5_000)
      store.cache.clear()
      const readsAfterClear = store.reads()
      expect(store.run(commit("x"), 5_001)).toEqual({ outcome: "committed", connectionTotal: 20n, paymentTotal: 20n })
      expect(store.reads()).toBe(readsAfterClear + 1)
    } finally {
      store.db.close()
    }
  })

  it("a reserve of an id with a live row is answered from it: released → refused, else reserved twice; a forgotten row is replaced", () => {
    const store = makeStore()
    try {
      // A release before the reserve leaves a tombstone: the late reserve is refused, nothing pending.
      expect(store.run(release("late"), 0)).toBe("released")
      expect(store.run(reserve("late", 10n), 1)).toEqual({ accepted: false, paymentTotal: 0n, remaining: 0n })
      expect(store.dump().packets).toMatchObject([{ packet_id: "late", state: 3, amount: "0" }])
      // Reserved twice, remembered or not: a defect, the first row unchanged.
      store.run(reserve("twice", 10n), 2)
      expect(store.run(reserve("twice", 7n), 3)).toBe("Failure")
      store.cache.clear()
      expect(store.run(reserve("twice", 7n), 4)).toBe("Failure")
      expect(store.dump().packets).toMatchObject([{ packet_id: "late" }, { packet_id: "twice", state: 1, amount: "10" }])
      // Still counted once: 10 pending of the cap 1 000.
      expect(store.run(reserve("more", 990n), 5)).toMatchObject({ accepted: true, paymentTotal: 1_000n })
      expect(store.run(reserve("over", 1n), 6)).toEqual({ accepted: false, paymentTotal: 1_000n, remaining: 0n })
      // At its forget time (released at 0 + grace 500) the tombstone counts as absent: the id can be reserved.
      expect(store.run(reserve("late", 10n, 10_000, 10_000n), 499)).toEqual({ accepted: false, paymentTotal: 1_000n, remaining: 0n })
      expect(store.run(reserve("late", 10n, 10_000, 10_000n), 500)).toMatchObject({ accepted: true })
      expect(store.dump().packets[0]).toMatchObject({ packet_id: "late", state: 1, amount: "10" })
    } finally {
      store.db.close()
    }
  })

  it("remembers at most its bound of packets, forgetting the oldest; forgetting a payment forgets them all", () => {
    const cache = new ReceiptCache(2)
    for (const id of ["a", "b", "c"]) cache.setPendingPacket(id, { amount: 1n, paymentKey: "p", lapseAtMs: 10 })
    expect([...cache.packets.keys()]).toEqual(["b", "c"])
    cache.forgetPayment("q")
    expect(cache.packets.size).toBe(0)
  })

  it("every answer and every row are the same as with nothing remembered (random reserves, commits, releases, times)", () => {
    fc.assert(
      fc.property(fc.array(packetStep, { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), (ops, bound) => {
        const remembering = makeStore(bound)
        const forgetting = makeStore()
        try {
          let nowMs = 0
          // An id is reserved at most once per run: a second reserve of it is a defect, whose
          // refusal may come after due lapses (see `reserveStep`); the test above has it.
          const reserved = new Set<string>()
          for (const o of ops) {
            if (o.kind === "wait") {
              nowMs += o.ms
              continue
            }
            if (o.kind === "reserve") {
              if (reserved.has(o.id)) continue
              reserved.add(o.id)
            }
            const write = o.kind === "reserve" ? reserve(o.id, o.amount, o.pendingMs, 100n) : o.kind === "commit" ? commit(o.id) : release(o.id)
            // Today's behaviour: nothing remembered before any step, and the reserve reads the row first.
            forgetting.cache.clear()
            const expected = forgetting.run(write, nowMs, true)
            expect(remembering.run(write, nowMs)).toEqual(expected)
          }
          expect(remembering.dump()).toEqual(forgetting.dump())
        } finally {
          remembering.db.close()
          forgetting.db.close()
        }
      }),
      { numRuns: 300 }
    )
  })

  it("pending amounts held in memory (the ledger's connection) answer as the packet rows do; only committed packets get a row, the same one (random reserves, commits, releases, times)", () => {
    fc.assert(
      fc.property(fc.array(packetStep, { maxLength: 40 }), (ops) => {
        const memory = new PendingTable()
        const inMemory = makeStore(10_000, memory)
        const rows = makeStore()
        try {
          let nowMs = 0
          // Each id reserved at most once per run. (A reserve of an id already committed is a
          // defect with rows, and a new pending packet in memory, which reads no row: documented.)
          const reserved = new Set<string>()
          for (const o of ops) {
            if (o.kind === "wait") {
              nowMs += o.ms
              // The periodic pass changes no answer.
              if (o.ms % 2 === 0) memory.sweep(nowMs)
              continue
            }
            if (o.kind === "reserve") {
              if (reserved.has(o.id)) continue
              reserved.add(o.id)
            }
            const write = o.kind === "reserve" ? reserve(o.id, o.amount, o.pendingMs, 100n) : o.kind === "commit" ? commit(o.id) : release(o.id)
            expect(inMemory.run(write, nowMs)).toEqual(rows.run(write, nowMs))
          }
          // Rows not yet forgotten (a forgotten one is absent to every read, and may have been replaced by a tombstone row).
          const committedRows = (store: ReturnType<typeof makeStore>) =>
            store.db.prepare(
              "SELECT packet_id, amount, payment_key, lapse_at_ms, forget_at_ms FROM receipt_packets WHERE state = 2 AND forget_at_ms > ? ORDER BY packet_id"
            ).all(nowMs)
          expect(committedRows(inMemory)).toEqual(committedRows(rows))
          expect((inMemory.db.prepare("SELECT count(*) AS n FROM receipt_packets WHERE state <> 2").get() as { n: number }).n).toBe(0)
          const { connections, payments } = inMemory.dump()
          expect({ connections, payments }).toEqual({ connections: rows.dump().connections, payments: rows.dump().payments })
        } finally {
          inMemory.db.close()
          rows.db.close()
        }
      }),
      { numRuns: 1_000 }
    )
  })

  it("commits held in memory write their rows together before the COMMIT (32 per statement); until then a repeated commit or a release in the same transaction answers from the log; a rollback writes none", () => {
    const memory = new PendingTable()
    const db = new DatabaseSync(":memory:")
    try {
      db.exec(schema)
      const statements = prepare(db)
      const cache = new ReceiptCache(10_000)
      const deferred = makeDeferredTotals()
      const ctx: StepContext = { statements, connectionTtlMs: 86_400_000, settleGraceMs: 500, nowMs: 0, cache, deferred, memory }
      const sizes: Array<number> = []
      const putPackets = statements.putPackets
      const counting: Statements = { ...statements, putPackets: (rows) => (sizes.push(rows), putPackets(rows)) }
      const ids = Array.from({ length: 70 }, (_, i) => `${1000 + i}`)
      for (const id of ids) expect(step(ctx, reserve(id, 1n, 1_000, 100n))).toMatchObject({ accepted: true })
      const rowCount = () => (db.prepare("SELECT count(*) AS n FROM receipt_packets").get() as { n: number }).n
      const committedAnswer = (paymentTotal: bigint) => ({ outcome: "committed", connectionTotal: paymentTotal, paymentTotal })
      // A transaction that rolls back: no row, every packet pending again.
      db.exec("BEGIN IMMEDIATE")
      expect(step(ctx, commit(ids[0]!))).toEqual(committedAnswer(1n))
      writeCommittedRows(counting, memory)
      expect(rowCount()).toBe(1)
      db.exec("ROLLBACK")
      memory.rolledBack()
      cache.clear()
      deferred.connections.clear()
      deferred.payments.clear()
      expect(rowCount()).toBe(0)
      expect(countedTotal(ctx, "p").total).toBe(70n)
      sizes.length = 0
      // One transaction commits all 70.
      db.exec("BEGIN IMMEDIATE")
      ids.forEach((id, i) => expect(step(ctx, commit(id))).toEqual(committedAnswer(BigInt(i + 1))))
      // No row yet: a repeated commit and a release answer from the log, as they would from the row.
      expect(rowCount()).toBe(0)
      expect(step(ctx, commit(ids[5]!))).toEqual(committedAnswer(70n))
      expect(step(ctx, release(ids[6]!))).toBe("committed")
      writeDeferred(statements, deferred)
      writeCommittedRows(counting, memory)
      db.exec("COMMIT")
      memory.committed()
      expect(sizes).toEqual([32, 32, 6])
      const rows = db.prepare("SELECT packet_id, state, amount, payment_key, lapse_at_ms, forget_at_ms FROM receipt_packets ORDER BY packet_id").all()
      expect(rows).toEqual(ids.map((id) => ({ packet_id: id, state: 2, amount: "1", payment_key: "p", lapse_at_ms: 1_000, forget_at_ms: 1_500 })))
      // After the COMMIT the log is gone: the answers come from the rows.
      expect(memory.committedInTransaction(ids[5]!)).toBeUndefined()
      expect(step(ctx, commit(ids[5]!))).toEqual(committedAnswer(70n))
      expect(step(ctx, release(ids[6]!))).toBe("committed")
      expect(countedTotal(ctx, "p").total).toBe(70n)
    } finally {
      db.close()
    }
  })

  it("the packet sweep deletes at most its limit of forgotten rows, the earliest first (ties by id), and every forgotten row when fewer are due; never a live one", () => {
    const db = new DatabaseSync(":memory:")
    try {
      db.exec(schema)
      const statements = prepare(db)
      // Forget times 10, 10, 10, 20, 20, 30 and a live row at 100 (ids out of time order).
      const rows: Array<[string, number]> = [["f", 10], ["b", 10], ["d", 10], ["a", 20], ["e", 20], ["c", 30], ["z", 100]]
      for (const [id, forgetAtMs] of rows) statements.putPacket.run(id, 2, "1", "p", forgetAtMs - 5, forgetAtMs)
      const left = () => (db.prepare("SELECT packet_id FROM receipt_packets ORDER BY forget_at_ms, packet_id").all() as Array<{ packet_id: string }>).map((r) => r.packet_id)
      expect(statements.sweepPackets.run(50, 0).changes).toBe(0)
      // Two of the three tied at 10, by id.
      expect(statements.sweepPackets.run(50, 2).changes).toBe(2)
      expect(left()).toEqual(["f", "a", "e", "c", "z"])
      expect(statements.sweepPackets.run(50, 3).changes).toBe(3)
      expect(left()).toEqual(["c", "z"])
      // Fewer due than the limit: all of them, not the live row.
      expect(statements.sweepPackets.run(50, 64).changes).toBe(1)
      expect(left()).toEqual(["z"])
      expect(statements.sweepPackets.run(99, 64).changes).toBe(0)
      expect(statements.sweepPackets.run(100, 64).changes).toBe(1)
      expect(left()).toEqual([])
    } finally {
      db.close()
    }
  })

  it.effect("a write batch sweeps forgotten packet rows 64 at a time once 64 are due (or sooner for a row written since); forgotten rows waiting for it answer as absent", () =>
    Effect.gen(function*() {
      const db = new DatabaseSync(":memory:")
      db.exec(schema)
      const statements = prepare(db)
      const sweep = statements.sweepPackets
      const run = sweep.run.bind(sweep) as (...params: ReadonlyArray<unknown>) => ReturnType<typeof sweep.run>
      let sweeps = 0
      sweep.run = ((...params: ReadonlyArray<unknown>) => {
        sweeps++
        return run(...params)
      }) as typeof sweep.run
      const cache = new ReceiptCache()
      const batcher = makeWriteBatcher(db, statements, cache, 86_400_000, 500)
      const rowCount = () => Number(db.prepare("SELECT count(*) AS n FROM receipt_packets").get()!["n"])
      // Cap far above what is sent; each packet forgotten 1 500 ms after its reserve.
      const reserveNow = (packetId: string) =>
        batcher.write({ kind: "reserve", request: { packetId, connectionKey: "c", amount: 1n, payment: { key: "p", cap: 10n ** 9n }, pendingMs: 1_000 } })
      try {
        // 200 packets, one per ms (each its own batch): only the first batch sweeps (unknown at first).
        for (let i = 0; i < 200; i++) {
          yield* reserveNow(`p${i}`)
          yield* TestClock.adjust(1)
        }
        expect(sweeps).toBe(1)
        expect(cache.nextForgetMs).toBe(1_500)
        // 1 563: p0…p63 are forgotten (64): the batch deletes 64, the limit, so the next batch sweeps again.
        yield* TestClock.adjust(1_363)
        yield* reserveNow("x")
        expect(sweeps).toBe(2)
        expect(rowCount()).toBe(200 - 64 + 1)
        yield* reserveNow("y")
        expect(sweeps).toBe(3)
        // Caught up: the next sweep is when the 64th row left (p127, at 1 627) is forgotten.
        expect(cache.nextForgetMs).toBe(1_627)
        yield* TestClock.adjust(37)
        yield* reserveNow("z")
        expect(sweeps).toBe(3)
        // p64…p100 are forgotten but not deleted yet: absent to reads all the same.
        expect(yield* batcher.write({ kind: "commit", packet: { packetId: "p70", connectionKey: "c", paymentKey: "p" } })).toEqual({ outcome: "unknown" })
        expect(rowCount()).toBe(200 - 64 + 3)
        // A release's tombstone (forgotten at 2 100, later) leaves it; the first reserve above,
        // forgotten at 1 500 after the first sweep found nothing, brought it down from Infinity.
        yield* batcher.write({ kind: "release", packet: { packetId: "t", connectionKey: "c", paymentKey: "p" } })
        expect(cache.nextForgetMs).toBe(1_627)
        // 1 627: 64 due (p64…p127): swept at once.
        yield* TestClock.adjust(27)
        yield* reserveNow("w")
        expect(sweeps).toBe(4)
        expect(rowCount()).toBe(200 - 128 + 5)
        // A rollback forgets it: the next batch sweeps.
        cache.clear()
        yield* reserveNow("v")
        expect(sweeps).toBe(5)
      } finally {
        db.close()
      }
    }))
})
