/**
 * Cost of one transfer id: `Ledger.ts` `newTransferId` (random UUID, parsed) against
 * tigerbeetle-node's `id()` (random bits once per millisecond, then incremented), which the
 * TigerBeetle ledger uses for post and void transfers. Alternating, in one process.
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/transferIds.ts
 */
import { id } from "tigerbeetle-node"
import { newTransferId } from "../../src/Accounting/Ledger.ts"

const n = 200_000
const candidates = [["newTransferId", newTransferId], ["tigerbeetle-node id()", id]] as const
for (let round = 0; round < 3; round++) {
  for (const [name, next] of candidates) {
    let fold = 0n
    const started = performance.now()
    for (let i = 0; i < n; i++) fold ^= next()
    const us = ((performance.now() - started) * 1000) / n
    console.log(`round ${round + 1} ${name.padEnd(22)} ${us.toFixed(3)} µs/id${fold === 0n ? " (fold 0)" : ""}`)
  }
}
