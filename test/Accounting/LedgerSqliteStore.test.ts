/**
 * The store's batch engine: a batch first runs without savepoints; a job that throws (storage
 * error, defect) makes it roll back and run again with a savepoint per job, so the throwing job is
 * rolled back alone and every other job of the batch commits exactly once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Exit } from "effect"
import { AccountCode, newTransferId, TransferCode } from "../../src/Accounting/Ledger.ts"
import { defaults } from "../../src/Accounting/LedgerSqlite.ts"
import type { Job } from "../../src/Accounting/LedgerSqliteJobs.ts"
import { openDatabase } from "../../src/Accounting/LedgerSqliteSchema.ts"
import { BatchAbort, type BatchParticipant, makeStore } from "../../src/Accounting/LedgerSqliteStore.ts"

const L = 3
const open = () => {
  const options = { ...defaults, filename: ":memory:" }
  const db = openDatabase(options)
  return { db, store: makeStore(db, options) }
}

/** `open`, with two peer liquidity accounts (`source`, `target`) created in one committed batch. */
const openWithAccounts = () => {
  const { db, store } = open()
  const [source, target] = [newTransferId(), newTransferId()]
  const created = store.runBatch<never>([(tx) =>
    tx.createAccounts([
      { id: source, ledger: L, code: AccountCode.peerLiquidity, flags: {} },
      { id: target, ledger: L, code: AccountCode.peerLiquidity, flags: {} }
    ])
  ], 1_000)
  return { db, store, source, target, created }
}

const sqliteError = () => Object.assign(new Error("disk I/O error"), { code: "ERR_SQLITE_ERROR" })

describe("LedgerSqliteStore.runBatch", () => {
  it("rolls back only the job that throws; the others commit once", () => {
    const { db, store, source, target, created } = openWithAccounts()
    expect(created._tag).toBe("Committed")
    const transfer = (amount: bigint): Job<unknown> => (tx) =>
      tx.createTransfers([{ id: newTransferId(), debitAccountId: source, creditAccountId: target, amount, ledger: L, code: TransferCode.packet }], undefined)
    let runs = 0
    const throwsAfterWriting: Job<unknown> = (tx) => {
      runs++
      tx.createTransfers([{ id: newTransferId(), debitAccountId: source, creditAccountId: target, amount: 100n, ledger: L, code: TransferCode.packet }], undefined)
      throw sqliteError()
    }
    const result = store.runBatch([transfer(1n), throwsAfterWriting, transfer(10n)], 2_000)
    expect(result._tag).toBe("Committed")
    if (result._tag !== "Committed") return
    expect(runs).toBe(2) // once unguarded, once inside its savepoint
    expect(Exit.isSuccess(result.exits[0]!)).toBe(true)
    expect(Exit.isFailure(result.exits[1]!)).toBe(true)
    expect(Exit.isSuccess(result.exits[2]!)).toBe(true)
    const [debited] = store.balances([source])
    expect(debited!.debitsPosted).toBe(11n)
    const rows = db.prepare("SELECT count(*) AS n FROM transfers").get() as { n: number }
    expect(Number(rows.n)).toBe(2)
    // The cache and the file agree after the rolled-back attempt.
    const stored = db.prepare("SELECT debits_posted AS d FROM accounts WHERE id = ?").get(source.toString()) as { d: unknown }
    expect(BigInt(stored.d as number)).toBe(11n)
    db.close()
  })

  it("a pending transfer whose job was rolled back is not found by a later post (in-memory pending rows)", () => {
    const { db, store, source, target } = openWithAccounts()
    const spec = (id: bigint) => ({ id, debitAccountId: source, creditAccountId: target, amount: 5n, ledger: L, code: TransferCode.packet })
    const kept = newTransferId()
    const lost = newTransferId()
    const reserved = store.runBatch([
      (tx) => tx.createTransfers([spec(kept)], 30),
      (tx) => {
        tx.createTransfers([spec(lost)], 30)
        throw sqliteError()
      }
    ], 2_000)
    expect(reserved._tag).toBe("Committed")
    const posted = store.runBatch([(tx) => tx.post([kept]), (tx) => tx.post([lost])], 3_000)
    if (posted._tag !== "Committed") throw new Error("batch aborted")
    expect(Exit.isSuccess(posted.exits[0]!)).toBe(true)
    const lostExit = posted.exits[1]!
    const lostError = Exit.isFailure(lostExit) ? Cause.findErrorOption(lostExit.cause) : undefined
    expect(lostError?._tag === "Some" && (lostError.value as { _tag: string })._tag).toBe("PendingNotFound")
    const [balance] = store.balances([source])
    expect(balance).toMatchObject({ debitsPosted: 5n, debitsPending: 0n })
    // A second post of the same transfer is idempotent (read back from the file once resolved).
    const again = store.runBatch([(tx) => tx.post([kept])], 4_000)
    if (again._tag !== "Committed") throw new Error("batch aborted")
    expect(Exit.isSuccess(again.exits[0]!)).toBe(true)
    expect(store.balances([source])[0]).toMatchObject({ debitsPosted: 5n, debitsPending: 0n })
    db.close()
  })

  it("a job that dies (a bug) dies alone, the batch still commits", () => {
    const { db, store } = open()
    const result = store.runBatch<never>([() => Exit.void, () => {
      throw new Error("bug")
    }, () => Exit.void], 1_000)
    expect(result._tag).toBe("Committed")
    if (result._tag !== "Committed") return
    expect(result.exits.map(Exit.isSuccess)).toEqual([true, false, true])
    db.close()
  })
})

