/**
 * Reads a node's `--trace-gc-nvp` output (one `name=value` line per garbage collection, e.g. from
 * `BENCH_NODE_LOG_DIR=DIR npm run bench -- --node-flags "... --trace-gc-nvp"`) and prints, per kind
 * of GC (`s` scavenge, `mc` mark-compact, ...), how many, their total pause, and the mean of every
 * phase and size field, for the GCs whose time (ms since the isolate started) is in [fromMs, toMs):
 *
 *   node bench/experiments/gcNvp.ts FILE [fromMs] [toMs]
 *   node bench/experiments/gcNvp.ts FILE --windows 10000   (per 10 s window, by kind: count, pause; per
 *     scavenge the bytes that survived it and that it promoted to the old generation)
 *
 * Measurement only.
 */
import { readFileSync } from "node:fs"

const [file, a, b] = process.argv.slice(2)
if (file === undefined) throw new Error("usage: gcNvp.ts FILE [fromMs] [toMs] | FILE --windows MS")

interface Gc {
  readonly atMs: number
  readonly kind: string
  readonly fields: Record<string, number>
}

const parse = (text: string): Array<Gc> => {
  const gcs: Array<Gc> = []
  for (const line of text.split("\n")) {
    const match = /^\[\d+:0x[0-9a-f]+(?::\d+)?\]\s+(\d+) ms: (.*)$/.exec(line)
    if (match === null || !match[2]!.includes("pause=")) continue
    const fields: Record<string, number> = {}
    let kind = "?"
    for (const pair of match[2]!.split(" ")) {
      const eq = pair.indexOf("=")
      if (eq < 0) continue
      const key = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      if (key === "gc") kind = value
      else {
        const n = Number(value.replace(/%$/, ""))
        if (Number.isFinite(n)) fields[key] = n
      }
    }
    gcs.push({ atMs: Number(match[1]), kind, fields })
  }
  return gcs
}

const gcs = parse(readFileSync(file, "utf8"))
if (a === "--windows") {
  const windowMs = Number(b ?? 10_000)
  const windows = new Map<number, Record<string, { count: number; pauseMs: number; survivedKiB: number; promotedKiB: number }>>()
  for (const gc of gcs) {
    const w = Math.floor(gc.atMs / windowMs) * windowMs
    const byKind = windows.get(w) ?? {}
    const entry = (byKind[gc.kind] ??= { count: 0, pauseMs: 0, survivedKiB: 0, promotedKiB: 0 })
    entry.count++
    entry.pauseMs += gc.fields["pause"] ?? 0
    entry.survivedKiB += (gc.fields["new_space_survived"] ?? 0) / 1024
    entry.promotedKiB += (gc.fields["promoted"] ?? 0) / 1024
    windows.set(w, byKind)
  }
  for (const [w, byKind] of windows) {
    console.log(`${String(w / 1000).padStart(5)} s  ` +
      Object.entries(byKind).map(([kind, e]) =>
        `${kind}: ${e.count} ${e.pauseMs.toFixed(0)} ms` +
        (kind === "s" ? ` (per GC: survived ${(e.survivedKiB / e.count).toFixed(0)} KiB, promoted ${(e.promotedKiB / e.count).toFixed(0)} KiB)` : "")
      ).join("  "))
  }
} else {
  const fromMs = Number(a ?? 0)
  const toMs = Number(b ?? Infinity)
  const byKind = new Map<string, Array<Gc>>()
  for (const gc of gcs) {
    if (gc.atMs < fromMs || gc.atMs >= toMs) continue
    byKind.set(gc.kind, [...(byKind.get(gc.kind) ?? []), gc])
  }
  for (const [kind, list] of byKind) {
    const keys = [...new Set(list.flatMap((gc) => Object.keys(gc.fields)))]
    console.log(`gc=${kind}: ${list.length} GCs, total pause ${list.reduce((s, gc) => s + (gc.fields["pause"] ?? 0), 0).toFixed(1)} ms; means:`)
    for (const key of keys) {
      const mean = list.reduce((s, gc) => s + (gc.fields[key] ?? 0), 0) / list.length
      if (mean !== 0) console.log(`  ${key.padEnd(48)} ${mean >= 1000 ? mean.toFixed(0) : mean.toFixed(3)}`)
    }
  }
}
