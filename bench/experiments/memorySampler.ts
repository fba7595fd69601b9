/**
 * Preload for a node under the bench: samples its memory every 100 ms and, when it exits, writes the
 * peak of each figure (RSS, V8 heap total/used, external, array buffers, each V8 heap space's
 * committed size) to `$MEMORY_SAMPLE_FILE.<pid>`. Where the peak RSS goes under load:
 *
 *   MEMORY_SAMPLE_FILE=/tmp/mem node bench/run.ts --modes forward,local \
 *     --node-flags "--max-semi-space-size=8 --heap-growing-percent=50 --import $PWD/bench/experiments/memorySampler.ts"
 *
 * Measurement only; never loaded by the node itself.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { getHeapSpaceStatistics } from "node:v8"

const peaks: Record<string, number> = {}
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10
const keep = (name: string, bytes: number) => {
  const value = mib(bytes)
  if (!(value <= (peaks[name] ?? -1))) peaks[name] = value
}

/** Resident KiB of this process's mappings, grouped: [heap] (malloc's main arena), anonymous, each file. */
const mappings = (): Record<string, number> => {
  const groups: Record<string, number> = {}
  let name = ""
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (header !== null) {
      const path = header[1]!.trim()
      name = path === "" ? "(anonymous)" : path.replace(/^.*\/node_modules\//, "node_modules/")
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss !== null) groups[name] = (groups[name] ?? 0) + Number(rss[1])
  }
  return groups
}
let atPeak: Record<string, number> = {}
let lastMappings = 0
/** With MEMORY_SAMPLE_SMAPS=1, the whole /proc/self/smaps near the peak RSS, written beside the
 * summary (`.smaps`): read it with `node bench/experiments/smapsReport.ts FILE`. */
const keepSmaps = process.env["MEMORY_SAMPLE_SMAPS"] === "1"
let smapsAtPeak = ""
let atPeakV8: Record<string, number> = {}

const sample = () => {
  const m = process.memoryUsage()
  if (m.rss / 2 ** 20 > (peaks["rss"] ?? 0) + 1 && Date.now() - lastMappings > 1_000) {
    lastMappings = Date.now()
    atPeak = mappings()
    // The V8 figures at that same instant (the peaks above are each at its own time).
    atPeakV8 = { rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) }
    for (const space of getHeapSpaceStatistics()) if (space.space_size > 0) atPeakV8[space.space_name] = mib(space.space_size)
    if (keepSmaps) smapsAtPeak = readFileSync("/proc/self/smaps", "utf8")
  }
  keep("rss", m.rss)
  keep("heapTotal", m.heapTotal)
  keep("heapUsed", m.heapUsed)
  keep("external", m.external)
  keep("arrayBuffers", m.arrayBuffers)
  // Everything outside the V8 heap (native: SQLite, sockets, code, malloc), at the same instant.
  keep("rss - heapTotal", m.rss - m.heapTotal)
  for (const space of getHeapSpaceStatistics()) keep(`space ${space.space_name}`, space.space_size)
}
setInterval(sample, 100).unref()

process.on("exit", () => {
  sample()
  const file = process.env["MEMORY_SAMPLE_FILE"]
  const top = Object.entries(atPeak).sort((a, b) => b[1] - a[1]).slice(0, 12)
    .map(([name, kib]) => `${(kib / 1024).toFixed(1)} MiB ${name}`)
  if (file !== undefined) writeFileSync(`${file}.${process.pid}`, `${JSON.stringify({ peaks, mappingsNearPeakRss: top, v8NearPeakRss: atPeakV8 }, null, 1)}\n`)
  if (file !== undefined && keepSmaps) writeFileSync(`${file}.${process.pid}.smaps`, smapsAtPeak)
})