describe("LedgerSqliteStore account cache", () => {
  it("the default keeps 10 000 rows; accounts beyond a small cache are read back from the file with their balances", () => {
    expect(defaults.accountCacheSizeMax).toBe(10_000)
    const options = { ...defaults, filename: ":memory:", accountCacheSizeMax: 2 }
    const db = openDatabase(options)
    const store = makeStore(db, options)
    const ids = Array.from({ length: 6 }, () => newTransferId())
    store.runBatch<never>([(tx) => tx.createAccounts(ids.map((id) => ({ id, ledger: L, code: AccountCode.peerLiquidity, flags: {} })))], 1_000)
    // Each batch touches two accounts; the cache (2 rows) evicts the others between batches.
    for (let round = 0; round < 3; round++) {
      const result = store.runBatch(ids.slice(1).map((target, i): Job<unknown> => (tx) =>
        tx.createTransfers([{
          id: newTransferId(),
          debitAccountId: ids[0]!,
          creditAccountId: target,
          amount: BigInt(i + 1),
          ledger: L,
          code: TransferCode.packet
        }], undefined)
      ), 2_000 + round)
      expect(result._tag).toBe("Committed")
    }
    const balances = store.balances(ids)
    expect(balances.map((b) => b.debitsPosted)).toEqual([3n * (1n + 2n + 3n + 4n + 5n), 0n, 0n, 0n, 0n, 0n])
    expect(balances.map((b) => b.creditsPosted)).toEqual([0n, 3n, 6n, 9n, 12n, 15n])
    db.close()
  })
})

