/**
 * The embedded receipt totals' storage format on `node:sqlite`, its prepared statements, and opening.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite"
import type { Resolved } from "./ReceiptTotalsSqlite.ts"

// ---------------------------------------------------------------------------------------------
// Schema and statements
// ---------------------------------------------------------------------------------------------

/** `receipt_packets.state`; `lapsed`: pending past its lapse (no longer counted, still committable). */
export const PacketState = { pending: 1, committed: 2, released: 3, lapsed: 4 } as const

/** Due pending packets one write lapses (bounds its work; the rest go in later writes). */
export const lapsedPerWriteMax = 64

export const schema = `
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
CREATE TABLE IF NOT EXISTS receipt_packets (
  packet_id TEXT PRIMARY KEY,
  state INTEGER NOT NULL,
  amount TEXT NOT NULL,
  payment_key TEXT,
  lapse_at_ms INTEGER NOT NULL,
  forget_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipt_packets_pending ON receipt_packets (payment_key, lapse_at_ms) WHERE state = 1;
CREATE INDEX IF NOT EXISTS receipt_packets_forget ON receipt_packets (forget_at_ms);
-- No longer written (pending sums are kept in memory, summed from receipt_packets when needed);
-- kept so files written by earlier versions open, and emptied at open and by deletePayment.
CREATE TABLE IF NOT EXISTS receipt_payment_pending (
  key TEXT PRIMARY KEY,
  total TEXT NOT NULL,
  count INTEGER NOT NULL
) WITHOUT ROWID;
`

export interface Statements {
  readonly connection: StatementSync
  readonly payment: StatementSync
  readonly putConnection: StatementSync
  readonly putPayment: StatementSync
  readonly deletePayment: StatementSync
  readonly sweep: StatementSync
  readonly packet: StatementSync
  readonly duePending: StatementSync
  readonly pendingPackets: StatementSync
  readonly deletePendingTotal: StatementSync
  readonly deleteAllPendingTotals: StatementSync
  readonly putPacket: StatementSync
  /** `putPacket` for `rows` rows in one statement (1 ≤ rows ≤ `packetRowsPerStatementMax`), prepared on first use. */
  readonly putPackets: (rows: number) => StatementSync
  readonly insertPacket: StatementSync
  readonly setPacketState: StatementSync
  readonly releasePaymentPending: StatementSync
  readonly releaseAllPending: StatementSync
  readonly sweepPackets: PacketSweep
  readonly nextForget: StatementSync
}

/**
 * Deletes at most `limit` forgotten packet rows (`forget_at_ms <= nowMs`), the earliest in the
 * forget index's order (`forget_at_ms`, then `packet_id`); answers how many (`changes`), so fewer
 * than `limit` means every forgotten row is gone.
 */
export interface PacketSweep {
  run: (nowMs: number, limit: number) => { readonly changes: number }
}

/**
 * Two range statements on the forget index instead of one `DELETE … WHERE packet_id IN (SELECT
 * … LIMIT ?)`: the `limit`-th forgotten row, then a DELETE of the index range up to it (exactly
 * `limit` rows), or of every forgotten row when there are fewer. Half the cost per row deleted
 * (each committed capped packet's row is deleted once): docs/performance/local-delivery.md,
 * "Capped packets: the committed row".
 */
const packetSweepOf = (db: DatabaseSync): PacketSweep => {
  const last = db.prepare(
    `SELECT forget_at_ms AS forget, packet_id AS id FROM receipt_packets WHERE forget_at_ms <= ?
     ORDER BY forget_at_ms, packet_id LIMIT 1 OFFSET ?`
  )
  const through = db.prepare("DELETE FROM receipt_packets WHERE (forget_at_ms, packet_id) <= (?, ?)")
  const due = db.prepare("DELETE FROM receipt_packets WHERE forget_at_ms <= ?")
  return {
    run: (nowMs, limit) => {
      if (!(limit >= 1)) return { changes: 0 }
      const row = last.get(nowMs, limit - 1) as { readonly forget: number; readonly id: string } | undefined
      const changes = row === undefined ? due.run(nowMs).changes : through.run(row.forget, row.id).changes
      return { changes: Number(changes) }
    }
  }
}

