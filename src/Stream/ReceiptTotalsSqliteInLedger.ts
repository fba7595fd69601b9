/**
 * Receipt totals in the embedded ledger's own SQLite database and connection (the embedded
 * profile's store; `ReceiptTotalsSqlite.ts` has the contract's tables, steps and batches, which
 * this reuses unchanged).
 *
 * Why: a posted packet's receipt write (`add` for an uncapped receiver, `commit` for a reserved
 * packet) runs INSIDE the ledger's transaction that posts the packet (`alongsidePost`, given to
 * `Ledger.post` as its `PostAlongside`). The ledger credit and the receipt total then commit
 * together: a crash can no longer land between them (before, the receipt write was its own
 * transaction in another file one event-loop turn later, and a kill there left the total one
 * packet below the credit: test/integration/receiptsPostCrash.test.ts). It also saves that
 * transaction's BEGIN/COMMIT and the packet's wait for it (docs/performance/local-delivery.md).
 *
 * How: every statement on the connection is synchronous, so the ledger's batches and this
 * store's own write batches (reserves, releases, adds without a reservation) never interleave.
 * The steps run in a ledger batch record their committed totals in `inLedger` (written once per key
 * at the end of the batch, before its COMMIT) and in the shared cache; the ledger tells this store
 * when a batch rolled back (the cache is cleared, the deferred totals dropped). If one job of a
 * batch is rolled back alone (a storage error in a guarded re-run) after totals were deferred,
 * the whole batch is aborted instead (`beforeCommit` throws): a deferred total may include that
 * job's packet. Every job then fails with `LedgerUnavailable`, which the ledger stage retries.
 *
 * Capped packets: a `reserve` is held in memory only (`ReceiptTotalsSqlitePending.ts`: synchronous,
 * no row, no batch); its commit in the post's transaction writes the packet's row as committed (the
 * batch's rows together, in `beforeCommit`) and moves the amount from pending to the committed totals, logged until the ledger's COMMIT
 * (`afterCommit`) and put back pending when the batch rolls back (`batchRolledBack`, which a job
 * rolled back alone also leads to, through `BatchAbort`). A `release` leaves an in-memory
 * tombstone. Nothing pending survives a restart: a commit of a packet reserved before it answers
 * `unknown` (no row; the ledger voided its transfer at open, so no post can come for it).
 *
 * Moving in: at open, a `receipts.sqlite` from an earlier version (`importFrom`) that holds receipt
 * rows is copied into the ledger's database in one transaction (which records the import), then
 * renamed `<file>.imported-<ms>`. The record holds a fingerprint of the file's rows, so after a
 * crash between the two the next start recognises the same file and only renames it. Rows in both
 * places otherwise is a start-up error (the operator decides which is current).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { existsSync, renameSync, statSync } from "node:fs"
import { createHash } from "node:crypto"
import type { DatabaseSync } from "node:sqlite"
import { BatchAbort, LedgerConnection } from "../Accounting/LedgerSqlite.ts"
import { inTransaction } from "../SqliteTransaction.ts"
import {
  type AddResult,
  type AlongsideOutcome,
  type CommitResult,
  CorruptTotal,
  dieIf,
  packetRefProblem,
  type PostedWrite,
  type ReceiptAlongside,
  ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReceiptTotalsShape,
  reserveRequestProblem,
  ttlMs
} from "./ReceiptTotals.ts"
import {
  makeService,
  makeWriteBatcher,
  optionsProblem,
  releaseLeftovers,
  resolve,
  type SqliteOptions,
  sweepDueRows,
  sweeper
} from "./ReceiptTotalsSqlite.ts"
import { ReceiptCache } from "./ReceiptTotalsSqliteCache.ts"
import { PendingTable, pendingEntriesMax } from "./ReceiptTotalsSqlitePending.ts"
import { prepare, schema, type Statements } from "./ReceiptTotalsSqliteSchema.ts"
import {
  makeDeferredTotals,
  releaseInMemory,
  reserveInMemory,
  type StepContext,
  step,
  WriteRefused,
  writeCommittedRows,
  writeDeferred
} from "./ReceiptTotalsSqliteSteps.ts"

export interface InLedgerOptions extends Omit<SqliteOptions, "filename" | "busyTimeoutMs"> {
  /** A receipts file of an earlier version to move in at open (see the module comment); absent or `:memory:`: none. */
  readonly importFrom?: string
  /** Pending packets and release tombstones held in memory at once (`ReceiptTotalsSqlitePending.ts`). */
  readonly pendingEntriesMax?: number
}

