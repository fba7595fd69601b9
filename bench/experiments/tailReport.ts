/**
 * Reads the files `packetTrace.ts` wrote for one bench sitting and says where the slowest 1 % of
 * packets waited, against the median ones, for every forwarder that carried the load generator's
 * packets (the node, the raw-socket null forwarder).
 *
 * Usage: node bench/experiments/tailReport.ts DIR [--skip-ms 0]
 *
 * Per packet (times from the load generator's, the forwarder's and the peer's traces, matched by the
 * packet's key and time):
 *   send→in    load generator's `pool.request` → the forwarder's first `data` of the request
 *   in→peer    → the forwarder's write to the peer (node: decode … ledger reserve batch …)
 *   peer       → the peer's answer read back (the peer's own in→out inside)
 *   reply→out  → the forwarder's answer written (node: fulfillment check, post batch)
 *   out→done   → the load generator's promise resolved
 * and, in the forwarder: loop iterations in in→peer and reply→out, ledger batches committed in each,
 * the wait before the last of those batches began, GC pause time overlapping the packet; in a
 * TigerBeetle node, the cluster requests answered during in→peer, the last of them (the packet's
 * reserve), how long after the packet's arrival it was sent, its round trip, and whether a request
 * was already in flight when the packet arrived; then the round trips over time (long ones, their
 * spacing).
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

interface Trace {
  readonly pid: number
  readonly script: string
  readonly serverIn: Array<number>
  readonly serverOut: Array<number>
  readonly clientSend: Array<number>
  readonly clientReply: Array<number>
  readonly turns: Array<number>
  readonly immediates: Array<number>
  readonly gcs: Array<number>
  readonly batches: Array<number>
  readonly checkpoints?: Array<number>
  readonly requests: Array<number>
  readonly tbRequests?: Array<number>
  readonly loopDelay: Record<string, number>
}

const dir = process.argv[2]
if (dir === undefined) {
  process.stderr.write("usage: node bench/experiments/tailReport.ts DIR [--skip-ms N]\n")
  process.exit(2)
}
const skipAt = process.argv.indexOf("--skip-ms")
const skipMs = skipAt > 0 ? Number(process.argv[skipAt + 1]) : 0

const traces: Array<Trace> = readdirSync(dir).filter((f) => f.endsWith(".trace.json")).map((f) =>
  JSON.parse(readFileSync(join(dir, f), "utf8")) as Trace
)
const named = (suffix: string) => traces.filter((t) => (t.script ?? "").endsWith(suffix))
const loadgen = named("loadgen.ts")[0]
const peer = named("peer.ts")[0]
const forwarders = [...named("main.ts"), ...named("rawSocketForwarder.ts")]
if (loadgen === undefined || peer === undefined) throw new Error("no load generator or peer trace in " + dir)

/** Rows of `width` numbers. */
const rows = (flat: Array<number>, width: number): Array<Array<number>> => {
  const out: Array<Array<number>> = []
  for (let i = 0; i + width <= flat.length; i += width) out.push(flat.slice(i, i + width))
  return out
}

interface Exchange {
  readonly key: number
  readonly start: number
  readonly startTurn: number
  readonly end: number
  readonly endTurn: number
}

/** Pairs each start with the next end on the same socket. */
const pair = (starts: Array<number>, ends: Array<number>): Array<Exchange> => {
  const endsBySocket = new Map<number, Array<Array<number>>>()
  for (const end of rows(ends, 4)) {
    const list = endsBySocket.get(end[3]!) ?? []
    list.push(end)
    endsBySocket.set(end[3]!, list)
  }
  const cursor = new Map<number, number>()
  const out: Array<Exchange> = []
  for (const start of rows(starts, 4)) {
    const list = endsBySocket.get(start[3]!) ?? []
    let at = cursor.get(start[3]!) ?? 0
    while (at < list.length && list[at]![1]! < start[1]!) at++
    cursor.set(start[3]!, at + 1)
    const end = list[at]
    if (end === undefined) continue
    out.push({ key: start[0]!, start: start[1]!, startTurn: start[2]!, end: end[1]!, endTurn: end[2]! })
  }
  return out
}

