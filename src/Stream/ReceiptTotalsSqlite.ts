/**
 * Receipt totals in SQLite (`node:sqlite`), the embedded default. See `ReceiptTotals.ts` for the
 * contract. The tables and statements are in `ReceiptTotalsSqliteSchema.ts`, the write steps in
 * `ReceiptTotalsSqliteSteps.ts`; this file batches them and provides the layer.
 *
 * Atomicity: this process must be the only writer of the file (the node holds its data directory,
 * `DataDirLock.ts`). Each call reads what it needs, decides and writes synchronously (no other
 * fiber can interleave), so the cap check and the writes are one step.
 *
 * Batching: a write (`add`, `reserve`, `commit`, `release`) waits for the next turn of the event
 * loop, and every write that arrived meanwhile (at most `writeBatchMax`) runs in ONE
 * `BEGIN IMMEDIATE` transaction, in arrival order; each caller gets its result once that
 * transaction has committed. One WAL commit per batch instead of one per write (bench/: the
 * per-add commit was ~45 µs of CPU per locally received packet). A storage error fails every write
 * of the batch with `ReceiptStoreUnavailable` (outcome unknown, as the contract says); a corrupt
 * stored total is a defect of that write only. A write, once started, is not interrupted while it
 * waits for its batch.
 *
 * Reads: what the steps wrote (totals, pending sums, the next lapse of a payment's pending packets)
 * is remembered in memory (`ReceiptTotalsSqliteCache.ts`, bounded; cleared when a batch rolls
 * back), which is exact because this process is the only writer; a step reads SQLite only for what
 * it has not seen.
 *
 * Storage: totals are TEXT decimals computed with BigInt (exact at any size). Connection rows carry
 * `expires_at_ms`; an expired row counts as absent at once. Packet rows (`receipt_packets`) carry
 * their state, amount, lapse and forget times; they are the record of what is pending. Each
 * payment's pending sum and count are kept in memory beside them (summed from its pending rows
 * when not known; a reserve lapses at most 64 due packets of that payment, through a partial index,
 * when one may be due); `receipt_payment_pending` is no longer written. A write batch that may
 * create packet rows (reserves, releases) deletes forgotten ones, up to twice as many as it may
 * create and at least `batchSweepMin`, once that many may be forgotten (`ReceiptCache.nextForgetMs`:
 * after a sweep that deleted all that was due, when the `batchSweepMin`-th row left is forgotten;
 * lowered by every row the steps write; unknown after a rollback), so in a steady flow a batch
 * deletes 64 rows at a time instead of one or two per batch (~2.5 against ~7 µs per row). Forgotten
 * rows count as absent to every read and are replaced by an insert of their id, so one that waits
 * for its sweep changes no answer; fewer than 64 go with the sweeper. A batch of adds and commits
 * deletes none; a sweeper deletes at most `sweepBatchMax` expired connection
 * rows and forgotten packet rows every `sweepIntervalMs`. Payment rows never expire.
 *
 * Restart: at open, packets still pending were reserved by a previous process, which can no longer
 * post them (the embedded ledger voids its pending transfers at open too): they are released at
 * once, so the payer can pay the rest without waiting for the lapse.
 *
 * Durability: WAL with `synchronous = NORMAL` (no fsync per write, which would stall the event
 * loop); committed writes survive a crash of this process, an OS crash may lose the last ones.
 *
 * Files: `layerSqlite` opens its own file (a second connection to the ledger's file would wait on
 * its locks). The embedded node uses `ReceiptTotalsSqliteInLedger.layerInLedger` instead: the same
 * tables and steps on the ledger's own connection, so a posted packet's receipt write commits in
 * the ledger's post transaction.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type { DatabaseSync } from "node:sqlite"
import {
  type AddResult,
  addRequestProblem,
  checkKey,
  type CommitResult,
  CorruptTotal,
  defaults as totalsDefaults,
  dieIf,
  graceProblem,
  keyProblem,
  packetRefProblem,
  ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReceiptTotalsShape,
  type ReleaseOutcome,
  reserveRequestProblem,
  ttlMs,
  ttlProblem
} from "./ReceiptTotals.ts"
import {
  type Statements,
  nextForgetOf,
  prepare,
  openDatabase
} from "./ReceiptTotalsSqliteSchema.ts"
import {
  connectionTotalOf,
  readTotal,
  tryStore,
  WriteRefused,
  type Write,
  type WriteResult,
  type StepContext,
  makeDeferredTotals,
  step,
  writeCommittedRows,
  writeDeferred
} from "./ReceiptTotalsSqliteSteps.ts"
import { cacheEntriesMax, ReceiptCache } from "./ReceiptTotalsSqliteCache.ts"
import type { PendingTable } from "./ReceiptTotalsSqlitePending.ts"
import { inTransaction } from "../SqliteTransaction.ts"

export interface SqliteOptions {
  /** Database file; `:memory:` for tests (not durable). */
  readonly filename: string
  readonly connectionTtlSeconds?: number
  readonly settleGraceMs?: number
  /** How often expired connection rows and forgotten packet rows are deleted. */
  readonly sweepIntervalMs?: number
  /** Rows of each kind deleted per sweep. */
  readonly sweepBatchMax?: number
  /** Wait for a lock held by another connection to the file. */
  readonly busyTimeoutMs?: number
  /** Keys of each kind (connections, payments, pending sums) remembered in memory (`ReceiptTotalsSqliteCache.ts`). */
  readonly cacheEntriesMax?: number
}

