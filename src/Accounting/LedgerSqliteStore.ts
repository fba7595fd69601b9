/**
 * The embedded ledger's storage engine: synchronous, single-writer, on `node:sqlite`.
 *
 * `runBatch` executes many requests ("jobs") in ONE SQLite transaction. Each job decides its
 * outcome in memory first (against an overlay of the account rows it touches), so a job that fails
 * (e.g. `InsufficientBalance`) writes nothing but its failure record and never disturbs the others;
 * its SQL writes run inside a SAVEPOINT so a storage error inside one job is rolled back alone.
 * Account balances are cached in memory (this process is the only writer of the file) and written
 * once per batch per touched account; if the batch cannot commit, the cache is restored and every
 * job in it fails with `LedgerUnavailable`.
 *
 * Storage format (schema version 1):
 * - ids and amounts are decimal TEXT (u128 does not fit SQLite's i64); arithmetic is in BigInt;
 * - timestamps are INTEGER nanoseconds since the epoch (TigerBeetle-style, unique, monotonic);
 * - a pending transfer keeps one row whose `state` moves pending -> posted | voided | expired
 *   (TigerBeetle writes a separate post/void transfer; here the resolution time is `resolved_at`);
 * - ids of transfers that failed with a balance error are kept in `failed_transfers`, mirroring
 *   TigerBeetle's `id_already_failed`.
 */
import { Exit } from "effect"
import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite"
import {
  type Account,
  type AccountBalance,
  type AccountQuery,
  type AccountSpec,
  type ChainTransfer,
  InsufficientBalance,
  LedgerDefect,
  LedgerUnavailable,
  PendingAlreadyPosted,
  PendingAlreadyVoided,
  PendingExpired,
  PendingNotFound,
  type Transfer,
  TransferCode,
  type TransferSpec
} from "./Ledger.ts"
import {
  type AccountRow,
  bitsToFlags,
  creditFor,
  debitFor,
  exceedsCredits,
  exceedsDebits,
  newAccountRow,
  resolveCredit,
  resolveDebit,
  sameAccount
} from "./LedgerRules.ts"

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

export const schemaVersion = 1

/** `transfers.state`. */
export const TransferState = { singlePhase: 0, pending: 1, posted: 2, voided: 3, expired: 4 } as const

/** `transfers.flags`, numbered as TigerBeetle's `TransferFlags`. */
export const TransferFlagBits = { linked: 1 << 0, pending: 1 << 1 } as const

const schema = `
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY NOT NULL,
  ledger INTEGER NOT NULL,
  code INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  debits_pending TEXT NOT NULL,
  debits_posted TEXT NOT NULL,
  credits_pending TEXT NOT NULL,
  credits_posted TEXT NOT NULL,
  timestamp INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS accounts_timestamp ON accounts (timestamp);
CREATE INDEX IF NOT EXISTS accounts_ledger_timestamp ON accounts (ledger, timestamp);
CREATE TABLE IF NOT EXISTS transfers (
  id TEXT PRIMARY KEY NOT NULL,
  debit_account_id TEXT NOT NULL,
  credit_account_id TEXT NOT NULL,
  amount TEXT NOT NULL,
  ledger INTEGER NOT NULL,
  code INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  timeout INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  state INTEGER NOT NULL,
  expires_at INTEGER,
  resolved_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transfers_pending_expiry ON transfers (expires_at) WHERE state = 1;
CREATE TABLE IF NOT EXISTS failed_transfers (
  id TEXT PRIMARY KEY NOT NULL,
  reason TEXT NOT NULL,
  timestamp INTEGER NOT NULL
) WITHOUT ROWID;
`

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

export interface TransferRow {
  readonly id: bigint
  readonly debitAccountId: bigint
  readonly creditAccountId: bigint
  readonly amount: bigint
  readonly ledger: number
  readonly code: number
  /** `TransferFlagBits`. */
  readonly flags: number
  readonly timeoutSeconds: number
  readonly timestamp: bigint
  readonly state: number
  readonly expiresAt: bigint | null
}