/** Finds, by key, the exchange whose start lies in [from, to]. */
const indexByKey = (exchanges: Array<Exchange>) => {
  const byKey = new Map<number, Array<Exchange>>()
  for (const exchange of exchanges) {
    const list = byKey.get(exchange.key) ?? []
    list.push(exchange)
    byKey.set(exchange.key, list)
  }
  return (key: number, from: number, to: number): Exchange | undefined =>
    byKey.get(key)?.find((e) => e.start >= from && e.start <= to)
}

const quantile = (values: Array<number>, q: number): number => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}
const mean = (values: Array<number>) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
const fmt = (value: number, digits = 2) => Number.isFinite(value) ? value.toFixed(digits) : "-"

const peerFind = indexByKey(pair(peer.serverIn, peer.serverOut))

for (const forwarder of forwarders) {
  const name = forwarder.script.endsWith("main.ts") ? `node ${forwarder.pid}` : "raw-socket forwarder"
  const inbound = pair(forwarder.serverIn, forwarder.serverOut)
  const outbound = pair(forwarder.clientSend, forwarder.clientReply)
  const findIn = indexByKey(inbound)
  const findOut = indexByKey(outbound)
  const batches = rows(forwarder.batches, 6)
  const gcs = rows(forwarder.gcs, 3)
  const first = forwarder.serverIn[1] ?? 0
  // [sent, answered, events, pending, post, void, replica ms on CPU, waiting for one], by answer time
  const tbAll = rows(forwarder.tbRequests ?? [], 8).filter((r) => Number.isFinite(r[1]!))
  tbAll.sort((a, b) => a[1]! - b[1]!)
  const tbAnswered = tbAll.map((r) => r[1]!)
  /** Index of the first request answered after `t`. */
  const tbAfter = (t: number) => {
    let lo = 0
    let hi = tbAnswered.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (tbAnswered[mid]! <= t) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  interface Packet {
    readonly latency: number
    readonly parts: Record<string, number>
  }
  const packets: Array<Packet> = []
  for (const [key, sent, done] of rows(loadgen.requests, 4) as Array<[number, number, number, number]>) {
    if (sent < first + skipMs) continue
    const inb = findIn(key, sent - 1, done)
    if (inb === undefined) continue
    const out = findOut(key, inb.start, inb.end)
    if (out === undefined) continue
    const at = peerFind(key, out.start - 1, out.end)
    const batchesIn = (from: number, to: number) => batches.filter((b) => b[1]! > from && b[1]! <= to)
    const reserveBatches = batchesIn(inb.start, out.start)
    const postBatches = batchesIn(out.end, inb.end)
    const lastReserve = reserveBatches.at(-1)
    const lastPost = postBatches.at(-1)
    const gcMs = gcs.reduce((sum, [start, duration]) => {
      const overlap = Math.min(start! + duration!, done) - Math.max(start!, sent)
      return sum + Math.max(0, overlap)
    }, 0)
    packets.push({
      latency: done - sent,
      parts: {
        "send→in": inb.start - sent,
        "in→peer": out.start - inb.start,
        "peer (network+peer)": out.end - out.start,
        "  of which peer in→out": at === undefined ? NaN : at.end - at.start,
        "reply→out": inb.end - out.end,
        "out→done": done - inb.end,
        "turns in→peer": out.startTurn - inb.startTurn,
        "turns peer→reply": out.endTurn - out.startTurn,
        "turns reply→out": inb.endTurn - out.endTurn,
        "batches in→peer": reserveBatches.length,
        "  wait before reserve batch": lastReserve === undefined ? NaN : lastReserve[0]! - inb.start,
        "  reserve batch ms": lastReserve === undefined ? NaN : lastReserve[1]! - lastReserve[0]!,
        "  after reserve batch": lastReserve === undefined ? NaN : out.start - lastReserve[1]!,
        "batches reply→out": postBatches.length,
        "  wait before post batch": lastPost === undefined ? NaN : lastPost[0]! - out.end,
        "  post batch ms": lastPost === undefined ? NaN : lastPost[1]! - lastPost[0]!,
        "  after post batch": lastPost === undefined ? NaN : inb.end - lastPost[1]!,
        "GC ms in the packet": gcMs,
        ...(tbAll.length === 0 ? {} : (() => {
          const from = tbAfter(inb.start)
          const to = tbAfter(out.start) // requests answered in (in, peer write]
          const reserve = to > from ? tbAll[to - 1]! : undefined
          const atArrival = tbAll[from]
          return {
            "tb requests answered in→peer": to - from,
            "  request in flight at arrival": atArrival !== undefined && atArrival[0]! < inb.start ? 1 : 0,
            "  in → reserve request sent": reserve === undefined ? NaN : reserve[0]! - inb.start,
            "  reserve request round trip": reserve === undefined ? NaN : reserve[1]! - reserve[0]!,
            "  reserve request events": reserve === undefined ? NaN : reserve[2]!,
            "  reserve answered → peer write": reserve === undefined ? NaN : out.start - reserve[1]!,
            "  longest round trip of those requests": to > from ? Math.max(...tbAll.slice(from, to).map((r) => r[1]! - r[0]!)) : NaN
          }
        })())
      }
    })
  }
  if (packets.length === 0) continue
  if (tbAll.length > 0) {
    const sortedForShare = [...packets].sort((a, b) => a.latency - b.latency)
    const slowest = sortedForShare.slice(Math.floor(sortedForShare.length * 0.99))
    const median = quantile(tbAll.map((r) => r[1]! - r[0]!), 0.5)
    for (const threshold of [4 * median, 10]) {
      const met = (list: Array<Packet>) => list.filter((p) => p.parts["  longest round trip of those requests"]! >= threshold).length
      console.log(`\n(node ${forwarder.pid}) packets whose in-flight or own reserve request took ≥ ${fmt(threshold, 1)} ms: slowest 1 % ${met(slowest)} of ${slowest.length}; all ${fmt(100 * met(packets) / packets.length, 2)} %`)
    }
  }
  packets.sort((a, b) => a.latency - b.latency)
  const n = packets.length
  const slow = packets.slice(Math.floor(n * 0.99))
  const middle = packets.slice(Math.floor(n * 0.45), Math.ceil(n * 0.55))
  const latencies = packets.map((p) => p.latency)
  console.log(`\n=== ${name}: ${n} packets matched; latency p50 ${fmt(quantile(latencies, 0.5))} p99 ${fmt(quantile(latencies, 0.99))} ms (p99/p50 ${fmt(quantile(latencies, 0.99) / quantile(latencies, 0.5))})`)
  console.log(`${"interval (ms, or count)".padEnd(30)} ${"median pkts: mean".padStart(18)} ${"slowest 1%: mean".padStart(17)} ${"all: p50".padStart(9)} ${"all: p99".padStart(9)}`)
  for (const part of Object.keys(packets[0]!.parts)) {
    const values = (list: Array<Packet>) => list.map((p) => p.parts[part]!).filter(Number.isFinite)
    console.log(
      `${part.padEnd(30)} ${fmt(mean(values(middle))).padStart(18)} ${fmt(mean(values(slow))).padStart(17)} ${
        fmt(quantile(values(packets), 0.5)).padStart(9)
      } ${fmt(quantile(values(packets), 0.99)).padStart(9)}`
    )
  }

  // Event loop: iteration length while busy, packets read per iteration.
  const turnTimes = forwarder.turns
  const gaps: Array<number> = []
  for (let i = 1; i < turnTimes.length; i++) {
    const gap = turnTimes[i]! - turnTimes[i - 1]!
    if (gap < 100) gaps.push(gap)
  }
  const perTurn = new Map<number, number>()
  for (const row of rows(forwarder.serverIn, 4)) perTurn.set(row[2]!, (perTurn.get(row[2]!) ?? 0) + 1)
  const counts = [...perTurn.values()]
  const immediateRows = rows(forwarder.immediates, 4)
  const immediates = immediateRows.map((r) => r[1]!)
  console.log(`loop iterations while busy: ${gaps.length}, ms p50 ${fmt(quantile(gaps, 0.5), 3)} p90 ${fmt(quantile(gaps, 0.9), 3)} p99 ${fmt(quantile(gaps, 0.99), 3)} max ${fmt(Math.max(...gaps), 3)}`)
  console.log(`requests read per iteration (iterations reading any): p50 ${quantile(counts, 0.5)} p90 ${quantile(counts, 0.9)} p99 ${quantile(counts, 0.99)} max ${Math.max(...counts)}`)
  console.log(`setImmediate callbacks: ${immediates.length}, ms p50 ${fmt(quantile(immediates, 0.5), 3)} p99 ${fmt(quantile(immediates, 0.99), 3)} max ${fmt(Math.max(...immediates), 3)}`)
  const long = immediateRows.filter((r) => r[1]! >= 4)
  const sum = (list: Array<Array<number>>, at: number) => list.reduce((total, r) => total + r[at]!, 0)
  console.log(`  of which ≥ 4 ms: ${long.length}, ${fmt(sum(long, 1), 0)} ms in all: on CPU ${fmt(sum(long, 2), 0)}, waiting for a CPU ${fmt(sum(long, 3), 0)}, neither (blocked) ${fmt(sum(long, 1) - sum(long, 2) - sum(long, 3), 0)}`)
  console.log(`monitorEventLoopDelay ms: ${Object.entries(forwarder.loopDelay).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(" ")}`)
  const gcDurations = gcs.map((g) => g[1]!)
  console.log(`GC pauses: ${gcs.length}, total ${fmt(gcDurations.reduce((a, b) => a + b, 0), 0)} ms, p50 ${fmt(quantile(gcDurations, 0.5), 3)} p99 ${fmt(quantile(gcDurations, 0.99), 3)} max ${fmt(Math.max(0, ...gcDurations), 3)}`)
  if (tbAll.length > 0) {
    const inRun = tbAll.filter((r) => r[0]! >= first + skipMs)
    const trips = inRun.map((r) => r[1]! - r[0]!)
    const events = inRun.map((r) => r[2]!)
    const median = quantile(trips, 0.5)
    console.log(`TigerBeetle requests: ${inRun.length}, round trip ms p50 ${fmt(median)} p90 ${fmt(quantile(trips, 0.9))} p99 ${fmt(quantile(trips, 0.99))} max ${fmt(Math.max(...trips))}; events p50 ${quantile(events, 0.5)} p99 ${quantile(events, 0.99)} max ${Math.max(...events)}; reserves/posts/voids ${inRun.reduce((a, r) => a + r[3]!, 0)}/${inRun.reduce((a, r) => a + r[4]!, 0)}/${inRun.reduce((a, r) => a + r[5]!, 0)}`)
    // Gap between one answer and the next request sent (the node's own part of the pipeline).
    const bySent = [...inRun].sort((a, b) => a[0]! - b[0]!)
    const idle: Array<number> = []
    for (let i = 1; i < bySent.length; i++) idle.push(bySent[i]![0]! - bySent[i - 1]![1]!)
    console.log(`  previous answer → next request sent ms: p50 ${fmt(quantile(idle, 0.5), 3)} p90 ${fmt(quantile(idle, 0.9), 3)} p99 ${fmt(quantile(idle, 0.99), 3)}; overlapping requests (sent before the previous answered): ${idle.filter((g) => g < 0).length}`)
    // The replica's own time during each round trip (its main thread's schedstat): on a CPU,
    // waiting for one (the machine's other processes), neither (blocked: disk, or nothing to do).
    for (const [lo, hi] of [[0, median], [median, 2 * median], [2 * median, 4 * median], [4 * median, Infinity]] as const) {
      const sel = inRun.filter((r) => r[1]! - r[0]! >= lo && r[1]! - r[0]! < hi && Number.isFinite(r[6]!))
      if (sel.length === 0) continue
      const trip = mean(sel.map((r) => r[1]! - r[0]!))
      const cpu = mean(sel.map((r) => r[6]!))
      const wait = mean(sel.map((r) => r[7]!))
      console.log(`  round trips in [${fmt(lo, 1)}, ${fmt(hi, 1)}) ms: ${sel.length}, mean ${fmt(trip)} ms: replica on a CPU ${fmt(cpu)}, waiting for a CPU ${fmt(wait)}, neither ${fmt(trip - cpu - wait)}; events ${fmt(mean(sel.map((r) => r[2]!)), 1)}`)
    }
    for (const threshold of [4 * median, 10]) {
      const longOnes = bySent.map((r, i) => [i, r[0]!, r[1]! - r[0]!, r[2]!] as const).filter(([, , trip]) => trip >= threshold)
      const spacing: Array<number> = []
      const spacingMs: Array<number> = []
      for (let i = 1; i < longOnes.length; i++) {
        spacing.push(longOnes[i]![0] - longOnes[i - 1]![0])
        spacingMs.push(longOnes[i]![1] - longOnes[i - 1]![1])
      }
      const longMs = longOnes.reduce((a, r) => a + r[2], 0)
      console.log(`  round trips ≥ ${fmt(threshold, 1)} ms: ${longOnes.length} (${fmt(100 * longOnes.length / Math.max(1, inRun.length), 2)} % of requests, ${fmt(longMs, 0)} ms of ${fmt(trips.reduce((a, b) => a + b, 0), 0)}), each p50 ${fmt(quantile(longOnes.map((r) => r[2]), 0.5))}; spacing in requests p10 ${quantile(spacing, 0.1)} p50 ${quantile(spacing, 0.5)} p90 ${quantile(spacing, 0.9)}, in ms p50 ${fmt(quantile(spacingMs, 0.5), 0)}`)
      if (threshold === 10) console.log(`    first ones [index, ms after the first request, round trip, events]: ${longOnes.slice(0, 24).map(([i, t, trip, e]) => `[${i}, ${fmt(t - bySent[0]![0]!, 0)}, ${fmt(trip, 1)}, ${e}]`).join(" ")}`)
    }
  }
  if (batches.length > 0) {
    const durations = batches.map((b) => b[1]! - b[0]!)
    const sizes = batches.map((b) => b[2]! + b[3]!)
    const longBatches = batches.filter((b) => b[1]! - b[0]! >= 2)
    const wall = longBatches.reduce((total, b) => total + b[1]! - b[0]!, 0)
    console.log(`ledger batches ≥ 2 ms: ${longBatches.length}, ${fmt(wall, 0)} ms in all: on CPU ${fmt(sum(longBatches, 4), 0)}, waiting for a CPU ${fmt(sum(longBatches, 5), 0)}, neither (blocked) ${fmt(wall - sum(longBatches, 4) - sum(longBatches, 5), 0)}`)
    const checkpoints = rows(forwarder.checkpoints ?? [], 4)
    if (checkpoints.length > 0) {
      const cwall = checkpoints.reduce((total, c) => total + c[1]! - c[0]!, 0)
      console.log(`ledger checkpoints between batches: ${checkpoints.length}, ${fmt(cwall, 0)} ms in all (each p50 ${fmt(quantile(checkpoints.map((c) => c[1]! - c[0]!), 0.5))}): on CPU ${fmt(sum(checkpoints, 2), 0)}, waiting for a CPU ${fmt(sum(checkpoints, 3), 0)}, neither (blocked) ${fmt(cwall - sum(checkpoints, 2) - sum(checkpoints, 3), 0)}`)
    }
    console.log(`ledger batches: ${batches.length}, ms p50 ${fmt(quantile(durations, 0.5), 3)} p99 ${fmt(quantile(durations, 0.99), 3)} max ${fmt(Math.max(...durations), 3)}; transfer rows per batch p50 ${quantile(sizes, 0.5)} p99 ${quantile(sizes, 0.99)} max ${Math.max(...sizes)}`)
  }
}

// The load generator itself: pool.request → its socket write, its socket's reply → the promise.
const lgSends = pair(loadgen.clientSend, loadgen.clientReply)
const lgFind = indexByKey(lgSends)
const before: Array<number> = []
const after: Array<number> = []
for (const [key, sent, done] of rows(loadgen.requests, 4) as Array<[number, number, number, number]>) {
  const exchange = lgFind(key, sent - 1, done)
  if (exchange === undefined) continue
  before.push(exchange.start - sent)
  after.push(done - exchange.end)
}
console.log(`\n=== load generator (${before.length} requests matched): request→socket write ms p50 ${fmt(quantile(before, 0.5), 3)} p99 ${fmt(quantile(before, 0.99), 3)}; socket reply→resolved p50 ${fmt(quantile(after, 0.5), 3)} p99 ${fmt(quantile(after, 0.99), 3)}`)
console.log(`load generator monitorEventLoopDelay ms: ${Object.entries(loadgen.loopDelay).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(" ")}`)