/** Writes per transaction. */
export const writeBatchMax = 1_024

/**
 * Forgotten packet rows a write batch deletes at a time: in a steady flow, rows come due one by
 * one, and a sweep per batch of one or two rows costs a statement per packet (~7 µs deleting
 * nothing, ~7 per row deleted two at a time, ~2.5 per row sixty-four at a time:
 * bench/experiments/receiptSweep.ts); batches skip the sweep until this many are due.
 */
export const batchSweepMin = 64

/**
 * A write transaction's sweep of forgotten packet rows (see the module comment): when it may create
 * `rowsCreatable` rows and `batchSweepMin` rows may be due, up to `max(batchSweepMin, 2 ×
 * rowsCreatable)` of them go.
 */
export const sweepDueRows = (statements: Statements, cache: ReceiptCache, nowMs: number, rowsCreatable: number): void => {
  if (rowsCreatable === 0 || nowMs < cache.nextForgetMs) return
  const limit = Math.max(batchSweepMin, 2 * rowsCreatable)
  // All that was due is gone when fewer than `limit` went: the next sweep is when
  // `batchSweepMin` more are due (rows the steps write may bring it forward).
  if (Number(statements.sweepPackets.run(nowMs, limit).changes) < limit) {
    cache.nextForgetMs = nextForgetOf(statements, batchSweepMin)
  }
}

export const sqliteDefaults = {
  connectionTtlSeconds: totalsDefaults.connectionTtlSeconds,
  settleGraceMs: totalsDefaults.settleGraceMs,
  sweepIntervalMs: 60_000,
  sweepBatchMax: 1_000,
  busyTimeoutMs: 1_000,
  cacheEntriesMax: cacheEntriesMax
} as const

export type Resolved = Required<SqliteOptions>

export const resolve = (options: SqliteOptions): Resolved => ({
  filename: options.filename,
  connectionTtlSeconds: options.connectionTtlSeconds ?? sqliteDefaults.connectionTtlSeconds,
  settleGraceMs: options.settleGraceMs ?? sqliteDefaults.settleGraceMs,
  sweepIntervalMs: options.sweepIntervalMs ?? sqliteDefaults.sweepIntervalMs,
  sweepBatchMax: options.sweepBatchMax ?? sqliteDefaults.sweepBatchMax,
  busyTimeoutMs: options.busyTimeoutMs ?? sqliteDefaults.busyTimeoutMs,
  cacheEntriesMax: options.cacheEntriesMax ?? sqliteDefaults.cacheEntriesMax
})

export const optionsProblem = (options: Resolved): string | undefined => {
  const positive = ["sweepIntervalMs", "sweepBatchMax", "busyTimeoutMs", "cacheEntriesMax"] as const
  const bad = positive.find((name) => !Number.isSafeInteger(options[name]) || options[name] <= 0)
  return bad !== undefined
    ? `${bad} must be a positive integer`
    : ttlProblem(options.connectionTtlSeconds) ?? graceProblem(options.settleGraceMs)
}

