/**
 * Cost of one transfer id: `Ledger.ts` `newTransferId` (80 random bits from a pool), tigerbeetle-node's
 * `id()` (10 random bytes through `randomFillSync` once per millisecond, then incremented) and
 * `LedgerTigerBeetleEncoding.ts` `nextPostId` (random once per process, then incremented), which
 * the TigerBeetle ledger uses for post and void transfers. Alternating, in one process, two ways:
 * back to back (many ids per millisecond: `id()` draws almost never), and paced at 3 ids per
 * millisecond as a node forwarding ~3 000 packets/s makes them (only the time inside the calls counts).
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/transferIds.ts
 */
import { id } from "tigerbeetle-node"
import { newTransferId } from "../../src/Accounting/Ledger.ts"
import { nextPostId } from "../../src/Accounting/LedgerTigerBeetleEncoding.ts"

const n = 200_000
const paced = 6_000
const perMs = 3
const candidates = [["newTransferId", newTransferId], ["tigerbeetle-node id()", id], ["nextPostId", nextPostId]] as const
for (let round = 0; round < 3; round++) {
  for (const [name, next] of candidates) {
    let fold = 0n
    const started = performance.now()
    for (let i = 0; i < n; i++) fold ^= next()
    const backToBack = ((performance.now() - started) * 1000) / n
    let inside = 0
    for (let i = 0; i < paced; i += perMs) {
      const ms = Date.now()
      while (Date.now() === ms) {
        // wait for the next millisecond
      }
      const at = performance.now()
      for (let k = 0; k < perMs; k++) fold ^= next()
      inside += performance.now() - at
    }
    console.log(`round ${round + 1} ${name.padEnd(22)} back to back ${backToBack.toFixed(3)} µs/id, ` +
      `paced ${perMs}/ms ${((inside * 1000) / paced).toFixed(3)} µs/id${fold === 0n ? " (fold 0)" : ""}`)
  }
}