/** Lapses due pending packets and forgets settled ones every `intervalMs` (`PendingTable.sweep`). */
const memorySweeper = (memory: PendingTable, intervalMs: number): Effect.Effect<void> =>
  Clock.currentTimeMillis.pipe(
    Effect.map((nowMs) => memory.sweep(nowMs)),
    Effect.repeat(Schedule.spaced(intervalMs)),
    Effect.asVoid
  )

/**
 * The store's reserve and release on the pending table: synchronous, no batch, no transaction (a
 * release of a packet not held reads its row: a committed one answers `committed`); `deletePayment`
 * also releases the payment's packets held in memory.
 */
const inMemoryService = (
  service: ReceiptTotalsShape,
  parts: Pick<StepContext, "statements" | "connectionTtlMs" | "settleGraceMs" | "cache"> & { readonly memory: PendingTable }
): ReceiptTotalsShape => {
  const { memory } = parts
  // Reserves and releases change no committed total: nothing is ever deferred here.
  const deferred = makeDeferredTotals()
  // One context for every call, its time set per call: a step is synchronous and runs no other
  // step, so no two calls ever hold it at once (saves an object per packet).
  const ctx: { -readonly [K in keyof StepContext]: StepContext[K] } = { ...parts, nowMs: 0, deferred }
  const run = <A>(nowMs: number, f: (ctx: StepContext) => A): Effect.Effect<A, ReceiptStoreUnavailable> => {
    try {
      ctx.nowMs = nowMs
      return Effect.succeed(f(ctx))
    } catch (error) {
      if (error instanceof WriteRefused) return error.outcome
      if (error instanceof CorruptTotal) return Effect.die(error)
      return Effect.fail(new ReceiptStoreUnavailable({ message: "receipt totals storage error", cause: error }))
    }
  }
  return {
    ...service,
    // Per packet: no span, no generator; the fiber's clock read in place (`clockWith`, not a
    // `flatMap` on `Clock.currentTimeMillis`: two fewer steps).
    reserve: (request) => {
      const problem = reserveRequestProblem(request)
      if (problem !== undefined) return dieIf(problem) as Effect.Effect<never>
      return Effect.clockWith((clock) => run(clock.currentTimeMillisUnsafe(), (ctx) => reserveInMemory(ctx, memory, request)))
    },
    release: (packet) => {
      const problem = packetRefProblem(packet)
      if (problem !== undefined) return dieIf(problem) as Effect.Effect<never>
      return Effect.clockWith((clock) => run(clock.currentTimeMillisUnsafe(), (ctx) => releaseInMemory(ctx, memory, packet)))
    },
    deletePayment: (key) =>
      Effect.andThen(service.deletePayment(key), Effect.sync(() => memory.forgetPayment(key)))
  }
}

const tables = [
  ["receipt_connection_totals", "key, total, expires_at_ms"],
  ["receipt_payment_totals", "key, total"],
  ["receipt_packets", "packet_id, state, amount, payment_key, lapse_at_ms, forget_at_ms"]
] as const

const importsTable = `CREATE TABLE IF NOT EXISTS receipt_imports (
  fingerprint TEXT PRIMARY KEY,
  imported_at_ms INTEGER NOT NULL,
  rows INTEGER NOT NULL
) WITHOUT ROWID`