type SqlRow = Record<string, SQLOutputValue>

const big = (row: SqlRow, column: string): bigint => BigInt(row[column] as string | bigint)
const int = (row: SqlRow, column: string): number => Number(row[column] as bigint)

export const decodeAccount = (row: SqlRow): AccountRow => ({
  id: big(row, "id"),
  ledger: int(row, "ledger"),
  code: int(row, "code"),
  flags: int(row, "flags"),
  debitsPending: big(row, "debits_pending"),
  debitsPosted: big(row, "debits_posted"),
  creditsPending: big(row, "credits_pending"),
  creditsPosted: big(row, "credits_posted"),
  timestamp: big(row, "timestamp")
})

export const decodeTransfer = (row: SqlRow): TransferRow => ({
  id: big(row, "id"),
  debitAccountId: big(row, "debit_account_id"),
  creditAccountId: big(row, "credit_account_id"),
  amount: big(row, "amount"),
  ledger: int(row, "ledger"),
  code: int(row, "code"),
  flags: int(row, "flags"),
  timeoutSeconds: int(row, "timeout"),
  timestamp: big(row, "timestamp"),
  state: int(row, "state"),
  expiresAt: row["expires_at"] === null ? null : big(row, "expires_at")
})

export const toAccount = (row: AccountRow): Account => ({ ...row, flags: bitsToFlags(row.flags) })

const toBalance = (row: AccountRow): AccountBalance => ({
  id: row.id,
  debitsPending: row.debitsPending,
  debitsPosted: row.debitsPosted,
  creditsPending: row.creditsPending,
  creditsPosted: row.creditsPosted
})

const nsPerSecond = 1_000_000_000n
const nsPerMs = 1_000_000n

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

const accountColumns =
  "id, ledger, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, timestamp"
const transferColumns =
  "id, debit_account_id, credit_account_id, amount, ledger, code, flags, timeout, timestamp, state, expires_at"

