/**
 * Receipt totals in SQLite (`node:sqlite`), the embedded default. See `ReceiptTotals.ts` for the
 * contract.
 *
 * Atomicity: this process must be the only writer of the file. Each `add` reads both totals,
 * decides and writes synchronously (no other fiber can interleave), so the cap check and the
 * increments are one step.
 *
 * Batching: an `add` waits for the next turn of the event loop, and every add that arrived
 * meanwhile (at most `addBatchMax`) runs in ONE `BEGIN IMMEDIATE` transaction, in arrival order;
 * each caller gets its result once that transaction has committed. One WAL commit per batch instead
 * of one per add (bench/: the per-add commit was ~45 µs of CPU per locally received packet). A
 * storage error fails every add of the batch with `ReceiptStoreUnavailable` (outcome unknown, as
 * the contract says); a corrupt stored total is a defect of that add only. An add, once started,
 * is not interrupted while it waits for its batch (as before, when it ran synchronously).
 *
 * Storage: totals are TEXT decimals computed with BigInt (exact at any size). Connection rows carry
 * `expires_at_ms`; an expired row counts as absent at once, and a sweeper deletes at most
 * `sweepBatchMax` expired rows every `sweepIntervalMs`. Payment rows never expire.
 *
 * Durability: WAL with `synchronous = NORMAL` (no fsync per add, which would stall the event loop);
 * committed adds survive a crash of this process, an OS crash may lose the last ones. Use its own
 * file rather than the ledger's: two connections to one file would wait on each other's locks.
 */
import { Clock, Effect, Layer, Schedule } from "effect"
import { DatabaseSync, type StatementSync } from "node:sqlite"
import {
  type AddRequest,
  type AddResult,
  addRequestProblem,
  checkKey,
  CorruptTotal,
  decideAdd,
  defaults as totalsDefaults,
  dieIf,
  parseTotal,
  ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReceiptTotalsShape,
  ttlMs,
  ttlProblem
} from "./ReceiptTotals.ts"

export interface SqliteOptions {
  /** Database file; `:memory:` for tests (not durable). */
  readonly filename: string
  readonly connectionTtlSeconds?: number
  /** How often expired connection rows are deleted. */
  readonly sweepIntervalMs?: number
  /** Rows deleted per sweep. */
  readonly sweepBatchMax?: number
  /** Wait for a lock held by another connection to the file. */
  readonly busyTimeoutMs?: number
}

/** Adds per transaction. */
export const addBatchMax = 1_024

export const sqliteDefaults = {
  connectionTtlSeconds: totalsDefaults.connectionTtlSeconds,
  sweepIntervalMs: 60_000,
  sweepBatchMax: 1_000,
  busyTimeoutMs: 1_000
} as const

type Resolved = Required<SqliteOptions>

const resolve = (options: SqliteOptions): Resolved => ({
  filename: options.filename,
  connectionTtlSeconds: options.connectionTtlSeconds ?? sqliteDefaults.connectionTtlSeconds,
  sweepIntervalMs: options.sweepIntervalMs ?? sqliteDefaults.sweepIntervalMs,
  sweepBatchMax: options.sweepBatchMax ?? sqliteDefaults.sweepBatchMax,
  busyTimeoutMs: options.busyTimeoutMs ?? sqliteDefaults.busyTimeoutMs
})

const optionsProblem = (options: Resolved): string | undefined => {
  const positive = ["sweepIntervalMs", "sweepBatchMax", "busyTimeoutMs"] as const
  const bad = positive.find((name) => !Number.isSafeInteger(options[name]) || options[name] <= 0)
  return bad !== undefined ? `${bad} must be a positive integer` : ttlProblem(options.connectionTtlSeconds)
}

// ---------------------------------------------------------------------------------------------
// Schema and statements
// ---------------------------------------------------------------------------------------------

const schema = `
CREATE TABLE IF NOT EXISTS receipt_connection_totals (
  key TEXT PRIMARY KEY,
  total TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipt_connection_totals_expiry ON receipt_connection_totals (expires_at_ms);
CREATE TABLE IF NOT EXISTS receipt_payment_totals (
  key TEXT PRIMARY KEY,
  total TEXT NOT NULL
) WITHOUT ROWID;
`

interface Statements {
  readonly connection: StatementSync
  readonly payment: StatementSync
  readonly putConnection: StatementSync
  readonly putPayment: StatementSync
  readonly deletePayment: StatementSync
  readonly sweep: StatementSync
}

const prepare = (db: DatabaseSync): Statements => ({
  connection: db.prepare("SELECT total FROM receipt_connection_totals WHERE key = ? AND expires_at_ms > ?"),
  payment: db.prepare("SELECT total FROM receipt_payment_totals WHERE key = ?"),
  putConnection: db.prepare(
    `INSERT INTO receipt_connection_totals (key, total, expires_at_ms) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET total = excluded.total, expires_at_ms = excluded.expires_at_ms`
  ),
  putPayment: db.prepare(
    `INSERT INTO receipt_payment_totals (key, total) VALUES (?, ?)
     ON CONFLICT (key) DO UPDATE SET total = excluded.total`
  ),
  deletePayment: db.prepare("DELETE FROM receipt_payment_totals WHERE key = ?"),
  sweep: db.prepare(
    `DELETE FROM receipt_connection_totals WHERE key IN
     (SELECT key FROM receipt_connection_totals WHERE expires_at_ms <= ? LIMIT ?)`
  )
})