describe("LedgerSqliteStore: a write alongside a post, and batch participants", () => {
  const setUp = () => {
    const { db, store, source, target } = openWithAccounts()
    db.exec("CREATE TABLE side (n INTEGER NOT NULL)")
    const reserve = (timeoutSeconds = 30) => {
      const id = newTransferId()
      const result = store.runBatch([(tx) =>
        tx.createTransfers([{ id, debitAccountId: source, creditAccountId: target, amount: 5n, ledger: L, code: TransferCode.packet }], timeoutSeconds)
      ], 2_000)
      expect(result._tag).toBe("Committed")
      return id
    }
    const sideRows = () => Number((db.prepare("SELECT count(*) AS n FROM side").get() as { n: number }).n)
    const events: Array<string> = []
    const participant: BatchParticipant = {
      beforeCommit: () => events.push("beforeCommit"),
      batchRolledBack: () => events.push("batchRolledBack"),
      jobRolledBack: () => events.push("jobRolledBack")
    }
    store.participate(participant)
    const alongside = () => {
      let runs = 0
      return { run: () => { runs++; db.exec("INSERT INTO side (n) VALUES (1)") }, runs: () => runs }
    }
    return { db, store, source, reserve, sideRows, events, alongside }
  }

  it("runs alongside once, in the post's transaction; not for a repeated post, nor for a post that fails", () => {
    const { db, store, source, reserve, sideRows, events, alongside } = setUp()
    const id = reserve()
    const write = alongside()
    const posted = store.runBatch([(tx) => tx.post([id], write)], 3_000)
    expect(posted._tag === "Committed" && Exit.isSuccess(posted.exits[0]!)).toBe(true)
    expect(write.runs()).toBe(1)
    expect(sideRows()).toBe(1)
    expect(store.balances([source])[0]).toMatchObject({ debitsPosted: 5n, debitsPending: 0n })
    // Posting again is success and posts nothing: the write does not run again.
    const again = alongside()
    store.runBatch([(tx) => tx.post([id], again)], 4_000)
    expect(again.runs()).toBe(0)
    // A post that fails (unknown transfer) runs nothing.
    const failing = alongside()
    const unknown = store.runBatch([(tx) => tx.post([newTransferId()], failing)], 5_000)
    expect(unknown._tag === "Committed" && Exit.isFailure(unknown.exits[0]!)).toBe(true)
    expect(failing.runs()).toBe(0)
    expect(sideRows()).toBe(1)
    expect(events.filter((e) => e !== "beforeCommit")).toEqual([])
    db.close()
  })

  it("a write alongside that throws a storage error rolls its post back with it (nothing half-committed)", () => {
    const { db, store, source, reserve, sideRows, events } = setUp()
    const id = reserve()
    const kept = reserve()
    let runs = 0
    const throwing = { run: () => { runs++; db.exec("INSERT INTO side (n) VALUES (1)"); throw sqliteError() } }
    events.length = 0
    const result = store.runBatch([(tx) => tx.post([kept]), (tx) => tx.post([id], throwing)], 3_000)
    if (result._tag !== "Committed") throw new Error("batch aborted")
    expect(Exit.isSuccess(result.exits[0]!)).toBe(true)
    expect(Exit.isFailure(result.exits[1]!)).toBe(true)
    expect(runs).toBe(2) // unguarded attempt, then inside its savepoint
    expect(sideRows()).toBe(0)
    expect(store.balances([source])[0]).toMatchObject({ debitsPosted: 5n, debitsPending: 5n })
    // The unguarded attempt was rolled back whole, then the job alone; the batch then committed.
    expect(events).toEqual(["batchRolledBack", "jobRolledBack", "beforeCommit"])
    db.close()
  })

  it("a participant that aborts the batch fails every job with LedgerUnavailable and commits nothing", () => {
    const { db, store, source, reserve, sideRows, alongside } = setUp()
    const id = reserve()
    let abort = true
    store.participate({
      beforeCommit: () => {
        if (abort) throw new BatchAbort("test")
      },
      batchRolledBack: () => {},
      jobRolledBack: () => {}
    })
    const write = alongside()
    const result = store.runBatch([(tx) => tx.post([id], write)], 3_000)
    expect(result._tag).toBe("Aborted")
    if (result._tag !== "Aborted") return
    const error = Exit.isFailure(result.exit) ? Cause.findErrorOption(result.exit.cause) : undefined
    expect(error?._tag === "Some" && (error.value as { _tag: string })._tag).toBe("LedgerUnavailable")
    expect(sideRows()).toBe(0)
    expect(store.balances([source])[0]).toMatchObject({ debitsPosted: 0n, debitsPending: 5n })
    abort = false
    const again = store.runBatch([(tx) => tx.post([id], write)], 4_000)
    expect(again._tag === "Committed" && Exit.isSuccess(again.exits[0]!)).toBe(true)
    expect(sideRows()).toBe(1)
    db.close()
  })
})
