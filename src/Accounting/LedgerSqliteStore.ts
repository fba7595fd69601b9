/**
 * The embedded ledger's storage engine: synchronous, single-writer, on `node:sqlite`.
 *
 * `runBatch` executes many requests ("jobs") in ONE SQLite transaction. Each job decides its
 * outcome in memory first (against an overlay of the account rows it touches), so a job that fails
 * (e.g. `InsufficientBalance`) writes nothing but its failure record and never disturbs the others;
 * a storage error inside one job is rolled back alone: a batch runs without savepoints first and,
 * only if a job throws, is rolled back and run again with a SAVEPOINT around each job (`runBatch`).
 * Account balances are cached in memory (this process is the only writer of the file) and written
 * once per batch per touched account; if the batch cannot commit, the cache is restored and every
 * job in it fails with `LedgerUnavailable`.
 *
 * Layout: `LedgerSqliteSchema.ts` (storage format, statements, row mapping), `LedgerSqliteJobs.ts`
 * (what one request does), `LedgerSqliteJournal.ts` (audit replay); this file runs batches.
 */
import * as Exit from "effect/Exit"
import type { DatabaseSync } from "node:sqlite"
import {
  type Account,
  type AccountBalance,
  type AccountQuery,
  LedgerUnavailable,
  type Transfer
} from "./Ledger.ts"
import {
  type AccountRow
} from "./LedgerRules.ts"
import {
  type SqlRow,
  type Statements,
  type StoreOptions,
  type TransferRow,
  decodeAccount,
  decodeTransfer,
  nsPerMs,
  prepareStatements,
  readEarliestExpiry,
  toAccount,
  toBalance,
  toTransfer
} from "./LedgerSqliteSchema.ts"
import {
  type ExpiryWatermark,
  type Job,
  type JobScope,
  expireDue,
  makeTx
} from "./LedgerSqliteJobs.ts"
import { Slots } from "../Slots.ts"

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

export type BatchResult<E> =
  | { readonly _tag: "Committed"; readonly exits: ReadonlyArray<Exit.Exit<void, E | LedgerUnavailable>> }
  /** Nothing was committed; every job fails with this (storage error) or dies with it (bug). */
  | { readonly _tag: "Aborted"; readonly exit: Exit.Exit<never, LedgerUnavailable>; readonly cause: unknown }

/**
 * Another store on this ledger's connection whose writes run inside ledger batches (the receipt
 * totals of `PostAlongside` writes): told when a batch is about to commit and when work was rolled back.
 */
export interface BatchParticipant {
  /**
   * Inside the transaction, after the last job: write what the batch's jobs deferred. May throw a
   * storage error or `BatchAbort` (the batch is rolled back, every job fails with `LedgerUnavailable`).
   */
  readonly beforeCommit: () => void
  /** The batch's COMMIT succeeded (must not throw). */
  readonly afterCommit?: () => void
  /** The whole batch was rolled back: forget everything its jobs did in memory. */
  readonly batchRolledBack: () => void
  /** One job was rolled back to its savepoint (guarded run): forget what may reflect its writes. */
  readonly jobRolledBack: () => void
}

export interface Store {
  /** Runs the jobs in one transaction. A failure to begin or commit aborts them all. */
  readonly runBatch: <E>(jobs: ReadonlyArray<Job<E>>, nowMs: number) => BatchResult<E>
  /** Whether a pending transfer has reached its timeout (cheap; uses a partial index). */
  readonly hasDueExpiries: (nowMs: number) => boolean
  readonly balances: (ids: ReadonlyArray<bigint>) => ReadonlyArray<AccountBalance>
  readonly listAccounts: (query: AccountQuery) => ReadonlyArray<Account>
  readonly countPending: () => number
  /** The transfers that exist among `ids`, in order; a pending one past its timeout reads as expired. */
  readonly lookupTransfers: (ids: ReadonlyArray<bigint>, nowMs: number) => ReadonlyArray<Transfer>
  /** Adds a participant to every batch from now on. */
  readonly participate: (participant: BatchParticipant) => void
}