interface PendingWrite {
  readonly write: Write
  readonly nowMs: number
  readonly resume: (outcome: Effect.Effect<WriteResult, ReceiptStoreUnavailable>) => void
}

/** Collects writes and commits them in batches (see the module comment). `flush` runs what waits now. */
export const makeWriteBatcher = (
  db: DatabaseSync,
  statements: Statements,
  cache: ReceiptCache,
  connectionTtlMs: number,
  settleGraceMs: number,
  /** Pending amounts in memory (`ReceiptTotalsSqlitePending.ts`, the ledger's connection): commits are logged there until COMMIT. */
  memory?: PendingTable
) => {
  let waiting: Array<PendingWrite> = []
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    const batch = waiting.length <= writeBatchMax ? waiting : waiting.slice(0, writeBatchMax)
    waiting = batch === waiting ? [] : waiting.slice(writeBatchMax)
    if (waiting.length > 0) schedule()
    if (batch.length === 0) return
    const outcomes: Array<Effect.Effect<WriteResult, ReceiptStoreUnavailable>> = []
    // Only reserves and releases create packet rows (adds and commits never do); with pending
    // amounts in memory, only commits do.
    let rowsCreatable = 0
    for (const item of batch) {
      const kind = item.write.kind
      if (memory === undefined ? kind === "reserve" || kind === "release" : kind === "commit") rowsCreatable++
    }
    const deferred = makeDeferredTotals()
    try {
      inTransaction(db, () => {
        // Forgotten packet rows go in the same transaction, up to twice as many as this batch may
        // create, so they never pile up faster than they are deleted. A batch that can create none
        // (adds and commits only: uncapped receivers) deletes none; the sweeper still runs.
        sweepDueRows(statements, cache, batch[0]!.nowMs, rowsCreatable)
        for (const item of batch) {
          const ctx: StepContext = memory === undefined ?
            { statements, connectionTtlMs, settleGraceMs, nowMs: item.nowMs, cache, deferred } :
            { statements, connectionTtlMs, settleGraceMs, nowMs: item.nowMs, cache, deferred, memory }
          try {
            outcomes.push(Effect.succeed(step(ctx, item.write)))
          } catch (error) {
            // Every step reads (and may refuse) before it writes: a refused write leaves nothing behind.
            if (error instanceof WriteRefused) outcomes.push(error.outcome)
            else if (error instanceof CorruptTotal) outcomes.push(Effect.die(error))
            else throw error
          }
        }
        // Each committed total this batch changed, written once with its last value.
        writeDeferred(statements, deferred)
        // The rows of commits of packets held in memory, in the same transaction.
        if (memory !== undefined) writeCommittedRows(statements, memory)
      })
      memory?.committed()
    } catch (error) {
      // Rolled back: what the steps remembered was never committed; commits go back to pending.
      cache.clear()
      memory?.rolledBack()
      const failure = Effect.fail(new ReceiptStoreUnavailable({ message: "receipt totals storage error", cause: error }))
      for (const item of batch) item.resume(failure)
      return
    }
    batch.forEach((item, i) => item.resume(outcomes[i]!))
  }
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(flush)
  }
  const write = <A extends WriteResult>(write: Write): Effect.Effect<A, ReceiptStoreUnavailable> =>
    Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
      Effect.uninterruptible(Effect.callback<WriteResult, ReceiptStoreUnavailable>((resume) => {
        waiting.push({ write, nowMs, resume })
        schedule()
      }))) as Effect.Effect<A, ReceiptStoreUnavailable>
  return { write, flush }
}

/** A request's problem is a defect; otherwise the effect, without a step in front of it (per packet). */
const dieOr = <A, E>(problem: string | undefined, effect: () => Effect.Effect<A, E>): Effect.Effect<A, E> =>
  problem === undefined ? effect() : dieIf(problem) as Effect.Effect<never>

