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
 * With `TB_PRODUCTION=1` the replica is started without `--development` (production caches, Direct
 * I/O; ~3 GiB resident), by this script, in a temp dir it removes.
 *
 * Run it alone (under the bench lock): it measures CPU, and other load moves it.
 */
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { amount_max, createClient, CreateTransferStatus, id, type Transfer, TransferFlags } from "tigerbeetle-node"
import { cpuMsOf, freePort, sleep } from "../common.ts"
import { emptyTransfer, startTigerBeetle, tigerBeetleBinary } from "../../test/support/tigerbeetle.ts"

/** A one-replica cluster without `--development`, the way an operator runs one. */
const startProduction = async () => {
  const binary = tigerBeetleBinary()!
  const dir = mkdtempSync(join(tmpdir(), "tigerbeetle-production-"))
  const file = join(dir, "1_0.tigerbeetle")
  const format = spawnSync(binary, ["format", "--cluster=1", "--replica=0", "--replica-count=1", file], { encoding: "utf8" })
  if (format.status !== 0) throw new Error(format.stderr)
  const address = `127.0.0.1:${await freePort()}`
  const child = spawn(binary, ["start", `--addresses=${address}`, file], { stdio: ["ignore", "pipe", "pipe"] })
  let log = ""
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4096)
  }
  child.stdout.on("data", append)
  child.stderr.on("data", append)
  const deadline = Date.now() + 60_000
  while (!log.includes("listening on")) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`replica did not start: ${log}`)
    await sleep(100)
  }
  return {
    clusterId: 1n,
    addresses: [address],
    replicas: [{ pid: child.pid! }],
    stop: async () => {
      child.kill("SIGTERM")
      await sleep(500)
      if (child.exitCode === null) child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

const seconds = Number(process.argv[2] ?? 3)
const sizes = (process.argv[3] ?? "2,8,20,40,80,160,240").split(",").map(Number)

const transfer = (fields: Partial<Transfer>): Transfer => ({ ...emptyTransfer, id: id(), ledger: 1, code: 1, ...fields })

const cluster = process.env["TB_PRODUCTION"] === "1" ? await startProduction() : await startTigerBeetle()
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