/** Rows one multi-row `putPackets` statement writes at most (6 parameters each). */
export const packetRowsPerStatementMax = 32

const putPacketsOf = (db: DatabaseSync): (rows: number) => StatementSync => {
  const prepared: Array<StatementSync | undefined> = []
  return (rows) => {
    if (!Number.isInteger(rows) || rows < 1 || rows > packetRowsPerStatementMax) {
      throw new Error(`putPackets: ${rows} rows is outside 1..${packetRowsPerStatementMax}`)
    }
    let statement = prepared[rows]
    if (statement === undefined) {
      statement = db.prepare(
        `INSERT OR REPLACE INTO receipt_packets (packet_id, state, amount, payment_key, lapse_at_ms, forget_at_ms)
         VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?)").join(", ")}`
      )
      prepared[rows] = statement
    }
    return statement
  }
}

export const prepare = (db: DatabaseSync): Statements => ({
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
  ),
  packet: db.prepare("SELECT state, amount, payment_key FROM receipt_packets WHERE packet_id = ? AND forget_at_ms > ?"),
  duePending: db.prepare(
    "SELECT packet_id, amount FROM receipt_packets WHERE payment_key = ? AND state = 1 AND lapse_at_ms <= ? LIMIT ?"
  ),
  pendingPackets: db.prepare("SELECT amount, lapse_at_ms FROM receipt_packets WHERE payment_key = ? AND state = 1"),
  deletePendingTotal: db.prepare("DELETE FROM receipt_payment_pending WHERE key = ?"),
  deleteAllPendingTotals: db.prepare("DELETE FROM receipt_payment_pending"),
  putPacket: db.prepare(
    `INSERT OR REPLACE INTO receipt_packets (packet_id, state, amount, payment_key, lapse_at_ms, forget_at_ms)
     VALUES (?, ?, ?, ?, ?, ?)`
  ),
  putPackets: putPacketsOf(db),
  // A reserve's row: inserted, or in place of a row past its forget time (which counts as absent,
  // as in `packet`); a live row of the id is left as it is (`changes` 0), and the reserve reads it.
  // Parameters: the six columns, then now (ms).
  insertPacket: db.prepare(
    `INSERT INTO receipt_packets (packet_id, state, amount, payment_key, lapse_at_ms, forget_at_ms)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (packet_id) DO UPDATE SET state = excluded.state, amount = excluded.amount,
       payment_key = excluded.payment_key, lapse_at_ms = excluded.lapse_at_ms, forget_at_ms = excluded.forget_at_ms
     WHERE receipt_packets.forget_at_ms <= ?`
  ),
  setPacketState: db.prepare("UPDATE receipt_packets SET state = ? WHERE packet_id = ?"),
  releasePaymentPending: db.prepare("UPDATE receipt_packets SET state = 3 WHERE payment_key = ? AND state IN (1, 4)"),
  releaseAllPending: db.prepare("UPDATE receipt_packets SET state = 3 WHERE state IN (1, 4)"),
  sweepPackets: packetSweepOf(db),
  // The `forget_at_ms` of the (offset+1)-th row to be forgotten (through its index).
  nextForget: db.prepare("SELECT forget_at_ms AS next FROM receipt_packets ORDER BY forget_at_ms LIMIT 1 OFFSET ?")
})

/**
 * When `count` packet rows will have been forgotten (the `count`-th smallest `forget_at_ms`, through
 * its index); Infinity when there are fewer rows.
 */
export const nextForgetOf = (statements: Statements, count: number): number => {
  const row = statements.nextForget.get(count - 1) as { readonly next?: unknown } | undefined
  return row?.next === null || row?.next === undefined ? Infinity : Number(row.next)
}

export const openDatabase = (options: Resolved): DatabaseSync => {
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
