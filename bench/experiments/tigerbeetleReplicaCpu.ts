/**
 * EXPERIMENT: the TigerBeetle replica's CPU per request and per event, by events per request. One
 * replica started as the bench starts it (`--development`, temp dir), two accounts, then for each
 * batch size one client sends requests of that many events back to back (one in flight, as the
 * node's one session does) for `seconds`: half pending transfers, half posts of the previous
 * request's pending transfers (a packet is one reserve and one post). The replica's CPU comes from
 * /proc/<pid>/stat around each run; so does this process's (the client's encode and its thread).
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/tigerbeetleReplicaCpu.ts [seconds] [sizes,...]
 *
 * Run it alone (under the bench lock): it measures CPU, and other load moves it.
 */
import { amount_max, createClient, CreateTransferStatus, id, type Transfer, TransferFlags } from "tigerbeetle-node"
import { cpuMsOf } from "../common.ts"
import { startTigerBeetle } from "../../test/support/tigerbeetle.ts"

const seconds = Number(process.argv[2] ?? 3)
const sizes = (process.argv[3] ?? "2,8,20,40,80,160,240").split(",").map(Number)

const transfer = (fields: Partial<Transfer>): Transfer => ({
  id: id(),
  debit_account_id: 0n,
  credit_account_id: 0n,
  amount: 0n,
  pending_id: 0n,
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  timeout: 0,
  ledger: 1,
  code: 1,
  flags: 0,
  timestamp: 0n,
  ...fields
})

const cluster = await startTigerBeetle()
const client = createClient({ cluster_id: cluster.clusterId, replica_addresses: [...cluster.addresses] })
try {
  const replicaPid = cluster.replicas[0]!.pid
  const account = (accountId: bigint) => ({
    id: accountId, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n,
    user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n
  })
  const debit = id()
  const credit = id()
  await client.createAccounts([account(debit), account(credit)])
  for (const size of sizes) {
    let pending: Array<bigint> = []
    let requests = 0
    let events = 0
    const replicaBefore = cpuMsOf(replicaPid)!
    const ownBefore = cpuMsOf(process.pid)!
    const started = performance.now()
    while (performance.now() - started < seconds * 1000) {
      const batch: Array<Transfer> = []
      // Posts of the previous request's reservations, then new reservations: size events in all.
      for (const pendingId of pending.slice(0, Math.floor(size / 2))) {
        batch.push(transfer({ pending_id: pendingId, user_data_128: pendingId, amount: amount_max, ledger: 0, code: 0, flags: TransferFlags.post_pending_transfer }))
      }
      const reserved: Array<bigint> = []
      while (batch.length < size) {
        const t = transfer({ debit_account_id: debit, credit_account_id: credit, amount: 10n, timeout: 60, flags: TransferFlags.pending })
        reserved.push(t.id)
        batch.push(t)
      }
      const results = await client.createTransfers(batch)
      const refused = results.find((r) => r.status !== CreateTransferStatus.created)
      if (refused !== undefined) throw new Error(`unexpected status ${CreateTransferStatus[refused.status]}`)
      pending = reserved
      requests++
      events += batch.length
    }
    const elapsed = (performance.now() - started) / 1000
    const replicaMs = cpuMsOf(replicaPid)! - replicaBefore
    const ownMs = cpuMsOf(process.pid)! - ownBefore
    console.log(`${String(size).padStart(4)} events/request: ${(requests / elapsed).toFixed(0).padStart(5)} requests/s, ` +
      `round trip ${((elapsed * 1000) / requests).toFixed(2)} ms; replica ${((replicaMs * 1000) / requests).toFixed(0)} µs/request, ` +
      `${((replicaMs * 1000) / events).toFixed(1)} µs/event (${((replicaMs / 1000 / elapsed) * 100).toFixed(0)}% of a core); ` +
      `client process ${((ownMs * 1000) / events).toFixed(1)} µs/event`)
  }
} finally {
  client.destroy()
  await cluster.stop()
}