const isSqliteError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ERR_SQLITE_ERROR"

/** Thrown by a `BatchParticipant` that cannot let the batch commit: every job fails with `LedgerUnavailable`. */
export class BatchAbort extends Error {
  override readonly name = "BatchAbort"
}

/** A thrown SQLite error (disk full, I/O) or `BatchAbort` is an operating error; anything else is a bug. */
export const exitOfThrown = (error: unknown): Exit.Exit<never, LedgerUnavailable> =>
  isSqliteError(error) || error instanceof BatchAbort
    ? Exit.fail(new LedgerUnavailable({ message: "ledger storage error", cause: error }))
    : Exit.die(error)

export const makeStore = (db: DatabaseSync, options: StoreOptions): Store => {
  const sql = prepareStatements(db)
  const cache = new Map<bigint, AccountRow>()
  let lastTimestamp = BigInt((sql.maxTimestamp.get() as SqlRow)["t"] as bigint)
  const expiries: ExpiryWatermark = { earliestNs: readEarliestExpiry(sql) }
  const participants: Array<BatchParticipant> = []

  const nextTimestamp = (nowMs: number) => (): bigint => {
    const now = BigInt(nowMs) * nsPerMs
    lastTimestamp = now > lastTimestamp ? now : lastTimestamp + 1n
    return lastTimestamp
  }

  const loadAccount = (id: bigint): AccountRow | undefined => {
    const cached = cache.get(id)
    if (cached !== undefined) return cached
    const row = sql.selectAccount.get(id.toString()) as SqlRow | undefined
    if (row === undefined) return undefined
    const account = decodeAccount(row)
    cache.set(id, account)
    return account
  }

  /**
   * Pending transfers this process created, as stored (at most `pendingCacheSizeMax`; beyond that,
   * and for transfers left by an earlier process, `loadTransfer` reads the row). A post or void
   * then finds its transfers without a SELECT. Entries leave when resolved; any rollback clears
   * the whole map (it may hold rows the rollback removed), which only costs reads.
   *
   * The map holds each row's slot in `pendingRows` (`Slots.ts`), not the row: with an entry added
   * and deleted per packet, the map rehashes every few dozen packets into a new old-generation
   * table, and the dead table would keep the rows it points to (with their bigints) alive until a
   * mark-compact; a resolved row's slot is cleared in place, so only the ids (and slot numbers)
   * are kept that way (docs/performance/hot-path.md, "What the scavenges promote"). Freed slots
   * are reused, so `pendingRows` never holds more slots than the most rows ever cached at once
   * (at most `pendingCacheSizeMax`); a rollback empties it.
   */
  const pendingSlots = new Map<bigint, number>()
  const pendingRows = new Slots<TransferRow>()
  const pendingCache: PendingCache = {
    created: (row) => {
      if (pendingSlots.size >= pendingCacheSizeMax) return
      const slot = pendingSlots.get(row.id)
      if (slot !== undefined) pendingRows.set(slot, row)
      else pendingSlots.set(row.id, pendingRows.add(row))
    },
    resolved: (id) => {
      const slot = pendingSlots.get(id)
      if (slot === undefined) return
      pendingSlots.delete(id)
      pendingRows.delete(slot)
    },
    clear: () => {
      pendingSlots.clear()
      pendingRows.clear()
    }
  }

  const loadTransfer = (id: bigint): TransferRow | undefined => {
    const slot = pendingSlots.get(id)
    const remembered = slot === undefined ? undefined : pendingRows.get(slot)
    if (remembered !== undefined) return remembered
    const row = sql.selectTransfer.get(id.toString()) as SqlRow | undefined
    return row === undefined ? undefined : decodeTransfer(row)
  }

  /**
   * One attempt at the batch. `guarded`: each job runs inside its own SAVEPOINT, so a job that
   * throws is rolled back alone. Unguarded, a throwing job aborts the attempt (`JobThrew`).
   */
  const attempt = <E>(jobs: ReadonlyArray<Job<E>>, nowMs: number, guarded: boolean): BatchResult<E> | JobThrew => {
    const batch = makeBatch(sql, cache, loadAccount, loadTransfer, pendingCache, nextTimestamp(nowMs), expiries, guarded, participants)
    try {
      sql.begin.run()
      batch.run(expireDue(options.expiredPerBatchMax))
      const exits = jobs.map((job) => batch.run(job))
      batch.flush()
      for (const participant of participants) participant.beforeCommit()
      sql.commit.run()
      for (const participant of participants) participant.afterCommit?.()
      evictOldest(cache, options.accountCacheSizeMax)
      return { _tag: "Committed", exits }
    } catch (error) {
      if (db.isTransaction) sql.rollback.run()
      batch.restore()
      for (const participant of participants) participant.batchRolledBack()
      pendingCache.clear()
      expiries.earliestNs = 0n
      if (error instanceof JobThrew) return error
      return { _tag: "Aborted", exit: exitOfThrown(error), cause: error }
    }
  }

  /**
   * Runs the batch without savepoints first (two statements less per job: most of a batch's
   * statements when it holds many small jobs); only if a job throws (a storage error or a defect,
   * never a business failure, which is an `Exit`) is everything rolled back and the batch run again
   * with a savepoint per job, which gives exactly the guarded outcome. Jobs are pure functions of
   * the store's state, so running one again after a rollback decides the same.
   */
  const runBatch = <E>(jobs: ReadonlyArray<Job<E>>, nowMs: number): BatchResult<E> => {
    const fast = attempt(jobs, nowMs, false)
    if (!(fast instanceof JobThrew)) return fast
    return attempt(jobs, nowMs, true) as BatchResult<E>
  }

  return {
    runBatch,
    hasDueExpiries: (nowMs) => {
      const now = BigInt(nowMs) * nsPerMs
      return now >= expiries.earliestNs && sql.selectDue.get(now, 1) !== undefined
    },
    participate: (participant) => {
      participants.push(participant)
    },
    balances: (ids) =>
      ids.flatMap((id) => {
        const row = loadAccount(id)
        return row === undefined ? [] : [toBalance(row)]
      }),
    listAccounts: (query) => listAccounts(sql, query),
    countPending: () => Number((sql.countPending.get() as SqlRow)["n"]),
    lookupTransfers: (ids, nowMs) =>
      ids.flatMap((id) => {
        const row = loadTransfer(id)
        return row === undefined ? [] : [toTransfer(row, BigInt(nowMs) * nsPerMs)]
      })
  }
}

