/**
 * Shared pieces of the benchmark: free ports, child-process plumbing, the tiny OER reads the
 * fulfilling peer needs, and the statistics.
 *
 * Everything here is deliberately minimal: the peer, the raw forwarder and the load generator are
 * the yardstick, so the less work they do per packet the more of the measured time is the node's.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

/** A port that was free a moment ago (bind 127.0.0.1:0, read it, close). */
export { freePort, freePorts } from "../test/support/ports.ts"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// Child processes: every child is registered and killed when the orchestrator exits or fails
// ---------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>()
const outputBytesMax = 8_192

export interface Child {
  readonly process: ChildProcess
  readonly pid: number
  /** The last `outputBytesMax` characters the child wrote, for error messages. */
  readonly output: () => string
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
  readonly stop: (graceMs?: number) => Promise<void>
}

const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

export const waitForExit = (child: ChildProcess, timeoutMs: number): Promise<boolean> =>
  exited(child) ? Promise.resolve(true) : new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

export const track = (child: ChildProcess): Child => {
  children.add(child)
  let output = ""
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-outputBytesMax)
  }
  child.stdout?.on("data", append)
  child.stderr?.on("data", append)
  child.once("exit", () => children.delete(child))
  if (child.pid === undefined) throw new Error("child process did not start")
  return {
    process: child,
    pid: child.pid,
    output: () => output,
    stop: async (graceMs = 10_000) => {
      if (exited(child)) return
      child.kill("SIGTERM")
      if (!(await waitForExit(child, graceMs))) {
        child.kill("SIGKILL")
        await waitForExit(child, 2_000)
      }
    }
  }
}

/** Kills every child still running (synchronously: also safe in an `exit` handler). */
export const killAll = (): void => {
  for (const child of children) {
    if (!exited(child)) child.kill("SIGKILL")
  }
}

/** Spawns `node <script> ...args` (the same Node binary as ours) and waits for its `{"port":N}` line. */
export const startServerProcess = async (
  script: string,
  args: ReadonlyArray<string>,
  timeoutMs = 15_000
): Promise<Child & { readonly port: number }> => {
  const child = track(spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] }))
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = ""
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${child.output()}`)), timeoutMs)
    child.process.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString()
      const match = /\{"port":(\d+)\}/.exec(buffered)
      if (match !== null) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    child.process.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited with ${code}:\n${child.output()}`))
    })
  })
  return { ...child, port }
}

// ---------------------------------------------------------------------------------------------
// /proc readings (Linux): resident memory of a process
// ---------------------------------------------------------------------------------------------

/** `VmHWM` (peak resident set) and `VmRSS` of a process in MiB, or undefined off Linux. */
export const memoryOf = (pid: number): { readonly peakRssMiB: number; readonly rssMiB: number } | undefined => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN)
    return { peakRssMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024 }
  } catch {
    return undefined
  }
}

/** CPU time (user + system) a process has used so far, in ms, or undefined off Linux. */
export const cpuMsOf = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may contain spaces): state is field 3; utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond
  } catch {
    return undefined
  }
}

/** USER_HZ: 100 on every mainstream Linux build. */
const clockTicksPerSecond = 100

/** CPU ms of a process's threads by kind, so far. */
export interface ThreadCpuMs {
  /** The main (JavaScript) thread: its thread id is the process id. */
  readonly main: number
  /** V8's worker threads (`V8Worker`): concurrent marking, parallel scavenges, background compilation. */
  readonly v8Workers: number
  /** Every other thread (libuv's pool, the TigerBeetle client's I/O thread, the inspector's, ...). */
  readonly other: number
}

/** Every thread's CPU time (user + system) from `/proc/<pid>/task/<tid>/stat`, or undefined off Linux. */
export const threadCpuMsOf = (pid: number): ThreadCpuMs | undefined => {
  let tids: Array<string>
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  let main = 0
  let v8Workers = 0
  let other = 0
  for (const tid of tids) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
    } catch {
      continue // the thread ended since the listing
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond
    if (tid === String(pid)) main += ms
    else if (comm === "V8Worker") v8Workers += ms
    else other += ms
  }
  return { main, v8Workers, other }
}

// ---------------------------------------------------------------------------------------------
// OER reads for the fulfilling peer
// ---------------------------------------------------------------------------------------------

/** A canonical OER length prefix at `offset`: [length, bytes used], or undefined. */
export const readLength = (bytes: Uint8Array, offset: number): readonly [number, number] | undefined => {
  const first = bytes[offset]
  if (first === undefined) return undefined
  if (first < 0x80) return [first, 1]
  const count = first & 0x7f
  if (count < 1 || count > 3 || offset + 1 + count > bytes.length) return undefined
  let length = 0
  for (let i = 1; i <= count; i++) length = length * 256 + bytes[offset + i]!
  return [length, 1 + count]
}

/** The `data` field of an ILP Prepare (RFC 27), or undefined if the bytes are not one. */
export const prepareData = (bytes: Uint8Array): Uint8Array | undefined => {
  if (bytes[0] !== 12) return undefined
  const envelope = readLength(bytes, 1)
  if (envelope === undefined) return undefined
  // amount (u64, 8) + expiresAt (17-character timestamp) + executionCondition (32)
  let offset = 1 + envelope[1] + 8 + 17 + 32
  const destination = readLength(bytes, offset)
  if (destination === undefined) return undefined
  offset += destination[1] + destination[0]
  const data = readLength(bytes, offset)
  if (data === undefined) return undefined
  offset += data[1]
  return offset + data[0] <= bytes.length ? bytes.subarray(offset, offset + data[0]) : undefined
}

/** An ILP Fulfill with this 32-byte fulfillment and empty data. */
export const fulfillWith = (fulfillment: Uint8Array): Buffer => {
  const reply = Buffer.alloc(2 + 32 + 1)
  reply[0] = 13
  reply[1] = 33
  reply.set(fulfillment.subarray(0, 32), 2)
  reply[34] = 0
  return reply
}

/** The code of an ILP Reject (3 ASCII characters), or undefined. */
export const rejectCode = (bytes: Uint8Array): string | undefined => {
  if (bytes[0] !== 14) return undefined
  const envelope = readLength(bytes, 1)
  if (envelope === undefined) return undefined
  const at = 1 + envelope[1]
  return Buffer.from(bytes.subarray(at, at + 3)).toString("ascii")
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The q-quantile (0..1) of the first `count` values, nearest-rank. Sorts that prefix in place. */
export const quantiles = (values: Float64Array, count: number, qs: ReadonlyArray<number>): Array<number> => {
  if (count === 0) return qs.map(() => NaN)
  const sorted = values.subarray(0, count).sort()
  return qs.map((q) => sorted[Math.min(count - 1, Math.max(0, Math.ceil(q * count) - 1))]!)
}