const prepareStatements = (db: DatabaseSync) => {
  const prepare = (sql: string): StatementSync => {
    const statement = db.prepare(sql)
    statement.setReadBigInts(true)
    return statement
  }
  return {
    begin: prepare("BEGIN IMMEDIATE"),
    commit: prepare("COMMIT"),
    rollback: prepare("ROLLBACK"),
    savepoint: prepare("SAVEPOINT job"),
    release: prepare("RELEASE job"),
    rollbackToSavepoint: prepare("ROLLBACK TO job"),
    selectAccount: prepare(`SELECT ${accountColumns} FROM accounts WHERE id = ?`),
    insertAccount: prepare(`INSERT INTO accounts (${accountColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    updateBalances: prepare(
      "UPDATE accounts SET debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ? WHERE id = ?"
    ),
    listAccounts: prepare(
      `SELECT ${accountColumns} FROM accounts WHERE timestamp >= ? ORDER BY timestamp LIMIT ?`
    ),
    listLedgerAccounts: prepare(
      `SELECT ${accountColumns} FROM accounts WHERE ledger = ? AND timestamp >= ? ORDER BY timestamp LIMIT ?`
    ),
    selectTransfer: prepare(`SELECT ${transferColumns} FROM transfers WHERE id = ?`),
    insertTransfer: prepare(`INSERT INTO transfers (${transferColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    resolveTransfer: prepare("UPDATE transfers SET state = ?, resolved_at = ? WHERE id = ?"),
    selectDue: prepare(
      `SELECT ${transferColumns} FROM transfers WHERE state = 1 AND expires_at <= ? ORDER BY expires_at LIMIT ?`
    ),
    // Operator holds (pending withdrawals) outlive the process: the operator completes them, and
    // their own timeout bounds them (TigerBeetle keeps them across a restart too).
    selectPending: prepare(
      `SELECT ${transferColumns} FROM transfers WHERE state = 1 AND code != ${TransferCode.withdrawal} LIMIT ?`
    ),
    earliestExpiry: prepare("SELECT min(expires_at) AS t FROM transfers WHERE state = 1"),
    countPending: prepare("SELECT count(*) AS n FROM transfers WHERE state = 1"),
    selectFailed: prepare("SELECT reason FROM failed_transfers WHERE id = ?"),
    insertFailed: prepare("INSERT INTO failed_transfers (id, reason, timestamp) VALUES (?, ?, ?)"),
    maxTimestamp: prepare(
      `SELECT max(
         (SELECT ifnull(max(timestamp), 0) FROM accounts),
         (SELECT ifnull(max(timestamp), 0) FROM transfers),
         (SELECT ifnull(max(resolved_at), 0) FROM transfers),
         (SELECT ifnull(max(timestamp), 0) FROM failed_transfers)
       ) AS t`
    )
  }
}

type Statements = ReturnType<typeof prepareStatements>

// ---------------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------------

export interface StoreOptions {
  readonly filename: string
  /** `"normal"` (default) or `"full"`; see `LedgerSqlite.ts` for the trade-off. */
  readonly synchronous: "normal" | "full"
  /** How long a write waits for another connection's lock (blocks the event loop meanwhile). */
  readonly busyTimeoutMs: number
  /** Most account rows kept in memory; older entries are dropped after a batch. */
  readonly accountCacheSizeMax: number
  /** Most pending transfers expired (or voided on open) per batch. */
  readonly expiredPerBatchMax: number
}

/** Opens (creating if needed) a ledger database for writing; throws on failure. */
export const openDatabase = (options: StoreOptions): DatabaseSync => {
  const db = new DatabaseSync(options.filename, { timeout: options.busyTimeoutMs })
  try {
    db.exec("PRAGMA journal_mode = WAL")
    db.exec(`PRAGMA synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`)
    migrate(db)
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

const migrate = (db: DatabaseSync): void => {
  const version = Number((db.prepare("PRAGMA user_version").get() as SqlRow)["user_version"])
  if (version === schemaVersion) return
  if (version !== 0) throw new Error(`ledger database has schema version ${version}, expected ${schemaVersion}`)
  db.exec("BEGIN IMMEDIATE")
  db.exec(schema)
  db.exec(`PRAGMA user_version = ${schemaVersion}`)
  db.exec("COMMIT")
}

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

/** What one job sees: its own overlay of account rows over the shared cache, and the database. */
export interface JobScope {
  readonly account: (id: bigint) => AccountRow | undefined
  readonly putAccount: (row: AccountRow) => void
  readonly transfer: (id: bigint) => TransferRow | undefined
  readonly nextTimestamp: () => bigint
  readonly expiries: ExpiryWatermark
}

/**
 * A lower bound (ns) on the expiry of every pending transfer, so that the expiry check at the
 * start of every batch, and the sweeper's, cost a comparison instead of a query while nothing can
 * be due (bench/: one SELECT per batch before). Creating a pending transfer lowers it; resolving
 * one cannot invalidate it; after expiring what was due it is read again from the database; a
 * batch that aborts resets it to 0 (what it expired is pending again after the rollback).
 */
interface ExpiryWatermark {
  earliestNs: bigint
}

/** No pending transfer: larger than any timestamp. */
const noExpiryNs = 1n << 127n

const readEarliestExpiry = (sql: Statements): bigint => {
  const value = (sql.earliestExpiry.get() as SqlRow | undefined)?.["t"]
  return value === null || value === undefined ? noExpiryNs : BigInt(value as bigint)
}

/** A job's outcome; its overlay is merged into the batch only when it succeeds. */
export type Job<E> = (tx: Tx) => Exit.Exit<void, E>

export type BatchResult<E> =
  | { readonly _tag: "Committed"; readonly exits: ReadonlyArray<Exit.Exit<void, E | LedgerUnavailable>> }
  /** Nothing was committed; every job fails with this (storage error) or dies with it (bug). */
  | { readonly _tag: "Aborted"; readonly exit: Exit.Exit<never, LedgerUnavailable>; readonly cause: unknown }

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
}

const isSqliteError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ERR_SQLITE_ERROR"

/** A thrown SQLite error is an operating error (disk full, I/O); anything else is a bug. */
export const exitOfThrown = (error: unknown): Exit.Exit<never, LedgerUnavailable> =>
  isSqliteError(error)
    ? Exit.fail(new LedgerUnavailable({ message: "ledger storage error", cause: error }))
    : Exit.die(error)

export const makeStore = (db: DatabaseSync, options: StoreOptions): Store => {
  const sql = prepareStatements(db)
  const cache = new Map<bigint, AccountRow>()
  let lastTimestamp = BigInt((sql.maxTimestamp.get() as SqlRow)["t"] as bigint)
  const expiries: ExpiryWatermark = { earliestNs: readEarliestExpiry(sql) }

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

  const loadTransfer = (id: bigint): TransferRow | undefined => {
    const row = sql.selectTransfer.get(id.toString()) as SqlRow | undefined
    return row === undefined ? undefined : decodeTransfer(row)
  }

  const runBatch = <E>(jobs: ReadonlyArray<Job<E>>, nowMs: number): BatchResult<E> => {
    const batch = makeBatch(sql, cache, loadAccount, loadTransfer, nextTimestamp(nowMs), expiries)
    try {
      sql.begin.run()
      batch.run(expireDue(options.expiredPerBatchMax))
      const exits = jobs.map((job) => batch.run(job))
      batch.flush()
      sql.commit.run()
      evictOldest(cache, options.accountCacheSizeMax)
      return { _tag: "Committed", exits }
    } catch (error) {
      if (db.isTransaction) sql.rollback.run()
      batch.restore()
      expiries.earliestNs = 0n
      return { _tag: "Aborted", exit: exitOfThrown(error), cause: error }
    }
  }

  return {
    runBatch,
    hasDueExpiries: (nowMs) => {
      const now = BigInt(nowMs) * nsPerMs
      return now >= expiries.earliestNs && sql.selectDue.get(now, 1) !== undefined
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

const stateNames = {
  [TransferState.singlePhase]: "posted",
  [TransferState.pending]: "pending",
  [TransferState.posted]: "posted",
  [TransferState.voided]: "voided",
  [TransferState.expired]: "expired"
} as const

/** A stored transfer as the ledger contract describes it. Pure. */
export const toTransfer = (row: TransferRow, nowNs: bigint): Transfer => {
  const overdue = row.state === TransferState.pending && row.expiresAt !== null && row.expiresAt <= nowNs
  const state = stateNames[row.state as keyof typeof stateNames]
  if (state === undefined) throw new LedgerDefect(`transfer ${row.id} has unknown state ${row.state}`)
  return {
    id: row.id,
    debitAccountId: row.debitAccountId,
    creditAccountId: row.creditAccountId,
    amount: row.amount,
    ledger: row.ledger,
    code: row.code,
    pending: (row.flags & TransferFlagBits.pending) !== 0,
    timeoutSeconds: row.timeoutSeconds,
    timestamp: row.timestamp,
    state: overdue ? "expired" : state
  }
}

const listAccounts = (sql: Statements, query: AccountQuery): ReadonlyArray<Account> => {
  const timestampMin = query.timestampMin ?? 0n
  const rows = query.ledger === undefined
    ? sql.listAccounts.all(timestampMin, query.limit)
    : sql.listLedgerAccounts.all(query.ledger, timestampMin, query.limit)
  return (rows as Array<SqlRow>).map((row) => toAccount(decodeAccount(row)))
}

const evictOldest = (cache: Map<bigint, AccountRow>, sizeMax: number): void => {
  for (const id of cache.keys()) {
    if (cache.size <= sizeMax) return
    cache.delete(id)
  }
}

// ---------------------------------------------------------------------------------------------
// A batch: per-job overlays merged into the cache, remembered for rollback
// ---------------------------------------------------------------------------------------------

const makeBatch = (
  sql: Statements,
  cache: Map<bigint, AccountRow>,
  loadAccount: (id: bigint) => AccountRow | undefined,
  loadTransfer: (id: bigint) => TransferRow | undefined,
  nextTimestamp: () => bigint,
  expiries: ExpiryWatermark
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
    const overlay = new Map<bigint, AccountRow>()
    const scope: JobScope = {
      account: (id) => overlay.get(id) ?? loadAccount(id),
      putAccount: (row) => overlay.set(row.id, row),
      transfer: loadTransfer,
      nextTimestamp,
      expiries
    }
    sql.savepoint.run()
    try {
      const exit = job(makeTx(sql, scope))
      sql.release.run()
      if (Exit.isSuccess(exit)) merge(overlay)
      return exit
    } catch (error) {
      sql.rollbackToSavepoint.run()
      sql.release.run()
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

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

type PostFailure = PendingNotFound | PendingExpired | PendingAlreadyVoided

/** The operations a job can perform; each decides in memory before writing. */
export interface Tx {
  readonly createAccounts: (accounts: ReadonlyArray<AccountSpec>) => Exit.Exit<void>
  readonly createTransfers: (
    transfers: ReadonlyArray<TransferSpec>,
    timeoutSeconds: number | undefined
  ) => Exit.Exit<void, InsufficientBalance>
  /** A chain whose transfers are each pending (with a timeout) or posted. */
  readonly createChain: (transfers: ReadonlyArray<ChainTransfer>) => Exit.Exit<void, InsufficientBalance>
  readonly post: (ids: ReadonlyArray<bigint>) => Exit.Exit<void, PostFailure>
  readonly voidPending: (ids: ReadonlyArray<bigint>) => Exit.Exit<void, PendingAlreadyPosted>
  /** Expires up to `limit` pending transfers whose timeout has passed. */
  readonly expireDue: (limit: number) => Exit.Exit<void>
  /** Voids up to `limit` pending transfers regardless of timeout; answers how many. */
  readonly voidAllPending: (limit: number) => number
}

const defect = (message: string): Exit.Exit<never> => Exit.die(new LedgerDefect(message))

const makeTx = (sql: Statements, scope: JobScope): Tx => ({
  createAccounts: (accounts) => createAccounts(sql, scope, accounts),
  createTransfers: (transfers, timeoutSeconds) => createTransfers(sql, scope, transfers, () => timeoutSeconds),
  createChain: (transfers) => createTransfers(sql, scope, transfers, (i) => transfers[i]!.timeoutSeconds),
  // `classify` only produces post failures when posting and `PendingAlreadyPosted` when voiding.
  post: (ids) => resolvePending(sql, scope, ids, true) as Exit.Exit<void, PostFailure>,
  voidPending: (ids) => resolvePending(sql, scope, ids, false) as Exit.Exit<void, PendingAlreadyPosted>,
  expireDue: (limit) => {
    const now = scope.nextTimestamp()
    if (now < scope.expiries.earliestNs) return Exit.void
    const rows = sql.selectDue.all(now, limit) as Array<SqlRow>
    for (const row of rows) resolve(sql, scope, decodeTransfer(row), TransferState.expired, now)
    if (rows.length < limit) scope.expiries.earliestNs = readEarliestExpiry(sql)
    return Exit.void
  },
  voidAllPending: (limit) => {
    const now = scope.nextTimestamp()
    const rows = sql.selectPending.all(limit) as Array<SqlRow>
    for (const row of rows) resolve(sql, scope, decodeTransfer(row), TransferState.voided, now)
    return rows.length
  }
})

const expireDue = (limit: number): Job<never> => (tx) => tx.expireDue(limit)

const createAccounts = (sql: Statements, scope: JobScope, accounts: ReadonlyArray<AccountSpec>): Exit.Exit<void> => {
  const conflict = accounts.find((spec) => {
    const existing = scope.account(spec.id)
    return existing !== undefined && !sameAccount(existing, spec)
  })
  if (conflict !== undefined) {
    return defect(`account ${conflict.id} exists with a different ledger, code or flags`)
  }
  for (const spec of accounts) {
    if (scope.account(spec.id) !== undefined) continue
    const row = newAccountRow(spec, scope.nextTimestamp())
    sql.insertAccount.run(
      row.id.toString(),
      row.ledger,
      row.code,
      row.flags,
      "0",
      "0",
      "0",
      "0",
      row.timestamp
    )
    scope.putAccount(row)
  }
  return Exit.void
}

const transferFlags = (index: number, length: number, pending: boolean): number =>
  (index < length - 1 ? TransferFlagBits.linked : 0) | (pending ? TransferFlagBits.pending : 0)

const sameTransfer = (row: TransferRow, spec: TransferSpec, flags: number, timeoutSeconds: number): boolean =>
  row.debitAccountId === spec.debitAccountId && row.creditAccountId === spec.creditAccountId &&
  row.amount === spec.amount && row.ledger === spec.ledger && row.code === spec.code &&
  row.flags === flags && row.timeoutSeconds === timeoutSeconds

interface NewTransfer {
  readonly spec: TransferSpec
  readonly flags: number
  readonly timestamp: bigint
}

type Step = NewTransfer | "exists" | Exit.Exit<never, InsufficientBalance>

/** Decides one transfer of a chain against the overlay, applying it there when it succeeds. */
const stepTransfer = (
  sql: Statements,
  scope: JobScope,
  spec: TransferSpec,
  flags: number,
  timeoutSeconds: number
): Step => {
  const existing = scope.transfer(spec.id)
  if (existing !== undefined) {
    return sameTransfer(existing, spec, flags, timeoutSeconds)
      ? "exists"
      : defect(`transfer ${spec.id} exists with different fields`)
  }
  const failed = sql.selectFailed.get(spec.id.toString()) as SqlRow | undefined
  if (failed !== undefined) {
    return defect(`transfer id ${spec.id} already failed (${String(failed["reason"])}); use a fresh id`)
  }
  const debit = scope.account(spec.debitAccountId)
  const credit = scope.account(spec.creditAccountId)
  if (debit === undefined) return defect(`transfer ${spec.id}: debit account ${spec.debitAccountId} not found`)
  if (credit === undefined) return defect(`transfer ${spec.id}: credit account ${spec.creditAccountId} not found`)
  if (debit.ledger !== spec.ledger || credit.ledger !== spec.ledger) {
    return defect(`transfer ${spec.id}: accounts and transfer must have the same ledger`)
  }
  if (exceedsCredits(debit, spec.amount)) return insufficient(sql, scope, spec, debit.id, "exceeds_credits")
  if (exceedsDebits(credit, spec.amount)) return insufficient(sql, scope, spec, credit.id, "exceeds_debits")
  const pending = (flags & TransferFlagBits.pending) !== 0
  scope.putAccount(debitFor(debit, spec.amount, pending))
  scope.putAccount(creditFor(credit, spec.amount, pending))
  return { spec, flags, timestamp: scope.nextTimestamp() }
}

const insufficient = (
  sql: Statements,
  scope: JobScope,
  spec: TransferSpec,
  accountId: bigint,
  reason: "exceeds_credits" | "exceeds_debits"
): Exit.Exit<never, InsufficientBalance> => {
  sql.insertFailed.run(spec.id.toString(), reason, scope.nextTimestamp())
  return Exit.fail(new InsufficientBalance({ accountId, transferId: spec.id, reason }))
}

/** `timeoutOf(i)`: the pending timeout of the i-th transfer, `undefined` for a posted one. */
const createTransfers = (
  sql: Statements,
  scope: JobScope,
  transfers: ReadonlyArray<TransferSpec>,
  timeoutOf: (index: number) => number | undefined
): Exit.Exit<void, InsufficientBalance> => {
  const created: Array<readonly [NewTransfer, number | undefined]> = []
  for (let i = 0; i < transfers.length; i++) {
    const timeoutSeconds = timeoutOf(i)
    const flags = transferFlags(i, transfers.length, timeoutSeconds !== undefined)
    const step = stepTransfer(sql, scope, transfers[i]!, flags, timeoutSeconds ?? 0)
    if (step === "exists") continue
    if (Exit.isExit(step)) return step
    created.push([step, timeoutSeconds])
  }
  for (const [transfer, timeoutSeconds] of created) insertTransfer(sql, scope, transfer, timeoutSeconds)
  return Exit.void
}

const insertTransfer = (
  sql: Statements,
  scope: JobScope,
  transfer: NewTransfer,
  timeoutSeconds: number | undefined
): void => {
  const { flags, spec, timestamp } = transfer
  const expiresAt = timeoutSeconds === undefined ? null : timestamp + BigInt(timeoutSeconds) * nsPerSecond
  sql.insertTransfer.run(
    spec.id.toString(),
    spec.debitAccountId.toString(),
    spec.creditAccountId.toString(),
    spec.amount.toString(),
    spec.ledger,
    spec.code,
    flags,
    timeoutSeconds ?? 0,
    timestamp,
    timeoutSeconds === undefined ? TransferState.singlePhase : TransferState.pending,
    expiresAt
  )
  if (expiresAt !== null && expiresAt < scope.expiries.earliestNs) scope.expiries.earliestNs = expiresAt
}

type Resolution =
  | { readonly _tag: "Apply"; readonly row: TransferRow }
  | { readonly _tag: "Expire"; readonly row: TransferRow }
  | { readonly _tag: "Skip" }
  | { readonly _tag: "Stop"; readonly exit: Exit.Exit<never, ResolveError> }

type ResolveError = PostFailure | PendingAlreadyPosted

const skip: Resolution = { _tag: "Skip" }
const stop = (exit: Exit.Exit<never, ResolveError>): Resolution => ({ _tag: "Stop", exit })

/**
 * What posting (or voiding) one pending transfer does. Posting: unknown, expired and voided are
 * errors, posted is success. Voiding: unknown, expired and voided are success, posted is an error.
 */
const classify = (row: TransferRow | undefined, id: bigint, post: boolean, now: bigint): Resolution => {
  if (row === undefined) return post ? stop(Exit.fail(new PendingNotFound({ transferId: id }))) : skip
  if ((row.flags & TransferFlagBits.pending) === 0) return stop(defect(`transfer ${id} is not a pending transfer`))
  const timedOut = row.state === TransferState.expired ||
    (row.state === TransferState.pending && row.expiresAt !== null && row.expiresAt <= now)
  if (timedOut) {
    if (post) return stop(Exit.fail(new PendingExpired({ transferId: id })))
    return row.state === TransferState.pending ? { _tag: "Expire", row } : skip
  }
  if (row.state === TransferState.posted) {
    return post ? skip : stop(Exit.fail(new PendingAlreadyPosted({ transferId: id })))
  }
  if (row.state === TransferState.voided) {
    return post ? stop(Exit.fail(new PendingAlreadyVoided({ transferId: id }))) : skip
  }
  return { _tag: "Apply", row }
}

const resolvePending = (
  sql: Statements,
  scope: JobScope,
  ids: ReadonlyArray<bigint>,
  post: boolean
): Exit.Exit<void, ResolveError> => {
  const now = scope.nextTimestamp()
  const resolutions = ids.map((id) => classify(scope.transfer(id), id, post, now))
  for (const resolution of resolutions) {
    if (resolution._tag === "Stop") return resolution.exit
  }
  for (const resolution of resolutions) {
    if (resolution._tag === "Apply") {
      resolve(sql, scope, resolution.row, post ? TransferState.posted : TransferState.voided, now)
    } else if (resolution._tag === "Expire") {
      resolve(sql, scope, resolution.row, TransferState.expired, now)
    }
  }
  return Exit.void
}

/** Moves a pending transfer to `state`, posting or releasing its amount on both accounts. */
const resolve = (sql: Statements, scope: JobScope, row: TransferRow, state: number, now: bigint): void => {
  const debit = scope.account(row.debitAccountId)
  const credit = scope.account(row.creditAccountId)
  if (debit === undefined || credit === undefined) {
    throw new LedgerDefect(`pending transfer ${row.id} refers to a missing account`)
  }
  const posting = state === TransferState.posted
  scope.putAccount(resolveDebit(debit, row.amount, posting))
  scope.putAccount(resolveCredit(credit, row.amount, posting))
  sql.resolveTransfer.run(state, now, row.id.toString())
}

// ---------------------------------------------------------------------------------------------
// Journal replay (audit)
// ---------------------------------------------------------------------------------------------

export interface JournalMismatch {
  /** The balances the transfers add up to. */
  readonly expected: AccountBalance
  /** The balances stored on the account (zero if the account row is missing). */
  readonly actual: AccountBalance
}

type Sums = { debitsPending: bigint; debitsPosted: bigint; creditsPending: bigint; creditsPosted: bigint }

const zeroSums = (): Sums => ({ debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n })

/** Adds one transfer row to the per-account sums it implies. */
const replayTransfer = (sums: Map<string, Sums>, row: SqlRow): void => {
  const state = int(row, "state")
  if (state === TransferState.voided || state === TransferState.expired) return
  const amount = big(row, "amount")
  const posted = state !== TransferState.pending
  const debit = sums.get(row["debit_account_id"] as string) ?? zeroSums()
  const credit = sums.get(row["credit_account_id"] as string) ?? zeroSums()
  if (posted) {
    debit.debitsPosted += amount
    credit.creditsPosted += amount
  } else {
    debit.debitsPending += amount
    credit.creditsPending += amount
  }
  sums.set(row["debit_account_id"] as string, debit)
  sums.set(row["credit_account_id"] as string, credit)
}

const sameSums = (a: Sums, b: AccountBalance): boolean =>
  a.debitsPending === b.debitsPending && a.debitsPosted === b.debitsPosted &&
  a.creditsPending === b.creditsPending && a.creditsPosted === b.creditsPosted

/**
 * Replays every transfer and compares the sums with each account's stored balances; calls
 * `onMismatch` for each difference. Run it inside one read transaction for a consistent result.
 * Memory: one entry per account.
 */
export const replayJournal = (db: DatabaseSync, onMismatch: (mismatch: JournalMismatch) => void): void => {
  const sums = new Map<string, Sums>()
  const transfers = db.prepare("SELECT debit_account_id, credit_account_id, amount, state FROM transfers")
  transfers.setReadBigInts(true)
  for (const row of transfers.iterate()) replayTransfer(sums, row as SqlRow)
  const accounts = db.prepare(`SELECT ${accountColumns} FROM accounts`)
  accounts.setReadBigInts(true)
  for (const row of accounts.iterate()) {
    const actual = toBalance(decodeAccount(row as SqlRow))
    const expected = sums.get(actual.id.toString()) ?? zeroSums()
    sums.delete(actual.id.toString())
    if (!sameSums(expected, actual)) onMismatch({ expected: { id: actual.id, ...expected }, actual })
  }
  for (const [id, expected] of sums) {
    onMismatch({ expected: { id: BigInt(id), ...expected }, actual: { id: BigInt(id), ...zeroSums() } })
  }
}