const listAccounts = (sql: Statements, query: AccountQuery): ReadonlyArray<Account> => {
  const timestampMin = query.timestampMin ?? 0n
  const rows = query.ledger === undefined
    ? sql.listAccounts.all(timestampMin, query.limit)
    : sql.listLedgerAccounts.all(query.ledger, timestampMin, query.limit)
  return (rows as Array<SqlRow>).map((row) => toAccount(decodeAccount(row)))
}

/**
 * Called after every commit, so the common case (nothing to evict) must not touch an iterator: a
 * V8 Map keeps deleted entries in place until it rehashes, and an iterator walks past them, so after
 * a burst of account creations evicted thousands of rows, `cache.keys()` cost ~10 µs per call (a
 * scan of the holes) on every batch until the next rehash. Measured in the scaled bench node's
 * profile; see docs/performance/memory.md ("Scale: allocation-site pretenuring", section 5).
 */
const evictOldest = (cache: Map<bigint, AccountRow>, sizeMax: number): void => {
  if (cache.size <= sizeMax) return
  for (const id of cache.keys()) {
    if (cache.size <= sizeMax) return
    cache.delete(id)
  }
}

// ---------------------------------------------------------------------------------------------
// A batch: per-job overlays merged into the cache, remembered for rollback
// ---------------------------------------------------------------------------------------------

/** Most pending transfers remembered in memory (about 120 bytes each); see `loadTransfer`. */
export const pendingCacheSizeMax = 100_000

interface PendingCache {
  readonly created: (row: TransferRow) => void
  readonly resolved: (id: bigint) => void
  readonly clear: () => void
}

