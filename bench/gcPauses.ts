/**
 * Preload for a node under the bench (`npm run bench -- --gc-pauses yes`): sums the main thread's
 * garbage-collection pauses as `node:perf_hooks` reports them (one `gc` entry per scavenge,
 * mark-compact and incremental-marking finalisation; incremental marking steps between them are not
 * included) and writes `<total ms> <count>` to `$BENCH_GC_FILE` every 50 ms, so the bench can read
 * each node's GC time per packet around a round as it reads its CPU time. One observer callback per
 * batch of GCs (a few hundred a second under load): measurement only, never loaded by the node itself.
 */
import { renameSync, writeFileSync } from "node:fs"
import { PerformanceObserver } from "node:perf_hooks"

const file = process.env["BENCH_GC_FILE"]
if (file !== undefined && file !== "") {
  let totalMs = 0
  let count = 0
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      totalMs += entry.duration
      count++
    }
  }).observe({ entryTypes: ["gc"] })
  const write = () => {
    try {
      // Written aside and renamed, so that the bench never reads a half-written file.
      writeFileSync(`${file}.tmp`, `${totalMs} ${count}\n`)
      renameSync(`${file}.tmp`, file)
    } catch {
      // best effort: a measurement must never take the node down
    }
  }
  setInterval(write, 50).unref()
  process.on("exit", write)
}