const openDatabase = (options: Resolved): DatabaseSync => {
  const db = new DatabaseSync(options.filename, { timeout: options.busyTimeoutMs })
  try {
    db.exec("PRAGMA journal_mode = WAL")
    db.exec("PRAGMA synchronous = NORMAL")
    db.exec(schema)
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

// ---------------------------------------------------------------------------------------------
// Synchronous steps
// ---------------------------------------------------------------------------------------------

const readTotal = (statement: StatementSync, ...params: Array<string | number>): bigint => {
  const row = statement.get(...params) as { readonly total?: unknown } | undefined
  return row === undefined ? 0n : parseTotal(row.total)
}

const inTransaction = <A>(db: DatabaseSync, f: () => A): A => {
  db.exec("BEGIN IMMEDIATE")
  try {
    const result = f()
    db.exec("COMMIT")
    return result
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK")
    throw error
  }
}

/**
 * Runs a synchronous storage step: storage errors fail with `ReceiptStoreUnavailable`, corrupt
 * totals are defects.
 */
const tryStore = <A>(f: () => A): Effect.Effect<A, ReceiptStoreUnavailable> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (error) {
      return error instanceof CorruptTotal
        ? Effect.die(error)
        : Effect.fail(new ReceiptStoreUnavailable({ message: "receipt totals storage error", cause: error }))
    }
  })

/** One add, inside the batch's transaction: read both totals, decide, write. Throws on storage errors. */
const addStep = (statements: Statements, connectionTtlMs: number, request: AddRequest, nowMs: number): AddResult => {
  const current = {
    connectionTotal: readTotal(statements.connection, request.connectionKey, nowMs),
    paymentTotal: request.payment === undefined ? 0n : readTotal(statements.payment, request.payment.key)
  }
  const result = decideAdd(current, request)
  if (!result.accepted) return result
  statements.putConnection.run(request.connectionKey, result.connectionTotal.toString(), nowMs + connectionTtlMs)
  if (request.payment !== undefined) {
    statements.putPayment.run(request.payment.key, (result.paymentTotal ?? 0n).toString())
  }
  return result
}

interface PendingAdd {
  readonly request: AddRequest
  readonly nowMs: number
  readonly resume: (outcome: Effect.Effect<AddResult, ReceiptStoreUnavailable>) => void
}

/** Collects adds and commits them in batches (see the module comment). `flush` runs what waits now. */
const makeAddBatcher = (db: DatabaseSync, statements: Statements, connectionTtlMs: number) => {
  let waiting: Array<PendingAdd> = []
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    const batch = waiting.length <= addBatchMax ? waiting : waiting.slice(0, addBatchMax)
    waiting = batch === waiting ? [] : waiting.slice(addBatchMax)
    if (waiting.length > 0) schedule()
    if (batch.length === 0) return
    const outcomes: Array<Effect.Effect<AddResult, ReceiptStoreUnavailable>> = []
    try {
      inTransaction(db, () => {
        for (const item of batch) {
          try {
            outcomes.push(Effect.succeed(addStep(statements, connectionTtlMs, item.request, item.nowMs)))
          } catch (error) {
            // Totals are read before anything is written: a corrupt one leaves nothing behind.
            if (!(error instanceof CorruptTotal)) throw error
            outcomes.push(Effect.die(error))
          }
        }
      })
    } catch (error) {
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
  const add = (request: AddRequest, nowMs: number): Effect.Effect<AddResult, ReceiptStoreUnavailable> =>
    Effect.uninterruptible(Effect.callback<AddResult, ReceiptStoreUnavailable>((resume) => {
      waiting.push({ request, nowMs, resume })
      schedule()
    }))
  return { add, flush }
}

const makeService = (
  statements: Statements,
  batcher: ReturnType<typeof makeAddBatcher>
): ReceiptTotalsShape => ({
  // Per packet: a plain function, without an `Effect.fn` span (~6 µs per call; docs/performance.md).
  add: (request) =>
    Effect.andThen(
      dieIf(addRequestProblem(request)),
      Effect.flatMap(Clock.currentTimeMillis, (nowMs) => batcher.add(request, nowMs))
    ),
  get: Effect.fn("ReceiptTotals.get")(function*(key) {
    yield* checkKey("connection key", key)
    const nowMs = yield* Clock.currentTimeMillis
    return yield* tryStore(() => readTotal(statements.connection, key, nowMs))
  }),
  paymentTotal: Effect.fn("ReceiptTotals.paymentTotal")(function*(key) {
    yield* checkKey("payment key", key)
    return yield* tryStore(() => readTotal(statements.payment, key))
  }),
  deletePayment: Effect.fn("ReceiptTotals.deletePayment")(function*(key) {
    yield* checkKey("payment key", key)
    yield* tryStore(() => statements.deletePayment.run(key))
  })
})

// ---------------------------------------------------------------------------------------------
// Opening, sweeping, closing
// ---------------------------------------------------------------------------------------------

/** Deletes at most `batchMax` expired connection rows every `intervalMs`; errors are logged. */
const sweeper = (statements: Statements, intervalMs: number, batchMax: number): Effect.Effect<void> =>
  Clock.currentTimeMillis.pipe(
    Effect.flatMap((nowMs) => tryStore(() => statements.sweep.run(nowMs, batchMax))),
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
      const batcher = makeAddBatcher(db, statements, ttlMs(resolved.connectionTtlSeconds))
      // Runs before the database closes (finalizers run in reverse): adds still waiting are committed.
      yield* Effect.addFinalizer(() => Effect.sync(batcher.flush))
      yield* Effect.forkScoped(sweeper(statements, resolved.sweepIntervalMs, resolved.sweepBatchMax))
      return makeService(statements, batcher)
    })
  )
