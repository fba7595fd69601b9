/**
 * A real, throwaway TigerBeetle cluster for tests: one replica (or three, for failover), each on a
 * free 127.0.0.1 port, a random cluster id, data files in a fresh temp dir that `stop` removes.
 *
 * The server binary is `TIGERBEETLE_BIN` if set, else `../shared/tigerbeetle/tigerbeetle` from the
 * project root (CI has it). When neither exists, `tigerBeetleBinary()` is undefined and the suites
 * that need it skip with one loud line (`skipWithoutTigerBeetle`).
 *
 * Bounds: a replica is about 1.4 GiB resident and a ~1.06 GiB data file (`--development`): start one
 * cluster per test file, never per test. Readiness waits (log line, then a client round trip) are
 * polled against `readyTimeoutMs`, generous because a busy 2-core machine takes 10–20 s to open one.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { createClient, type Transfer } from "tigerbeetle-node"
import { freePort } from "./ports.ts"
import { exited, waitForExit } from "./child.ts"
import { forgetDir, reapChild, removeOnDeath } from "./reaper.ts"

const readyTimeoutMs = 120_000
const pollIntervalMs = 100
const probeTimeoutMs = 5_000
const stopTimeoutMs = 5_000
const outputBytesMax = 16_384

/** The TigerBeetle server binary, or undefined when none can be found. */
/** A transfer with every field zero: spread it and name the fields a test or an experiment sets. */
export const emptyTransfer: Transfer = {
  id: 0n,
  debit_account_id: 0n,
  credit_account_id: 0n,
  amount: 0n,
  pending_id: 0n,
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  timeout: 0,
  ledger: 0,
  code: 0,
  flags: 0,
  timestamp: 0n
}

export const tigerBeetleBinary = (): string | undefined => {
  const fromEnv = process.env["TIGERBEETLE_BIN"]
  if (fromEnv !== undefined && fromEnv !== "") return existsSync(fromEnv) ? fromEnv : undefined
  const shared = resolve(import.meta.dirname, "../../../shared/tigerbeetle/tigerbeetle")
  return existsSync(shared) ? shared : undefined
}

/** Prints the one loud line a skipped TigerBeetle suite leaves in the output. */
export const announceSkip = (what: string): void => {
  console.warn(
    `\n*** SKIPPED: ${what}: no TigerBeetle server binary (set TIGERBEETLE_BIN or put it at ../shared/tigerbeetle/tigerbeetle) ***\n`
  )
}

export interface Replica {
  readonly index: number
  readonly address: string
  readonly pid: number
  /** Sends `signal` (default SIGKILL) to this replica and waits until it has exited. */
  readonly kill: (signal?: NodeJS.Signals) => Promise<void>
}

export interface TigerBeetleCluster {
  readonly clusterId: bigint
  /** `127.0.0.1:<port>` of every replica, in replica order (the client's `replica_addresses`). */
  readonly addresses: ReadonlyArray<string>
  readonly replicas: ReadonlyArray<Replica>
  /** Stops every replica still running (SIGTERM, then SIGKILL) and removes the data dir; idempotent. */
  readonly stop: () => Promise<void>
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

const terminate = async (child: ChildProcess, signal: NodeJS.Signals): Promise<void> => {
  if (exited(child)) return
  child.kill(signal)
  if (await waitForExit(child, stopTimeoutMs)) return
  child.kill("SIGKILL")
  await waitForExit(child, stopTimeoutMs)
}

/** One client round trip (a lookup of an id that does not exist), bounded by `probeTimeoutMs`. */
const answers = async (clusterId: bigint, addresses: ReadonlyArray<string>): Promise<boolean> => {
  const client = createClient({ cluster_id: clusterId, replica_addresses: [...addresses] })
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      client.lookupAccounts([1n]).then(() => true, () => false),
      new Promise<boolean>((done) => {
        timer = setTimeout(() => done(false), probeTimeoutMs)
      })
    ])
  } finally {
    clearTimeout(timer)
    client.destroy()
  }
}

/**
 * Formats and starts a cluster of `replicaCount` replicas (1 or 3) and resolves once a client
 * request succeeds. Rejects (after stopping what it started) if it is not ready in time.
 */
export const startTigerBeetle = async (options: { readonly replicaCount?: 1 | 3 } = {}): Promise<TigerBeetleCluster> => {
  const binary = tigerBeetleBinary()
  if (binary === undefined) throw new Error("no TigerBeetle binary: set TIGERBEETLE_BIN")
  const replicaCount = options.replicaCount ?? 1
  // A random cluster id: replicas of a cluster that lost one keep dialling its port, which another
  // test file's cluster may take next; with distinct ids they refuse each other's messages.
  const clusterId = BigInt(`0x${randomBytes(8).toString("hex")}`) | 1n
  const dir = mkdtempSync(join(tmpdir(), "tigerbeetle-test-"))
  removeOnDeath(dir)
  const ports: Array<number> = []
  while (ports.length < replicaCount) {
    const port = await freePort()
    if (!ports.includes(port)) ports.push(port)
  }
  const addresses = ports.map((port) => `127.0.0.1:${port}`)
  const children: Array<ChildProcess> = []
  const outputs: Array<string> = []
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await Promise.all(children.map((child) => terminate(child, "SIGTERM")))
    rmSync(dir, { recursive: true, force: true })
    forgetDir(dir)
  }
  try {
    for (let replica = 0; replica < replicaCount; replica++) {
      const file = join(dir, `${clusterId}_${replica}.tigerbeetle`)
      const format = spawnSync(binary, [
        "format",
        `--cluster=${clusterId}`,
        `--replica=${replica}`,
        `--replica-count=${replicaCount}`,
        "--development",
        file
      ], { encoding: "utf8" })
      if (format.status !== 0) throw new Error(`tigerbeetle format failed: ${format.stderr.slice(-outputBytesMax)}`)
    }
    for (let replica = 0; replica < replicaCount; replica++) {
      const child = spawn(binary, [
        "start",
        `--addresses=${addresses.join(",")}`,
        "--development",
        join(dir, `${clusterId}_${replica}.tigerbeetle`)
      ], { stdio: ["ignore", "pipe", "pipe"] })
      reapChild(child)
      outputs.push("")
      const append = (chunk: Buffer) => {
        outputs[replica] = (outputs[replica] + chunk.toString()).slice(-outputBytesMax)
      }
      child.stdout?.on("data", append)
      child.stderr?.on("data", append)
      children.push(child)
    }
    const deadline = Date.now() + readyTimeoutMs
    const listening = () => outputs.every((output) => output.includes("listening on"))
    while (!listening()) {
      const dead = children.findIndex(exited)
      if (dead >= 0) throw new Error(`tigerbeetle replica ${dead} exited: ${outputs[dead]}`)
      if (Date.now() > deadline) throw new Error(`tigerbeetle did not listen within ${readyTimeoutMs} ms`)
      await sleep(pollIntervalMs)
    }
    while (!(await answers(clusterId, addresses))) {
      if (Date.now() > deadline) throw new Error(`tigerbeetle did not answer within ${readyTimeoutMs} ms`)
      await sleep(pollIntervalMs)
    }
  } catch (error) {
    await stop()
    throw error
  }
  const replicas: Array<Replica> = children.map((child, index) => ({
    index,
    address: addresses[index]!,
    pid: child.pid ?? -1,
    kill: (signal = "SIGKILL") => terminate(child, signal)
  }))
  return { clusterId, addresses, replicas, stop }
}