export const makeService = (
  db: DatabaseSync,
  statements: Statements,
  cache: ReceiptCache,
  batcher: ReturnType<typeof makeWriteBatcher>,
  alongsidePost?: ReceiptTotalsShape["alongsidePost"]
): ReceiptTotalsShape => ({
  // Writes answer in the next event-loop turn (one batch); a lock wait would block the loop, not time out.
  inProcess: true,
  ...(alongsidePost === undefined ? {} : { alongsidePost }),
  // Per packet: plain functions, without an `Effect.fn` span (~6 µs per call; docs/performance/local-delivery.md).
  add: (request) => dieOr(addRequestProblem(request), () => batcher.write<AddResult>({ kind: "add", request })),
  reserve: (request) =>
    dieOr(reserveRequestProblem(request), () => batcher.write<AddResult>({ kind: "reserve", request })),
  commit: (packet) => dieOr(packetRefProblem(packet), () => batcher.write<CommitResult>({ kind: "commit", packet })),
  release: (packet) =>
    dieOr(packetRefProblem(packet), () => batcher.write<ReleaseOutcome>({ kind: "release", packet })),
  // Per packet for uncapped receivers (StreamReceiver): no span; from memory when known.
  get: (key) =>
    dieOr(keyProblem("connection key", key), () =>
      Effect.flatMap(Clock.currentTimeMillis, (nowMs) => tryStore(() => connectionTotalOf(statements, cache, key, nowMs)))),
  paymentTotal: Effect.fn("ReceiptTotals.paymentTotal")(function*(key) {
    yield* checkKey("payment key", key)
    return yield* tryStore(() => readTotal(statements.payment, key))
  }),
  deletePayment: Effect.fn("ReceiptTotals.deletePayment")(function*(key) {
    yield* checkKey("payment key", key)
    yield* tryStore(() => inTransaction(db, () => {
      cache.forgetPayment(key)
      statements.deletePayment.run(key)
      statements.releasePaymentPending.run(key)
      statements.deletePendingTotal.run(key)
    }))
  })
})

// ---------------------------------------------------------------------------------------------
// Opening, sweeping, closing
// ---------------------------------------------------------------------------------------------

/**
 * Deletes at most `batchMax` expired connection rows and forgotten packet rows every `intervalMs`;
 * errors are logged.
 */
export const sweeper = (statements: Statements, intervalMs: number, batchMax: number): Effect.Effect<void> =>
  Clock.currentTimeMillis.pipe(
    Effect.flatMap((nowMs) =>
      tryStore(() => {
        statements.sweep.run(nowMs, batchMax)
        statements.sweepPackets.run(nowMs, batchMax)
      })
    ),
    Effect.catchCause((cause) => Effect.logWarning("receipt totals sweep failed", cause)),
    Effect.repeat(Schedule.spaced(intervalMs)),
    Effect.asVoid
  )

const acquireDatabase = (options: Resolved) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => openDatabase(options),
      catch: (cause) => new ReceiptStoreUnavailable({ message: "cannot open the receipt totals database", cause })
    }),
    (db) => Effect.sync(() => db.close())
  )

/** Releases what a previous process left pending (see the module comment); answers how many. */
export const releaseLeftovers = (db: DatabaseSync, statements: Statements) =>
  tryStore(() =>
    inTransaction(db, () => {
      statements.deleteAllPendingTotals.run()
      return Number(statements.releaseAllPending.run().changes)
    })
  )

/**
 * Receipt totals in the SQLite file `options.filename` (`:memory:` allowed). Scoped: the sweeper
 * stops and the database closes with the layer's scope. Fails with `ReceiptStoreUnavailable` when
 * the file cannot be opened.
 */
export const layerSqlite = (options: SqliteOptions): Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable> =>
  Layer.effect(
    ReceiptTotals,
    Effect.gen(function*() {
      const resolved = resolve(options)
      yield* dieIf(optionsProblem(resolved))
      const db = yield* acquireDatabase(resolved)
      const statements = prepare(db)
      const released = yield* releaseLeftovers(db, statements)
      if (released > 0) yield* Effect.logInfo(`released ${released} pending receipt total(s) left by a previous process`)
      const cache = new ReceiptCache(resolved.cacheEntriesMax)
      const batcher = makeWriteBatcher(db, statements, cache, ttlMs(resolved.connectionTtlSeconds), resolved.settleGraceMs)
      // Runs before the database closes (finalizers run in reverse): writes still waiting are committed.
      yield* Effect.addFinalizer(() => Effect.sync(batcher.flush))
      yield* Effect.forkScoped(sweeper(statements, resolved.sweepIntervalMs, resolved.sweepBatchMax))
      return makeService(db, statements, cache, batcher)
    })
  )
