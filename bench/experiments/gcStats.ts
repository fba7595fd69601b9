/**
 * EXPERIMENT: every garbage collection of a process under load, to see whether a latency tail
 * comes from GC pauses. Two uses:
 *
 * - Preload into the bench node (any Node process): records each GC (kind, duration) through a
 *   `PerformanceObserver` and writes `gc-<pid>.json` into `$GC_STATS_DIR` (default: the OS temp
 *   dir) every 2 s and at exit:
 *   `npm run bench -- --modes forward --node-flags "--max-semi-space-size=8 --heap-growing-percent=50 --import ./bench/experiments/gcStats.ts"`
 *   (`--node-flags` replaces the start script's flags, so repeat them.)
 * - Summary: `node bench/experiments/gcStats.ts FILE...` prints, per process and GC kind, the count,
 *   total and mean pause, the longest, and how many took over 2 and 5 ms.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { pathToFileURL } from "node:url"

type Event = readonly [startMs: number, kind: string, durationMs: number]

const kinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "scavenge",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "mark-compact",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weak-callbacks"
}

const summarize = (files: ReadonlyArray<string>) => {
  for (const file of files) {
    const { argv, events } = JSON.parse(readFileSync(file, "utf8")) as { argv: Array<string>; events: Array<Event> }
    process.stdout.write(`${file} (${argv[1] ?? "?"})\n`)
    const byKind = new Map<string, { n: number; ms: number; max: number; over2: number; over5: number }>()
    for (const [, kind, ms] of events) {
      const row = byKind.get(kind) ?? { n: 0, ms: 0, max: 0, over2: 0, over5: 0 }
      row.n++
      row.ms += ms
      row.max = Math.max(row.max, ms)
      if (ms > 2) row.over2++
      if (ms > 5) row.over5++
      byKind.set(kind, row)
    }
    for (const [kind, row] of byKind) {
      process.stdout.write(
        `  ${kind}: ${row.n} GCs, ${row.ms.toFixed(0)} ms in all, mean ${(row.ms / row.n).toFixed(2)} ms, ` +
          `longest ${row.max.toFixed(1)} ms, over 2 ms: ${row.over2}, over 5 ms: ${row.over5}\n`
      )
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  summarize(process.argv.slice(2))
} else {
  const events: Array<Event> = []
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { readonly detail?: { readonly kind?: number } }).detail?.kind
      events.push([entry.startTime, kind === undefined ? "?" : (kinds[kind] ?? String(kind)), entry.duration])
    }
  }).observe({ entryTypes: ["gc"] })
  const file = join(process.env["GC_STATS_DIR"] ?? tmpdir(), `gc-${process.pid}.json`)
  const write = () => {
    try {
      writeFileSync(file, JSON.stringify({ argv: process.argv, events }))
    } catch {
      // best effort: an experiment must never take the process down
    }
  }
  setInterval(write, 2_000).unref()
  process.on("exit", write)
}
