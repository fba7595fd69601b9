/**
 * The embedded ledger's storage format on `node:sqlite` (schema version 1), its prepared
 * statements, and the pure mapping from rows to the ledger contract's values.
 *
 * - ids and amounts are decimal TEXT (u128 does not fit SQLite's i64); arithmetic is in BigInt;
 * - timestamps are INTEGER nanoseconds since the epoch (TigerBeetle-style, unique, monotonic);
 * - a pending transfer keeps one row whose `state` moves pending -> posted | voided | expired
 *   (TigerBeetle writes a separate post/void transfer; here the resolution time is `resolved_at`);
 * - ids of transfers that failed with a balance error are kept in `failed_transfers`, mirroring
 *   TigerBeetle's `id_already_failed`.
 */
import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite"
import {
  type Account,
  type AccountBalance,
  LedgerDefect,
  type Transfer,
  TransferCode
} from "./Ledger.ts"
import {
  type AccountRow,
  bitsToFlags
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

export type SqlRow = Record<string, SQLOutputValue>

export const big = (row: SqlRow, column: string): bigint => BigInt(row[column] as string | bigint)
export const int = (row: SqlRow, column: string): number => Number(row[column] as bigint)

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

export const toBalance = (row: AccountRow): AccountBalance => ({
  id: row.id,
  debitsPending: row.debitsPending,
  debitsPosted: row.debitsPosted,
  creditsPending: row.creditsPending,
  creditsPosted: row.creditsPosted
})

export const nsPerSecond = 1_000_000_000n
export const nsPerMs = 1_000_000n

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

export const accountColumns =
  "id, ledger, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, timestamp"
const transferColumns =
  "id, debit_account_id, credit_account_id, amount, ledger, code, flags, timeout, timestamp, state, expires_at"

export const prepareStatements = (db: DatabaseSync) => {
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

export type Statements = ReturnType<typeof prepareStatements>

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

/** No pending transfer: larger than any timestamp. */
const noExpiryNs = 1n << 127n

export const readEarliestExpiry = (sql: Statements): bigint => {
  const value = (sql.earliestExpiry.get() as SqlRow | undefined)?.["t"]
  return value === null || value === undefined ? noExpiryNs : BigInt(value as bigint)
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
