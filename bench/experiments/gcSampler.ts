/**
 * Preload for a node under the bench: counts its garbage collections by kind (minor, major,
 * incremental, weak callbacks) with their total pause time, and samples the V8 heap every 100 ms;
 * when it exits, writes them and the heap used/total at the last sample to `$GC_SAMPLE_FILE.<pid>`.
 * Where one node's GC share differs from another's (e.g. the scaled node against the embedded one):
 *
 *   GC_SAMPLE_FILE=/tmp/gc node bench/run.ts --modes forward,forward-scale \
 *     --node-flags "--max-semi-space-size=8 --heap-growing-percent=50 --import $PWD/bench/experiments/gcSampler.ts"
 *
 * Measurement only; never loaded by the node itself.
 */
import { writeFileSync } from "node:fs"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { getHeapStatistics } from "node:v8"

const kinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
}
const started = Date.now()
/** Per kind, per phase (set up: before the first second of heavy minor GCs is not told apart; so by time). */
const totals: Record<string, { count: number; ms: number }> = {}
let usedMaxMiB = 0
let last = getHeapStatistics()
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = kinds[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? "other"
    const key = `${kind} @${Math.floor((entry.startTime + performance.timeOrigin - started) / 10_000) * 10}s`
    const total = (totals[key] ??= { count: 0, ms: 0 })
    total.count++
    total.ms += entry.duration
  }
})
observer.observe({ entryTypes: ["gc"] })
setInterval(() => {
  last = getHeapStatistics()
  usedMaxMiB = Math.max(usedMaxMiB, last.used_heap_size / 2 ** 20)
}, 100).unref()
const file = process.env["GC_SAMPLE_FILE"]
process.on("exit", () => {
  if (file === undefined) return
  writeFileSync(`${file}.${process.pid}`, JSON.stringify({
    totals,
    usedMaxMiB: Math.round(usedMaxMiB),
    lastUsedMiB: Math.round(last.used_heap_size / 2 ** 20),
    lastTotalMiB: Math.round(last.total_heap_size / 2 ** 20)
  }, null, 1))
})
