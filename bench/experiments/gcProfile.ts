/**
 * EXPERIMENT: what each garbage collection of a node under the bench found, from `v8.GCProfiler`
 * (heap spaces before and after every GC). Two uses:
 *
 * - Preload (`--import`): writes `gcprofile-<pid>.json` into `$GC_PROFILE_DIR` when the process exits:
 *   `npm run bench -- --modes forward,forward-tb --node-flags "--max-semi-space-size=8 --heap-growing-percent=50 --import $PWD/bench/experiments/gcProfile.ts"`
 * - Summary: `node bench/experiments/gcProfile.ts FILE [packets]`: per GC type the count and
 *   main-thread cost; for scavenges the bytes promoted to old space and left in the young
 *   generation, for mark-compacts the bytes freed; external memory and global handles at the end;
 *   per packet when `packets` is given. What survives a scavenge is what the concurrent marker
 *   (V8's worker threads) later has to trace.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { GCProfiler, type GCProfilerResult } from "node:v8"

type Stat = GCProfilerResult["statistics"][number]

const used = (side: Stat["beforeGC"], spaces: ReadonlyArray<string>) =>
  side.heapSpaceStatistics.filter((s) => spaces.includes(s.spaceName)).reduce((n, s) => n + s.spaceUsedSize, 0)
const oldSpaces = ["old_space", "code_space", "large_object_space", "code_large_object_space", "trusted_space", "trusted_large_object_space"]
const youngSpaces = ["new_space", "new_large_object_space"]

const summarize = (file: string, packets: number | undefined) => {
  const result = JSON.parse(readFileSync(file, "utf8")) as GCProfilerResult
  const per = (bytes: number) => packets === undefined ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / packets).toFixed(0)} B/pkt`
  const byType = new Map<string, { n: number; costUs: number; promoted: number; survived: number; freed: number }>()
  for (const stat of result.statistics) {
    const row = byType.get(stat.gcType) ?? { n: 0, costUs: 0, promoted: 0, survived: 0, freed: 0 }
    row.n++
    row.costUs += stat.cost
    if (stat.gcType === "Scavenge" || stat.gcType === "MinorMarkSweep") {
      row.promoted += used(stat.afterGC, oldSpaces) - used(stat.beforeGC, oldSpaces)
      row.survived += used(stat.afterGC, youngSpaces)
    } else {
      row.freed += stat.beforeGC.heapStatistics.usedHeapSize - stat.afterGC.heapStatistics.usedHeapSize
    }
    byType.set(stat.gcType, row)
  }
  const last = result.statistics.at(-1)
  process.stdout.write(`${file}: ${result.statistics.length} GCs over ${((result.endTime - result.startTime) / 1000).toFixed(0)} s\n`)
  for (const [type, row] of byType) {
    const cost = packets === undefined ? `${(row.costUs / 1000).toFixed(0)} ms` : `${(row.costUs / packets).toFixed(1)} µs/pkt`
    process.stdout.write(`  ${type}: ${row.n}, main thread ${cost}` +
      (row.promoted !== 0 || row.survived !== 0 ? `, promoted ${per(row.promoted)}, left young ${per(row.survived)}` : "") +
      (row.freed !== 0 ? `, freed ${per(row.freed)}` : "") + "\n")
  }
  if (last !== undefined) {
    const h = last.afterGC.heapStatistics
    process.stdout.write(`  at the end: used ${(h.usedHeapSize / 2 ** 20).toFixed(1)} MiB, external ${(h.externalMemory / 2 ** 20).toFixed(1)} MiB, ` +
      `global handles ${(h.usedGlobalHandlesSize / 1024).toFixed(0)} KiB\n`)
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  summarize(process.argv[2]!, process.argv[3] === undefined ? undefined : Number(process.argv[3]))
} else {
  const profiler = new GCProfiler()
  profiler.start()
  process.on("exit", () => {
    const result = profiler.stop()
    try {
      writeFileSync(join(process.env["GC_PROFILE_DIR"] ?? tmpdir(), `gcprofile-${process.pid}.json`), JSON.stringify(result))
    } catch {
      // best effort
    }
  })
}
