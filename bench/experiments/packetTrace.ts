/**
 * Preload that timestamps every packet at each socket it crosses, for finding where the slowest
 * 1 % wait (docs/performance/hot-path.md, "The forwarding p99 tail"). Loaded into EVERY bench
 * process (load generator, node, raw-socket forwarder, peer) through the environment:
 *
 *   BENCH_TRACE_DIR=/tmp/trace NODE_OPTIONS="--import=$PWD/bench/experiments/packetTrace.ts" \
 *     node bench/run.ts --modes raw-socket,forward ...
 *   node bench/experiments/tailReport.ts /tmp/trace
 *
 * Without `BENCH_TRACE_DIR` it does nothing (and the bench never loads it by itself). Each process
 * writes `<dir>/<pid>-<script>.trace.json` when it exits. Timestamps are epoch ms with sub-ms
 * precision (`performance.timeOrigin + performance.now()`), comparable across processes.
 *
 * Per TCP socket (pipes are ignored):
 * - an accepted socket (`socket.server` set): `in` = first `data` of a request (the packet's key is
 *   the last 32 bytes of the request: a bench Prepare's data, its fulfillment), `out` = the first
 *   write after it (the answer);
 * - a connected socket: `send` = a write (keyed the same way: the body ends with the Prepare's
 *   data), `reply` = the first `data` after it.
 * Besides: every event-loop iteration while busy (a check-phase marker re-armed on activity:
 * `turn` times), every `setImmediate` callback's duration (Effect's scheduler runs its fibers in
 * one), the embedded ledger's batches (`BEGIN IMMEDIATE` and `COMMIT` run times, and how many
 * transfer rows each wrote), GC pauses (start, duration), and `monitorEventLoopDelay`.
 * In a TigerBeetle node: every `create_transfers` request its client sends (sent, answered, events,
 * and how many of them are reserves / posts / voids), wrapped around `tigerbeetle-node`'s
 * `createClient` before the node imports it.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import { Socket } from "node:net"
import { basename, join } from "node:path"
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"

const dir = process.env["BENCH_TRACE_DIR"]

class Series {
  data = new Float64Array(1 << 16)
  length = 0
  push(...values: Array<number>): void {
    if (this.length + values.length > this.data.length) {
      const grown = new Float64Array(this.data.length * 2)
      grown.set(this.data)
      this.data = grown
    }
    for (const value of values) this.data[this.length++] = value
  }
  toJSON(): Array<number> {
    return Array.from(this.data.subarray(0, this.length))
  }
}

if (dir !== undefined && dir !== "") {
  const origin = performance.timeOrigin
  const now = () => origin + performance.now()
  // Loop iterations: a check-phase marker, armed by the first traced event after the last one ran.
  let turn = 0
  let armed = false
  const turns = new Series() // time of each marker
  const originalSetImmediate = globalThis.setImmediate
  const marker = () => {
    armed = false
    turn++
    turns.push(now())
  }
  const arm = () => {
    if (armed) return
    armed = true
    originalSetImmediate(marker)
  }
  // [key, time, turn, socket id]
  const serverIn = new Series()
  const serverOut = new Series()
  const clientSend = new Series()
  const clientReply = new Series()
  let socketIds = 0
  type Traced = Socket & { __traceId?: number; __traceKey?: number; __traceOpen?: boolean }
  const keyOf = (bytes: Uint8Array): number => {
    if (bytes.length < 32) return -1
    const at = bytes.length - 32
    // 48 bits of the fulfillment: unique among a run's 20 000 distinct packets.
    return bytes[at]! * 2 ** 40 + bytes[at + 1]! * 2 ** 32 + bytes[at + 2]! * 2 ** 24 + bytes[at + 3]! * 2 ** 16 +
      bytes[at + 4]! * 2 ** 8 + bytes[at + 5]!
  }
  const idOf = (socket: Traced): number => (socket.__traceId ??= ++socketIds)
  const isTcp = (socket: Traced): boolean => socket.remotePort !== undefined
  const accepted = (socket: Traced): boolean => (socket as unknown as { server?: unknown }).server != null

  const originalEmit = Socket.prototype.emit
  Socket.prototype.emit = function(this: Traced, event: string | symbol, ...args: Array<unknown>) {
    if (event === "data" && isTcp(this)) {
      const t = now()
      arm()
      if (accepted(this)) {
        if (this.__traceOpen !== true) {
          this.__traceOpen = true
          this.__traceKey = keyOf(args[0] as Uint8Array)
          serverIn.push(this.__traceKey, t, turn, idOf(this))
        }
      } else if (this.__traceOpen === true) {
        this.__traceOpen = false
        clientReply.push(this.__traceKey ?? -1, t, turn, idOf(this))
      }
    }
    return (originalEmit as (...all: Array<unknown>) => boolean).call(this, event, ...args)
  } as typeof Socket.prototype.emit

  // `node:http` servers (the peer, the raw-socket forwarder) read their sockets in C++ (llhttp
  // consumes the handle): no `data` event. The request's arrival is its `request` event, and its
  // key comes with the body's first chunk.
  const originalServerEmit = http.Server.prototype.emit
  http.Server.prototype.emit = function(this: http.Server, event: string | symbol, ...args: Array<unknown>) {
    if (event === "request") {
      const socket = (args[0] as http.IncomingMessage).socket as Traced & { __traceArrived?: Array<number> }
      arm()
      socket.__traceArrived = [now(), turn]
    }
    return (originalServerEmit as (...all: Array<unknown>) => boolean).call(this, event, ...args)
  } as typeof http.Server.prototype.emit
  const originalPush = http.IncomingMessage.prototype.push
  http.IncomingMessage.prototype.push = function(this: http.IncomingMessage, chunk: unknown, ...rest: Array<unknown>) {
    const socket = this.socket as (Traced & { __traceArrived?: Array<number> }) | null
    const arrived = socket?.__traceArrived
    if (socket != null && arrived !== undefined && chunk instanceof Uint8Array && socket.__traceOpen !== true) {
      socket.__traceOpen = true
      socket.__traceKey = keyOf(chunk)
      serverIn.push(socket.__traceKey, arrived[0]!, arrived[1]!, idOf(socket))
      socket.__traceArrived = undefined
    }
    return (originalPush as (...all: Array<unknown>) => boolean).call(this, chunk, ...rest)
  } as typeof http.IncomingMessage.prototype.push

  const originalWrite = Socket.prototype.write
  Socket.prototype.write = function(this: Traced, chunk: unknown, ...rest: Array<unknown>) {
    if (isTcp(this) && typeof chunk !== "string") {
      const t = now()
      arm()
      if (accepted(this)) {
        if (this.__traceOpen === true) {
          this.__traceOpen = false
          serverOut.push(this.__traceKey ?? -1, t, turn, idOf(this))
        }
      } else if ((chunk as Uint8Array).length >= 32) {
        // undici writes the head, then the body: the body (the Prepare) is the one that keys it.
        const key = keyOf(chunk as Uint8Array)
        if (this.__traceOpen === true) clientSend.data[clientSend.length - 4] = key
        else {
          this.__traceOpen = true
          clientSend.push(key, t, turn, idOf(this))
        }
        this.__traceKey = key
      }
    }
    return (originalWrite as (...args: Array<unknown>) => boolean).call(this, chunk, ...rest)
  } as typeof Socket.prototype.write

  // This thread's time on CPU and waiting for one (ns, from the scheduler): what a long callback
  // spent running, waiting to run (the machine's other processes), or neither (blocked: I/O).
  const schedstat = (): [number, number] => {
    try {
      const fields = readFileSync("/proc/thread-self/schedstat", "latin1").split(" ")
      return [Number(fields[0]) / 1e6, Number(fields[1]) / 1e6]
    } catch {
      return [NaN, NaN]
    }
  }
  // setImmediate callbacks: [start, duration, ms on CPU, ms waiting for a CPU]
  const immediates = new Series()
  // Not in the load generator: undici schedules hundreds of thousands of them, and wrapping each
  // would slow the very process that measures latency.
  if (!(process.argv[1] ?? "").endsWith("loadgen.ts")) globalThis.setImmediate = Object.assign(function(callback: (...args: Array<unknown>) => void, ...args: Array<unknown>) {
    return originalSetImmediate(() => {
      const t = now()
      const [cpu, wait] = schedstat()
      try {
        callback(...args)
      } finally {
        const [cpuAfter, waitAfter] = schedstat()
        immediates.push(t, now() - t, cpuAfter - cpu, waitAfter - wait)
      }
    })
  }, { __promisify__: (originalSetImmediate as unknown as { __promisify__: unknown }).__promisify__ }) as unknown as typeof setImmediate

  // GC pauses: [start, duration, kind]
  const gcs = new Series()
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcs.push(origin + entry.startTime, entry.duration, ((entry as { detail?: { kind?: number } }).detail)?.kind ?? 0)
    }
  }).observe({ entryTypes: ["gc"] })

  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()

  // The embedded ledger's batches: [begin, commit end, transfer rows inserted, transfer rows updated,
  // ms on CPU, ms waiting for a CPU]
  const batches = new Series()
  let batchBegin = 0
  let batchSched: [number, number] = [0, 0]
  // The ledger's own WAL checkpoints (LedgerSqliteCheckpoints.ts): [start, end, ms on CPU, ms waiting for a CPU]
  const checkpoints = new Series()
  let batchInserts = 0
  let batchUpdates = 0
  const sqlite = await import("node:sqlite").catch(() => undefined)
  if (sqlite !== undefined) {
    const originalPrepare = sqlite.DatabaseSync.prototype.prepare
    sqlite.DatabaseSync.prototype.prepare = function(this: InstanceType<typeof sqlite.DatabaseSync>, sql: string) {
      const statement = originalPrepare.call(this, sql)
      const text = sql.trim().toUpperCase()
      const kind = text === "BEGIN IMMEDIATE" ? "begin" : text === "COMMIT" ? "commit" :
        text.startsWith("INSERT INTO TRANSFERS") ? "insert" : text.startsWith("UPDATE TRANSFERS") ? "update" :
        text.startsWith("PRAGMA WAL_CHECKPOINT") ? "checkpoint" : undefined
      if (kind !== undefined) {
        if (kind === "checkpoint") {
          const get = statement.get
          statement.get = function(this: typeof statement, ...args: Array<never>) {
            const t = now()
            const before = schedstat()
            const result = (get as (...all: Array<unknown>) => unknown).apply(this, args)
            const after = schedstat()
            checkpoints.push(t, now(), after[0] - before[0], after[1] - before[1])
            return result
          } as typeof statement.get
          return statement
        }
        const run = statement.run
        statement.run = function(this: typeof statement, ...args: Array<never>) {
          if (kind === "begin") {
            batchBegin = now()
            batchSched = schedstat()
            batchInserts = 0
            batchUpdates = 0
          } else if (kind === "insert") batchInserts++
          else if (kind === "update") batchUpdates++
          const result = (run as (...all: Array<unknown>) => unknown).apply(this, args)
          if (kind === "commit") {
            const [cpu, wait] = schedstat()
            batches.push(batchBegin, now(), batchInserts, batchUpdates, cpu - batchSched[0], wait - batchSched[1])
          }
          return result
        } as typeof statement.run
      }
      return statement
    } as typeof originalPrepare
  }

  // A TigerBeetle node's requests: [sent, answered (NaN: failed), events, pending, post, void,
  // the replica's ms on a CPU and waiting for one during the round trip (NaN: not found)].
  // The replica: the `tigerbeetle start` process listening on the node's TIGERBEETLE_ADDRESSES.
  const replicaStat = (() => {
    const address = process.env["TIGERBEETLE_ADDRESSES"]
    if (address === undefined) return () => [NaN, NaN] as [number, number]
    let file: string | undefined
    try {
      for (const pid of readdirSync("/proc")) {
        if (!/^\d+$/.test(pid)) continue
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0")
          if (cmdline.some((arg) => arg.endsWith("tigerbeetle")) && cmdline.includes("start") &&
            cmdline.some((arg) => arg === `--addresses=${address}`)) file = `/proc/${pid}/schedstat`
        } catch {
          // gone
        }
      }
    } catch {
      // no /proc
    }
    return (): [number, number] => {
      if (file === undefined) return [NaN, NaN]
      try {
        const fields = readFileSync(file, "latin1").split(" ")
        return [Number(fields[0]) / 1e6, Number(fields[1]) / 1e6]
      } catch {
        return [NaN, NaN]
      }
    }
  })()
  // The node imports `tigerbeetle-node` (CommonJS) after this preload ran: its ESM namespace is
  // built from the `module.exports` patched here.
  const tbRequests = new Series()
  if ((process.argv[1] ?? "").endsWith("main.ts")) {
    try {
      const tb = createRequire(process.argv[1]!)("tigerbeetle-node") as {
        createClient: (...args: Array<unknown>) => { createTransfers: (batch: Array<{ flags: number }>) => Promise<unknown> }
      }
      const originalCreate = tb.createClient
      tb.createClient = (...args) => {
        const client = originalCreate(...args)
        const originalTransfers = client.createTransfers.bind(client)
        client.createTransfers = (batch) => {
          const t = now()
          const [cpu, wait] = replicaStat()
          let pending = 0
          let post = 0
          let voided = 0
          for (const event of batch) {
            if ((event.flags & 2) !== 0) pending++
            if ((event.flags & 4) !== 0) post++
            if ((event.flags & 8) !== 0) voided++
          }
          const request = originalTransfers(batch)
          const settled = (ok: boolean) => {
            const end = now()
            const [cpuAfter, waitAfter] = replicaStat()
            tbRequests.push(t, ok ? end : NaN, batch.length, pending, post, voided, cpuAfter - cpu, waitAfter - wait)
          }
          request.then(() => settled(true), () => settled(false))
          return request
        }
        return client
      }
    } catch {
      // not a TigerBeetle checkout
    }
  }

  // The load generator's own view of each request (bench/loadgen.ts): [key, sent, answered, port].
  const requests = new Series()
  ;(globalThis as { __benchTrace?: unknown }).__benchTrace = (packet: Uint8Array, sentAt: number, doneAt: number, port: number) => {
    requests.push(keyOf(packet), origin + sentAt, origin + doneAt, port)
  }

  let written = false
  const write = () => {
    if (written || (serverIn.length === 0 && clientSend.length === 0)) return
    written = true
    delay.disable()
    const file = join(dir, `${process.pid}-${basename(process.argv[1] ?? "node")}.trace.json`)
    writeFileSync(file, JSON.stringify({
      pid: process.pid,
      script: process.argv[1],
      serverIn,
      serverOut,
      clientSend,
      clientReply,
      turns,
      immediates,
      gcs,
      batches,
      checkpoints,
      requests,
      tbRequests,
      loopDelay: {
        p50: delay.percentile(50) / 1e6,
        p90: delay.percentile(90) / 1e6,
        p99: delay.percentile(99) / 1e6,
        max: delay.max / 1e6,
        mean: delay.mean / 1e6
      }
    }))
  }
  process.on("exit", write)
  // The bench stops its children with SIGTERM; one without a handler of its own (the load
  // generator) would die without `exit`: write, then exit as SIGTERM would have.
  process.on("SIGTERM", () => {
    write()
    if (process.listenerCount("SIGTERM") === 1) process.exit(143)
  })
}
