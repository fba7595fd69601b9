/**
 * Whether a second session helps a packet that arrives while the replica is slow on the first
 * session's request: a one-replica cluster (test/support/tigerbeetle.ts, data file in
 * `os.tmpdir()`), client A sends `requests` requests of `events` events one at a time (pending
 * transfers and posts of the previous ones, as the node's); whenever A's request has been out for
 * `lateMs`, client B sends a one-transfer request at once. For those, prints B's round trip and
 * B's answer against A's: B answered right after A means the replica took B while A's stall ran
 * (a second session would cut the wait of the packets queued behind a slow request); B answered a
 * whole round trip later means the replica runs them one after the other (no gain).
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/tigerbeetleHedge.ts [requests=4000] [events=36] [lateMs=3]
 */
import { amount_max, CreateAccountStatus, createClient, CreateTransferStatus, type Transfer, TransferFlags } from "tigerbeetle-node"
import { emptyTransfer, startTigerBeetle } from "../../test/support/tigerbeetle.ts"

const requests = Number(process.argv[2] ?? 4000)
const events = Number(process.argv[3] ?? 36)
const lateMs = Number(process.argv[4] ?? 3)
const quantile = (values: Array<number>, q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!
const fmt = (v: number) => v.toFixed(2)

const cluster = await startTigerBeetle()
process.on("SIGINT", () => void cluster.stop().then(() => process.exit(130)))
process.on("SIGTERM", () => void cluster.stop().then(() => process.exit(143)))
const a = createClient({ cluster_id: cluster.clusterId, replica_addresses: [...cluster.addresses] })
const b = createClient({ cluster_id: cluster.clusterId, replica_addresses: [...cluster.addresses] })
try {
  const account = { id: 0n, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n,
    user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n }
  const created = await a.createAccounts([{ ...account, id: 1n }, { ...account, id: 2n }])
  if (created.some((r) => r.status !== CreateAccountStatus.created)) throw new Error(`accounts: ${created.map((r) => r.status)}`)
  await b.lookupAccounts([1n]) // registers B's session
  let nextId = 1000n
  let previous: Array<bigint> = []
  const pendingTransfer = (id: bigint): Transfer => ({ ...emptyTransfer, id, debit_account_id: 1n, credit_account_id: 2n, amount: 1n, ledger: 1, code: 1, flags: TransferFlags.pending, timeout: 30 })
  const check = (results: ReadonlyArray<{ status: CreateTransferStatus }>) => {
    const failed = results.find((r) => r.status !== CreateTransferStatus.created)
    if (failed !== undefined) throw new Error(`a transfer failed with ${failed.status}`)
  }
  const tripsA: Array<number> = []
  // [A's round trip, B sent after A by, B's round trip, B answered after A by]
  const hedges: Array<[number, number, number, number]> = []
  const skip = Math.floor(requests / 10)
  for (let i = 0; i < requests; i++) {
    const batch: Array<Transfer> = []
    const pending: Array<bigint> = []
    for (let j = 0; j < Math.max(1, Math.floor(events / 2)); j++) {
      const id = nextId++
      pending.push(id)
      batch.push(pendingTransfer(id))
    }
    for (const pendingId of previous) {
      batch.push({ ...emptyTransfer, id: nextId++, pending_id: pendingId, debit_account_id: 1n, credit_account_id: 2n, amount: amount_max, ledger: 1, code: 1, flags: TransferFlags.post_pending_transfer })
    }
    previous = pending
    const t = performance.now()
    let hedge: Promise<[number, number]> | undefined
    const timer = setTimeout(() => {
      const sent = performance.now()
      hedge = b.createTransfers([pendingTransfer(nextId++)]).then((results) => {
        check(results)
        return [sent, performance.now()]
      })
    }, lateMs)
    const results = await a.createTransfers(batch)
    const answered = performance.now()
    clearTimeout(timer)
    check(results)
    tripsA.push(answered - t)
    if (hedge !== undefined) {
      const [sent, done] = await hedge
      if (i >= skip) hedges.push([answered - t, sent - t, done - sent, done - answered])
    }
  }
  const measured = tripsA.slice(skip)
  console.log(`A: ${measured.length} requests of ${events} events; round trip ms p50 ${fmt(quantile(measured, 0.5))} p90 ${fmt(quantile(measured, 0.9))} p99 ${fmt(quantile(measured, 0.99))} max ${fmt(Math.max(...measured))}`)
  const col = (k: number) => hedges.map((h) => h[k]!)
  console.log(`B sent when A was out ${lateMs} ms: ${hedges.length} times (A's round trip then p50 ${fmt(quantile(col(0), 0.5))} p90 ${fmt(quantile(col(0), 0.9))}); B's round trip p50 ${fmt(quantile(col(2), 0.5))} p90 ${fmt(quantile(col(2), 0.9))} p99 ${fmt(quantile(col(2), 0.99))}; B answered after A by p10 ${fmt(quantile(col(3), 0.1))} p50 ${fmt(quantile(col(3), 0.5))} p90 ${fmt(quantile(col(3), 0.9))}`)
  const longOnes = hedges.filter((h) => h[0] >= 8)
  console.log(`  when A took ≥ 8 ms (${longOnes.length}): A p50 ${fmt(quantile(longOnes.map((h) => h[0]), 0.5))}, B's round trip p50 ${fmt(quantile(longOnes.map((h) => h[2]), 0.5))}, B answered after A by p50 ${fmt(quantile(longOnes.map((h) => h[3]), 0.5))} p90 ${fmt(quantile(longOnes.map((h) => h[3]), 0.9))}; A's next-request wait would have been ≥ ${fmt(quantile(longOnes.map((h) => h[0] - h[1]), 0.5))} + its own round trip`)
} finally {
  a.destroy()
  b.destroy()
  await cluster.stop()
}
