/**
 * EXPERIMENT: the cost of a write batch's sweep of forgotten receipt packet rows
 * (`ReceiptTotalsSqliteSchema.sweepPackets`) on a WAL file, inside a `BEGIN IMMEDIATE … COMMIT` as
 * the batcher runs it: µs per deleted row when each sweep deletes `limit` rows of a table whose
 * rows are all forgotten (a steady flow, past the forget time), and µs of a sweep that deletes
 * nothing (a sitting shorter than the forget time). Before the batch sweep waited for 64 due rows,
 * a batch of one reserve swept with limit 2 (ReceiptTotalsSqlite.ts, `batchSweepMin`).
 *
 * Usage: node bench/experiments/receiptSweep.ts [rows=64000] [limits=2,64,2,64]
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { prepare, schema } from "../../src/Stream/ReceiptTotalsSqliteSchema.ts"

const rows = Number(process.argv[2] ?? 64_000)
const limits = (process.argv[3] ?? "2,64,2,64").split(",").map(Number)
const nowMs = 10_000_000
const top = mkdtempSync(join(tmpdir(), "receipt-sweep-"))
try {
  for (const [i, limit] of limits.entries()) {
    const dir = join(top, String(i))
    mkdirSync(dir)
    const db = new DatabaseSync(join(dir, "receipts.db"))
    db.exec("PRAGMA journal_mode = WAL")
    db.exec("PRAGMA synchronous = NORMAL")
    db.exec(schema)
    const statements = prepare(db)
    db.exec("BEGIN")
    // Ids in no particular order against their forget times, as random reservation ids are.
    for (let r = 0; r < rows; r++) statements.putPacket.run(`p${1e12 + ((r * 7919) % rows)}`, 2, "10", "pay", r, r + 100)
    db.exec("COMMIT")
    let sweepNs = 0n
    const sweeps = Math.ceil(rows / limit)
    for (let b = 0; b < sweeps; b++) {
      db.exec("BEGIN IMMEDIATE")
      const start = process.hrtime.bigint()
      statements.sweepPackets.run(nowMs, limit)
      sweepNs += process.hrtime.bigint() - start
      db.exec("COMMIT")
    }
    const empties = 2_000
    db.exec("BEGIN IMMEDIATE")
    const start = process.hrtime.bigint()
    for (let e = 0; e < empties; e++) statements.sweepPackets.run(nowMs, limit)
    const emptyUs = Number(process.hrtime.bigint() - start) / 1000 / empties
    db.exec("COMMIT")
    db.close()
    console.log(
      `limit ${limit}: ${(Number(sweepNs) / 1000 / rows).toFixed(2)} µs per deleted row ` +
        `(${(Number(sweepNs) / 1000 / sweeps).toFixed(1)} µs per sweep); a sweep deleting nothing ${emptyUs.toFixed(1)} µs`
    )
  }
} finally {
  rmSync(top, { recursive: true, force: true })
}