/**
 * One job's scope: its overlay of account rows (made on the first write) over the shared cache. A
 * class rather than an object of closures: one object per job, two jobs per forwarded packet.
 */
class Overlay implements JobScope {
  rows: Map<bigint, AccountRow> | undefined = undefined
  readonly loadAccount: (id: bigint) => AccountRow | undefined
  readonly transfer: (id: bigint) => TransferRow | undefined
  readonly pendingCreated: (row: TransferRow) => void
  readonly pendingResolved: (id: bigint) => void
  readonly nextTimestamp: () => bigint
  readonly expiries: ExpiryWatermark
  constructor(
    loadAccount: (id: bigint) => AccountRow | undefined,
    loadTransfer: (id: bigint) => TransferRow | undefined,
    pendingCache: PendingCache,
    nextTimestamp: () => bigint,
    expiries: ExpiryWatermark
  ) {
    this.loadAccount = loadAccount
    this.transfer = loadTransfer
    this.pendingCreated = pendingCache.created
    this.pendingResolved = pendingCache.resolved
    this.nextTimestamp = nextTimestamp
    this.expiries = expiries
  }
  account(id: bigint): AccountRow | undefined {
    return this.rows?.get(id) ?? this.loadAccount(id)
  }
  putAccount(row: AccountRow): void {
    this.rows ??= new Map()
    this.rows.set(row.id, row)
  }
}

/** An unguarded job threw: the attempt is abandoned and the batch re-run guarded. */
class JobThrew {
  readonly cause: unknown
  constructor(cause: unknown) {
    this.cause = cause
  }
}

const makeBatch = (
  sql: Statements,
  cache: Map<bigint, AccountRow>,
  loadAccount: (id: bigint) => AccountRow | undefined,
  loadTransfer: (id: bigint) => TransferRow | undefined,
  pendingCache: PendingCache,
  nextTimestamp: () => bigint,
  expiries: ExpiryWatermark,
  guarded: boolean,
  participants: ReadonlyArray<BatchParticipant>
) => {
  /** Pre-batch value of every account a job changed (`undefined`: created in this batch). */
  const originals = new Map<bigint, AccountRow | undefined>()

  const merge = (overlay: ReadonlyMap<bigint, AccountRow>) => {
    for (const [id, row] of overlay) {
      if (!originals.has(id)) originals.set(id, cache.get(id))
      cache.set(id, row)
    }
  }

  const run = <E>(job: Job<E>): Exit.Exit<void, E | LedgerUnavailable> => {
    const scope = new Overlay(loadAccount, loadTransfer, pendingCache, nextTimestamp, expiries)
    if (!guarded) {
      let exit: Exit.Exit<void, E>
      try {
        exit = job(makeTx(sql, scope))
      } catch (error) {
        throw new JobThrew(error)
      }
      if (Exit.isSuccess(exit) && scope.rows !== undefined) merge(scope.rows)
      return exit
    }
    sql.savepoint.run()
    try {
      const exit = job(makeTx(sql, scope))
      sql.release.run()
      if (Exit.isSuccess(exit) && scope.rows !== undefined) merge(scope.rows)
      return exit
    } catch (error) {
      sql.rollbackToSavepoint.run()
      sql.release.run()
      pendingCache.clear()
      for (const participant of participants) participant.jobRolledBack()
      // Whatever this job expired is pending again: the watermark must not stay above it.
      expiries.earliestNs = 0n
      return exitOfThrown(error)
    }
  }

  const flush = () => {
    for (const id of originals.keys()) {
      const row = cache.get(id)
      if (row === undefined) continue
      sql.updateBalances.run(
        row.debitsPending.toString(),
        row.debitsPosted.toString(),
        row.creditsPending.toString(),
        row.creditsPosted.toString(),
        id.toString()
      )
    }
  }

  const restore = () => {
    for (const [id, row] of originals) {
      if (row === undefined) cache.delete(id)
      else cache.set(id, row)
    }
  }

  return { run, flush, restore }
}

