/**
 * The embedded payments store's file: its tables as versioned migrations (`schema_migrations`,
 * applied at open) and `open`, which hands out the database with its transaction helper.
 */
import { DatabaseSync } from "node:sqlite"
import { inTransaction } from "../SqliteTransaction.ts"

export interface SqliteHandle {
  readonly db: DatabaseSync
  /** Runs `f` in one transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on throw). */
  readonly transaction: <A>(f: () => A) => A
}

const migrations: ReadonlyArray<string> = [
  `CREATE TABLE wallet_addresses (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL UNIQUE,
     path TEXT NOT NULL UNIQUE,
     asset_code TEXT NOT NULL,
     asset_scale INTEGER NOT NULL,
     public_name TEXT,
     active INTEGER NOT NULL DEFAULT 1,
     created_at INTEGER NOT NULL
   )`,
  `CREATE TABLE incoming_payments (
     id TEXT PRIMARY KEY,
     wallet_address_id TEXT NOT NULL REFERENCES wallet_addresses(id),
     incoming_amount TEXT,
     expires_at INTEGER,
     metadata TEXT,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     completed_at INTEGER
   )`,
  `CREATE INDEX incoming_payments_wallet ON incoming_payments(wallet_address_id, created_at)`,
  // Quotes (src/Payments/Quotes.ts). Amounts are decimal TEXT; rates are exact "num/den" TEXT.
  // `shared_secret` (base64) is kept only for `stream` receivers, whose secret cannot be fetched again.
  `CREATE TABLE quotes (
     id TEXT PRIMARY KEY,
     wallet_address_id TEXT NOT NULL REFERENCES wallet_addresses(id),
     receiver_kind TEXT NOT NULL,
     receiver TEXT NOT NULL,
     shared_secret TEXT,
     payment_type TEXT NOT NULL,
     debit_amount TEXT NOT NULL,
     debit_asset_code TEXT NOT NULL,
     debit_asset_scale INTEGER NOT NULL,
     receive_amount TEXT NOT NULL,
     receive_asset_code TEXT NOT NULL,
     receive_asset_scale INTEGER NOT NULL,
     max_packet_amount TEXT NOT NULL,
     min_exchange_rate TEXT NOT NULL,
     low_estimated_exchange_rate TEXT NOT NULL,
     high_estimated_exchange_rate TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   )`,
  // Outgoing payments (src/Payments/OutgoingPayments.ts): one per quote. `outcome` is decided before
  // the refund and `state` follows it once the refund is done, so a restart in between finishes it.
  `CREATE TABLE outgoing_payments (
     id TEXT PRIMARY KEY,
     quote_id TEXT NOT NULL UNIQUE REFERENCES quotes(id),
     wallet_address_id TEXT NOT NULL REFERENCES wallet_addresses(id),
     state TEXT NOT NULL,
     outcome TEXT,
     sent_amount TEXT NOT NULL,
     delivered_amount TEXT NOT NULL,
     error TEXT,
     attempts INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   )`,
  `CREATE INDEX outgoing_payments_state ON outgoing_payments(state, created_at)`,
  `CREATE INDEX outgoing_payments_wallet ON outgoing_payments(wallet_address_id, created_at)`,
  // Leases (one instance drives a payment at a time): see OutgoingPayments.ts.
  `ALTER TABLE outgoing_payments ADD COLUMN lease_owner TEXT`,
  `ALTER TABLE outgoing_payments ADD COLUMN lease_expires_at INTEGER`,
  // The events outbox (src/Events/): written in the transaction of the change that caused each.
  `CREATE TABLE events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL,
     resource_id TEXT NOT NULL,
     data TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     next_attempt_at INTEGER NOT NULL,
     last_attempt_at INTEGER,
     last_error TEXT,
     delivered_at INTEGER,
     lease_owner TEXT,
     lease_expires_at INTEGER
   )`,
  `CREATE INDEX events_due ON events(state, next_attempt_at)`,
  `CREATE TABLE liquidity_alerts (
     key TEXT PRIMARY KEY,
     below INTEGER NOT NULL
   )`
]

const migrate = (db: DatabaseSync): void => {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
  const row = db.prepare("SELECT MAX(version) AS version FROM schema_migrations").get() as { version: number | null }
  const current = row.version ?? 0
  for (let version = current + 1; version <= migrations.length; version++) {
    db.exec("BEGIN IMMEDIATE")
    try {
      db.exec(migrations[version - 1]!)
      db.prepare("INSERT INTO schema_migrations (version) VALUES (?)").run(version)
      db.exec("COMMIT")
    } catch (error) {
      db.exec("ROLLBACK")
      throw error
    }
  }
}

export const open = (filename: string): SqliteHandle => {
  const db = new DatabaseSync(filename)
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000")
  migrate(db)
  // This process owns the file (one process per data directory): a lease left in it belongs to a
  // previous process that stopped without releasing it (a crash), so the payments resume at once.
  db.exec("UPDATE outgoing_payments SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner IS NOT NULL")
  db.exec("UPDATE events SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner IS NOT NULL")
  let depth = 0
  const transaction = <A>(f: () => A): A => {
    if (depth > 0) return f()
    depth++
    try {
      return inTransaction(db, f)
    } finally {
      depth--
    }
  }
  return { db, transaction }
}
