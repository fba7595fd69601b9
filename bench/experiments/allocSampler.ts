/**
 * EXPERIMENT: what the node allocates per forwarded packet, by allocation site. A preload for the
 * bench's node (or any Node server that takes ILP-over-HTTP POSTs):
 *
 *   ALLOC_PROF_DIR=/tmp/alloc node bench/run.ts --modes forward --rounds 1 --duration 15000 \
 *     --node-flags "--max-semi-space-size=8 --heap-growing-percent=50 --import ./bench/experiments/allocSampler.ts"
 *
 * It counts the process's `POST /` and `POST /ilp` requests (`node:http`'s, and the lean listener's
 * answers); at request `ALLOC_START` (default
 * 20 000: after the bench's warm-up) it starts V8's sampling heap profiler with the objects that
 * the minor and major GCs collected included (so every allocation counts, not only what is still
 * live), and at request `ALLOC_START + ALLOC_PACKETS` (default 40 000 more) it stops and writes
 * `alloc-<pid>.heapprofile` (Chrome DevTools format) and `alloc-<pid>.json` (packets, the GCs of the
 * window by kind with their pauses, heap used) into `$ALLOC_PROF_DIR` (default: the OS temp dir).
 * Read them with `node bench/experiments/allocReport.ts DIR/alloc-<pid>.heapprofile`.
 *
 * `ALLOC_START=0` starts at load (start-up included) and `ALLOC_PACKETS=0` stops at the process's
 * exit: both together profile the node's whole life (then compare nodes that handled the same
 * packets, or divide by each one's `packets` in the `.json`).
 *
 * `ALLOC_MINOR=0` leaves out the objects scavenges collected: what is left was promoted (what brings
 * the mark-compacts). Still in it: what a mark-compact collected while it was young, and the young
 * garbage not yet collected when the profile is read; `ALLOC_SETTLE=1` with `--expose-gc` runs two
 * scavenges before reading it, which removes the latter.
 *
 * `ALLOC_INTERVAL` (bytes, default 16 384) is the profiler's mean sampling interval; V8 scales each
 * sample to an estimate of the bytes allocated at its site, so the totals are estimates (a few %).
 * Measurement only; never loaded by the node itself.
 */
import { EventEmitter } from "node:events"
import { writeFileSync } from "node:fs"
import http from "node:http"
import { Socket } from "node:net"
import { Session } from "node:inspector"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { getHeapStatistics } from "node:v8"

const dir = process.env["ALLOC_PROF_DIR"] ?? tmpdir()
const start = Number(process.env["ALLOC_START"] ?? 20_000)
const packets = Number(process.env["ALLOC_PACKETS"] ?? 40_000)
const interval = Number(process.env["ALLOC_INTERVAL"] ?? 16_384)

const kinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
}

let seen = 0
let phase: "before" | "sampling" | "done" = "before"
let startedAt = 0
let cpuAtStart = process.cpuUsage()
const gcs: Record<string, { count: number; ms: number; over2: number; over5: number; max: number }> = {}

const observer = new PerformanceObserver((list) => {
  if (phase !== "sampling") return
  for (const entry of list.getEntries()) {
    const kind = kinds[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? "other"
    const row = (gcs[kind] ??= { count: 0, ms: 0, over2: 0, over5: 0, max: 0 })
    row.count++
    row.ms += entry.duration
    row.max = Math.max(row.max, entry.duration)
    if (entry.duration > 2) row.over2++
    if (entry.duration > 5) row.over5++
  }
})
observer.observe({ entryTypes: ["gc"] })

const session = new Session()
session.connect()

const begin = () => {
  phase = "sampling"
  startedAt = performance.now()
  cpuAtStart = process.cpuUsage()
  session.post("HeapProfiler.startSampling", {
    samplingInterval: interval,
    includeObjectsCollectedByMajorGC: true,
    // ALLOC_MINOR=0: leave out what scavenges collected, so the profile is what survived them (was
    // promoted, then died in a mark-compact or is still live): what fills the old generation.
    includeObjectsCollectedByMinorGC: process.env["ALLOC_MINOR"] !== "0"
  })
}

/** `ALLOC_PACKETS=0`: sample until the process exits. */
const untilExit = packets <= 0
/** Packets counted inside the window (all of them once it ended). */
const windowPackets = () => untilExit ? seen - Math.max(start, 1) + 1 : packets

const end = () => {
  if (phase !== "sampling") return
  phase = "done"
  const cpu = process.cpuUsage(cpuAtStart)
  const ms = performance.now() - startedAt
  // ALLOC_SETTLE=1 (needs `--expose-gc`): two synchronous scavenges before the profile is read, so
  // the young objects that are already garbage (not yet collected, hence still "live" to the
  // profiler) leave it; with ALLOC_MINOR=0 what is left was promoted or is really live.
  const gc = (globalThis as { gc?: (options: { type: string; execution: string }) => void }).gc
  if (process.env["ALLOC_SETTLE"] === "1" && gc !== undefined) {
    gc({ type: "minor", execution: "sync" })
    gc({ type: "minor", execution: "sync" })
  }
  session.post("HeapProfiler.getSamplingProfile", (error, result) => {
    if (error !== null) {
      process.stderr.write(`allocSampler: ${error.message}\n`)
      return
    }
    session.post("HeapProfiler.stopSampling")
    try {
      writeFileSync(join(dir, `alloc-${process.pid}.heapprofile`), JSON.stringify(result.profile))
      writeFileSync(
        join(dir, `alloc-${process.pid}.json`),
        JSON.stringify({
          packets: windowPackets(),
          ms,
          cpuUsPerPacket: (cpu.user + cpu.system) / windowPackets(),
          gcs,
          heapUsedMiB: getHeapStatistics().used_heap_size / 2 ** 20
        })
      )
    } catch (cause) {
      process.stderr.write(`allocSampler: ${String(cause)}\n`)
    }
  })
}

const count = () => {
  seen++
  if (seen === start) begin()
  else if (!untilExit && seen === start + packets) end()
}

// The lean ILP-over-HTTP listener (src/Http/IlpConnection.ts) answers without `node:http`: its
// answers are counted where they are written (one write, head and body, in exactly this casing;
// `node:http` writes the handler's head in lower case, so nothing is counted twice).
const fastPathAnswer = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n", "latin1")
const write = Socket.prototype.write
Socket.prototype.write = function(this: Socket, chunk: unknown, ...rest: Array<unknown>) {
  if (phase !== "done" && chunk instanceof Uint8Array && chunk.length > fastPathAnswer.length && Buffer.compare(chunk.subarray(0, fastPathAnswer.length), fastPathAnswer) === 0) count()
  return (write as (...args: Array<unknown>) => boolean).call(this, chunk, ...rest)
} as typeof Socket.prototype.write

const emit = EventEmitter.prototype.emit
http.Server.prototype.emit = function(this: http.Server, event: string | symbol, ...args: Array<unknown>) {
  if (event === "request" && phase !== "done") {
    const request = args[0] as http.IncomingMessage
    if (request.method === "POST" && (request.url === "/" || request.url === "/ilp")) count()
  }
  return emit.call(this, event, ...args)
} as typeof http.Server.prototype.emit

if (start <= 0) begin()
if (untilExit) process.on("exit", end)
