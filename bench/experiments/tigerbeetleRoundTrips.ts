/**
 * The replica's own round trip, without the node: starts a one-replica cluster
 * (test/support/tigerbeetle.ts, data file in `os.tmpdir()` as the bench's), then sends `requests`
 * `create_transfers` requests one at a time from a process that does nothing else (its event loop
 * is idle while it waits), each shaped like the TigerBeetle node's under load: `events` events, half
 * new pending transfers, half posts of the previous request's pending ones. Prints the round trip's
 * distribution, the share and spacing of long ones, and the round trips per 250 ms, to tell the
 * replica's stalls (periodic, the same here) from the node's event loop (absent here).
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/tigerbeetleRoundTrips.ts [requests=4000] [events=36] [gapMs=0]
 */
import { readFileSync } from "node:fs"
import { amount_max, CreateAccountStatus, createClient, CreateTransferStatus, type Transfer, TransferFlags } from "tigerbeetle-node"
import { emptyTransfer, startTigerBeetle } from "../../test/support/tigerbeetle.ts"

const requests = Number(process.argv[2] ?? 4000)
const events = Number(process.argv[3] ?? 36)
const gapMs = Number(process.argv[4] ?? 0)

const quantile = (values: Array<number>, q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!

const cluster = await startTigerBeetle()
/** The replica's main thread: ms on a CPU and waiting for one, since it started. */
const replicaStat = (): [number, number] => {
  const fields = readFileSync(`/proc/${cluster.replicas[0]!.pid}/schedstat`, "latin1").split(" ")
  return [Number(fields[0]) / 1e6, Number(fields[1]) / 1e6]
}
const stop = () => cluster.stop()
process.on("SIGINT", () => void stop().then(() => process.exit(130)))
process.on("SIGTERM", () => void stop().then(() => process.exit(143)))
const client = createClient({ cluster_id: cluster.clusterId, replica_addresses: [...cluster.addresses] })
try {
  const account = { id: 0n, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n,
    user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n }
  const created = await client.createAccounts([{ ...account, id: 1n }, { ...account, id: 2n }])
  if (created.some((r) => r.status !== CreateAccountStatus.created)) throw new Error(`accounts: ${created.map((r) => r.status)}`)
  let nextId = 1000n
  let previous: Array<bigint> = []
  const trips: Array<number> = []
  const sentAt: Array<number> = []
  const onCpu: Array<number> = []
  const runQueue: Array<number> = []
  const half = Math.max(1, Math.floor(events / 2))
  for (let i = 0; i < requests; i++) {
    const batch: Array<Transfer> = []
    const pending: Array<bigint> = []
    for (let j = 0; j < half; j++) {
      const id = nextId++
      pending.push(id)
      batch.push({ ...emptyTransfer, id, debit_account_id: 1n, credit_account_id: 2n, amount: 1n, ledger: 1, code: 1, flags: TransferFlags.pending, timeout: 30 })
    }
    for (const pendingId of previous) {
      batch.push({ ...emptyTransfer, id: nextId++, pending_id: pendingId, debit_account_id: 1n, credit_account_id: 2n, amount: amount_max, ledger: 1, code: 1, flags: TransferFlags.post_pending_transfer })
    }
    previous = pending
    const t = performance.now()
    const [cpu, wait] = replicaStat()
    const results = await client.createTransfers(batch)
    trips.push(performance.now() - t)
    const [cpuAfter, waitAfter] = replicaStat()
    onCpu.push(cpuAfter - cpu)
    runQueue.push(waitAfter - wait)
    sentAt.push(t)
    const failed = results.find((r) => r.status !== CreateTransferStatus.created)
    if (failed !== undefined) throw new Error(`request ${i}: a transfer failed with ${failed.status}`)
    if (gapMs > 0) await new Promise((done) => setTimeout(done, gapMs))
  }
  const skip = Math.floor(requests / 10) // the first tenth: warm-up
  const measured = trips.slice(skip)
  const median = quantile(measured, 0.5)
  const total = measured.reduce((a, b) => a + b, 0)
  console.log(`${measured.length} requests of ${events} events (after ${skip} of warm-up), gap ${gapMs} ms; round trip ms p50 ${median.toFixed(2)} p90 ${quantile(measured, 0.9).toFixed(2)} p99 ${quantile(measured, 0.99).toFixed(2)} max ${Math.max(...measured).toFixed(2)}; mean ${(total / measured.length).toFixed(2)}`)
  const mean = (list: Array<number>) => list.reduce((a, b) => a + b, 0) / Math.max(1, list.length)
  for (const [lo, hi] of [[0, median], [median, 2 * median], [2 * median, 4 * median], [4 * median, Infinity]] as const) {
    const at = measured.map((trip, i) => [trip, i + skip] as const).filter(([trip]) => trip >= lo && trip < hi).map(([, i]) => i)
    if (at.length === 0) continue
    const trip = mean(at.map((i) => trips[i]!))
    const cpu = mean(at.map((i) => onCpu[i]!))
    const wait = mean(at.map((i) => runQueue[i]!))
    console.log(`  round trips in [${lo.toFixed(1)}, ${hi.toFixed(1)}) ms: ${at.length}, mean ${trip.toFixed(2)}: replica on a CPU ${cpu.toFixed(2)}, waiting for a CPU ${wait.toFixed(2)}, neither ${(trip - cpu - wait).toFixed(2)}`)
  }
  for (const threshold of [4 * median, 10]) {
    const long = measured.map((trip, i) => [i + skip, trip] as const).filter(([, trip]) => trip >= threshold)
    const spacing = long.slice(1).map(([i], k) => i - long[k]![0])
    console.log(`  ≥ ${threshold.toFixed(1)} ms: ${long.length} (${(100 * long.length / measured.length).toFixed(2)} %), ${long.reduce((a, [, t]) => a + t, 0).toFixed(0)} ms of ${total.toFixed(0)}; spacing in requests p10 ${quantile(spacing, 0.1)} p50 ${quantile(spacing, 0.5)} p90 ${quantile(spacing, 0.9)}`)
    if (threshold === 10) console.log(`    first [index, round trip]: ${long.slice(0, 30).map(([i, t]) => `[${i}, ${t.toFixed(1)}]`).join(" ")}`)
  }
  const t0 = sentAt[skip]!
  const buckets = new Map<number, Array<number>>()
  for (let i = skip; i < trips.length; i++) {
    const b = Math.floor((sentAt[i]! - t0) / 250)
    const list = buckets.get(b) ?? []
    list.push(trips[i]!)
    buckets.set(b, list)
  }
  console.log(`per 250 ms (requests/max ms): ${[...buckets.entries()].map(([b, v]) => `${(b / 4).toFixed(2)}s:${v.length}/${Math.max(...v).toFixed(0)}`).join(" ")}`)
} finally {
  client.destroy()
  await stop()
}
