/**
 * The committed rows of capped packets (`receipt_packets`, state 2) written in one transaction of
 * `batch` commits: one `putPacket` INSERT per row (as the sixth session did, in each commit) against
 * the multi-row `putPackets` (the time of the row statements alone) (`writeCommittedRows`, up to 32 rows per statement). A WAL file like
 * the ledger's; ids laid out like the ledger's (time-ordered 39-digit decimals). Rows are forgotten
 * (deleted) as the node does, so the table stays at a steady size; the DELETE's time per row is
 * printed too.
 *
 * Usage: node bench/experiments/committedRows.ts [rows=200000] [batch=20] [sittings=3]
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { prepare, schema } from "../../src/Stream/ReceiptTotalsSqliteSchema.ts"

const rows = Number(process.argv[2] ?? 200_000)
const batch = Number(process.argv[3] ?? 20)
const sittings = Number(process.argv[4] ?? 3)

let sweepUs = 0
const run = (mode: "single" | "multi"): number => {
  const dir = mkdtempSync(join(tmpdir(), "committed-rows-"))
  const db = new DatabaseSync(join(dir, "ledger.sqlite"))
  try {
    db.exec("PRAGMA journal_mode = WAL")
    db.exec("PRAGMA synchronous = NORMAL")
    db.exec(schema)
    const statements = prepare(db)
    const begin = db.prepare("BEGIN IMMEDIATE")
    const commit = db.prepare("COMMIT")
    let id = 1_700_000_000_000n << 80n
    const paymentKey = "https://wallet.example/incoming-payments/0b7f0b9e-6e1d-4b4f-9d0e-1b2c3d4e5f60"
    let insertNs = 0n
    let sweepNs = 0n
    let swept = 0
    let nowMs = 0
    for (let done = 0; done < rows; done += batch) {
      nowMs += 1
      begin.run()
      const pending: Array<readonly [string, number]> = []
      for (let i = 0; i < batch; i++) {
        id += 1n << 60n
        pending.push([id.toString(), nowMs + 30_000])
      }
      const t0 = process.hrtime.bigint()
      if (mode === "single") {
        for (const [packetId, lapseAtMs] of pending) {
          statements.putPacket.run(packetId, 2, "10", paymentKey, lapseAtMs, lapseAtMs + 500)
        }
      } else {
        for (let start = 0; start < pending.length; start += 32) {
          const end = Math.min(pending.length, start + 32)
          const values: Array<string | number> = []
          for (let i = start; i < end; i++) {
            const [packetId, lapseAtMs] = pending[i]!
            values.push(packetId, 2, "10", paymentKey, lapseAtMs, lapseAtMs + 500)
          }
          statements.putPackets(end - start).run(...values)
        }
      }
      insertNs += process.hrtime.bigint() - t0
      // As the node: forgotten rows (1 s old here) deleted in the same transaction, 2 per row written.
      const t1 = process.hrtime.bigint()
      swept += Number(statements.sweepPackets.run(nowMs - 1_000 + 30_500, 2 * batch).changes)
      sweepNs += process.hrtime.bigint() - t1
      commit.run()
    }
    sweepUs = Number(sweepNs) / 1_000 / Math.max(1, swept)
    return Number(insertNs) / 1_000 / rows
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

for (let s = 0; s < sittings; s++) {
  const single = run("single")
  const sweepSingle = sweepUs
  const multi = run("multi")
  console.log(`sitting ${s + 1}: one INSERT per row ${single.toFixed(2)} µs/row, multi-row ${multi.toFixed(2)} µs/row (batch ${batch}); the forget sweep's DELETE ${sweepSingle.toFixed(2)} / ${sweepUs.toFixed(2)} µs per row deleted`)
}