/** sha256 over every row of the attached file's receipt tables, in key order: the same file gives the same value. */
const fingerprintOf = (db: DatabaseSync, found: ReadonlyArray<typeof tables[number]>): string => {
  const hash = createHash("sha256")
  for (const [table, columns] of found) {
    hash.update(`${table}\n`)
    for (const row of db.prepare(`SELECT ${columns} FROM standalone.${table} ORDER BY 1`).iterate()) {
      hash.update(`${JSON.stringify(Object.values(row as Record<string, unknown>), (_, v) => typeof v === "bigint" ? `${v}` : v)}\n`)
    }
  }
  return hash.digest("hex")
}

const countRows = (db: DatabaseSync, schemaName: string, table: string): number =>
  Number((db.prepare(`SELECT count(*) AS n FROM ${schemaName}.${table}`).get() as { n: number | bigint }).n)

/** Moves `file`'s receipt rows into `db` (see the module comment); answers how many rows it copied. */
export const importReceiptsFile = (db: DatabaseSync, file: string, nowMs: number): number => {
  if (file === ":memory:" || !existsSync(file) || statSync(file).size === 0) return 0
  db.exec(importsTable)
  db.prepare("ATTACH DATABASE ? AS standalone").run(file)
  let copied = 0
  try {
    const present = new Set(
      (db.prepare("SELECT name FROM standalone.sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>)
        .map((row) => row.name)
    )
    const found = tables.filter(([table]) => present.has(table))
    const waiting = found.reduce((sum, [table]) => sum + countRows(db, "standalone", table), 0)
    if (waiting === 0) return 0
    const fingerprint = fingerprintOf(db, found)
    // Already moved in (a crash came between that commit and the rename): only the rename is left.
    const imported = db.prepare("SELECT rows FROM receipt_imports WHERE fingerprint = ?").get(fingerprint) !== undefined
    if (!imported) {
      if (tables.some(([table]) => countRows(db, "main", table) > 0)) {
        throw new Error(
          `receipt totals are both in the ledger database and in ${file}; move the stale one away and start again`
        )
      }
      inTransaction(db, () => {
        for (const [table, columns] of found) {
          db.exec(`INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM standalone.${table}`)
        }
        db.prepare("INSERT INTO receipt_imports (fingerprint, imported_at_ms, rows) VALUES (?, ?, ?)").run(fingerprint, nowMs, waiting)
      })
      copied = waiting
    }
  } finally {
    db.exec("DETACH DATABASE standalone")
  }
  const moved = `${file}.imported-${nowMs}`
  for (const suffix of ["-wal", "-shm"]) if (existsSync(`${file}${suffix}`)) renameSync(`${file}${suffix}`, `${moved}${suffix}`)
  renameSync(file, moved)
  return copied
}

/**
 * The ledger's participant and the `alongsidePost` steps: totals set by steps run in ledger
 * batches are deferred in `inLedger` and written before the ledger's COMMIT.
 */
const makeAlongside = (
  statements: Statements,
  cache: ReceiptCache,
  memory: PendingTable,
  connectionTtlMs: number,
  settleGraceMs: number,
  clock: Clock.Clock
) => {
  const inLedger = makeDeferredTotals()
  let deferredInBatch = false
  let poisoned = false
  const forget = () => {
    cache.clear()
    inLedger.connections.clear()
    inLedger.payments.clear()
    deferredInBatch = false
    poisoned = false
  }
  const participant = {
    beforeCommit: () => {
      if (poisoned) {
        forget()
        throw new BatchAbort("a ledger job was rolled back alone after receipt totals were deferred in its batch")
      }
      writeDeferred(statements, inLedger)
      // Commits of packets held in memory: their committed rows, then forgotten rows go in the
      // same transaction, as the store's own write batches do (`makeWriteBatcher`).
      writeCommittedRows(statements, memory)
      sweepDueRows(statements, cache, clock.currentTimeMillisUnsafe(), memory.undoLength)
      deferredInBatch = false
    },
    // The COMMIT succeeded: the commits' moves out of the pending table stand.
    afterCommit: () => memory.committed(),
    batchRolledBack: () => {
      forget()
      // Every commit of the batch (or of an aborted one) goes back to pending.
      memory.rolledBack()
    },
    jobRolledBack: () => {
      cache.clear()
      if (deferredInBatch) poisoned = true
    }
  }
  const alongsidePost = (write: PostedWrite): ReceiptAlongside => {
    let outcome: AlongsideOutcome | undefined
    return {
      run: () => {
        const ctx: StepContext = {
          statements,
          connectionTtlMs,
          settleGraceMs,
          nowMs: clock.currentTimeMillisUnsafe(),
          cache,
          deferred: inLedger,
          memory
        }
        deferredInBatch = true
        try {
          outcome = { _tag: "Done", result: step(ctx, write) as AddResult | CommitResult }
        } catch (error) {
          // A corrupt total must not undo the post: the post commits, the receipt side reports it.
          if (error instanceof CorruptTotal || error instanceof WriteRefused) {
            outcome = { _tag: "Defect", defect: error }
            return
          }
          throw error
        }
      },
      outcome: () => outcome
    }
  }
  return { participant, alongsidePost }
}

/**
 * Receipt totals on the embedded ledger's connection (`LedgerSqlite.layerWithConnection`). Scoped
 * like `layerSqlite`; the ledger's layer closes the database after this one's finalizer flushed
 * the writes still waiting.
 */
export const layerInLedger = (
  options: InLedgerOptions = {}
): Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable, LedgerConnection> =>
  Layer.effect(
    ReceiptTotals,
    Effect.gen(function*() {
      const resolved = resolve({ ...options, filename: ":ledger:" })
      yield* dieIf(optionsProblem(resolved))
      const entriesMax = options.pendingEntriesMax ?? pendingEntriesMax
      yield* dieIf(Number.isSafeInteger(entriesMax) && entriesMax > 0 ? undefined : "pendingEntriesMax must be a positive integer")
      const { db, participate } = yield* LedgerConnection
      const clock = yield* Clock.Clock
      const imported = yield* Effect.try({
        try: () => {
          db.exec(schema)
          return importReceiptsFile(db, options.importFrom ?? ":memory:", clock.currentTimeMillisUnsafe())
        },
        catch: (cause) => new ReceiptStoreUnavailable({ message: "cannot open the receipt totals in the ledger database", cause })
      })
      if (imported > 0) yield* Effect.logInfo(`moved ${imported} receipt total row(s) from ${options.importFrom} into the ledger database`)
      const statements = prepare(db)
      const released = yield* releaseLeftovers(db, statements)
      if (released > 0) yield* Effect.logInfo(`released ${released} pending receipt total(s) left by a previous process`)
      const cache = new ReceiptCache(resolved.cacheEntriesMax)
      const connectionTtlMs = ttlMs(resolved.connectionTtlSeconds)
      const memory = new PendingTable(entriesMax)
      const batcher = makeWriteBatcher(db, statements, cache, connectionTtlMs, resolved.settleGraceMs, memory)
      const { participant, alongsidePost } = makeAlongside(statements, cache, memory, connectionTtlMs, resolved.settleGraceMs, clock)
      // Registered for the ledger's whole life: a post still running after this layer closed must
      // still have its deferred totals written before its COMMIT.
      participate(participant)
      // Runs before the database closes (the ledger's layer outlives this one): writes still waiting are committed.
      yield* Effect.addFinalizer(() => Effect.sync(batcher.flush))
      yield* Effect.forkScoped(sweeper(statements, resolved.sweepIntervalMs, resolved.sweepBatchMax))
      yield* Effect.forkScoped(memorySweeper(memory, resolved.sweepIntervalMs))
      return inMemoryService(
        makeService(db, statements, cache, batcher, alongsidePost),
        { statements, connectionTtlMs, settleGraceMs: resolved.settleGraceMs, cache, memory }
      )
    })
  )
