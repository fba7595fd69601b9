/**
 * Pools several `npm run bench -- --baseline . --node-flags A --baseline-node-flags B --json FILE`
 * sittings of the same code whose two nodes differ by one Node flag, run in both positions (the flag
 * on the embedded node in some sittings, on the baseline node in others), and prints the flag's
 * effect with the position's effect taken out. Per round, the log of "node without the flag ÷ node
 * with it" is taken for packets/s, CPU µs/pkt, main-thread and V8-worker CPU and main-thread GC
 * pauses (`--gc-pauses yes`); the flag's effect is the mean of the two positions' means, the
 * position's (baseline node ÷ embedded node) half their difference, and ± is two standard errors.
 * Sittings whose nodes both have, or both lack, the flag are A/A sittings: they are listed with
 * their baseline ÷ embedded ratios (the position's effect alone).
 *
 *   node bench/experiments/flagSittings.ts --no-allocation-site-pretenuring local A.json B.json ...
 *
 * Measurement only (docs/performance/memory.md, last section).
 */
import { readFileSync } from "node:fs"

interface Round {
  readonly packetsPerSecond: number
  readonly cpuUsPerPacket: number
  readonly threadsUsPerPacket?: { readonly main: number; readonly v8Workers: number }
  readonly gcPauseUsPerPacket?: number
}
interface Sitting {
  readonly settings: {
    readonly modes: ReadonlyArray<string>
    readonly nodeFlags: ReadonlyArray<string>
    readonly baselineNodeFlags: ReadonlyArray<string>
  }
  readonly results: Record<string, { readonly rounds: ReadonlyArray<Round> } | undefined>
}

const [flag, mode, ...files] = process.argv.slice(2)
if (flag === undefined || mode === undefined || files.length === 0) {
  throw new Error("usage: flagSittings.ts FLAG MODE FILE.json...")
}

const measures: Record<string, (round: Round) => number | undefined> = {
  "packets/s": (r) => r.packetsPerSecond,
  "CPU µs/pkt": (r) => r.cpuUsPerPacket,
  "main thread": (r) => r.threadsUsPerPacket?.main,
  "V8 workers": (r) => r.threadsUsPerPacket?.v8Workers,
  "GC pauses": (r) => r.gcPauseUsPerPacket
}
const mean = (xs: ReadonlyArray<number>) => xs.reduce((sum, x) => sum + x, 0) / xs.length
const variance = (xs: ReadonlyArray<number>) => {
  const m = mean(xs)
  return xs.reduce((sum, x) => sum + (x - m) ** 2, 0) / Math.max(1, xs.length - 1)
}
const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const fixed = (x: number) => x.toFixed(2)

/** Per position of the flag, per measure: the log ratios of every round. */
const logs = { embedded: new Map<string, Array<number>>(), baseline: new Map<string, Array<number>>() }
for (const file of files) {
  const sitting = JSON.parse(readFileSync(file, "utf8")) as Sitting
  const embedded = sitting.results[mode]
  const baseline = sitting.results[`${mode}-base`]
  if (embedded === undefined || baseline === undefined) throw new Error(`${file}: no ${mode} and ${mode}-base`)
  const onEmbedded = sitting.settings.nodeFlags.includes(flag)
  const onBaseline = sitting.settings.baselineNodeFlags.includes(flag)
  const order = sitting.settings.modes.join(",")
  if (onEmbedded === onBaseline) {
    const ratios = (of: (round: Round) => number) => embedded.rounds.map((r, i) => fixed(of(baseline.rounds[i]!) / of(r))).join(" ")
    process.stdout.write(`${file} (A/A, ${order}): baseline ÷ embedded packets/s ${ratios((r) => r.packetsPerSecond)}, CPU ${ratios((r) => r.cpuUsPerPacket)}\n`)
    continue
  }
  const withFlag = onEmbedded ? embedded : baseline
  const without = onEmbedded ? baseline : embedded
  const perRound: Array<string> = []
  for (const [name, of] of Object.entries(measures)) {
    const ratios: Array<number> = []
    withFlag.rounds.forEach((r, i) => {
      const a = of(r)
      const b = of(without.rounds[i]!)
      if (a !== undefined && b !== undefined && a > 0 && b > 0) ratios.push(b / a)
    })
    const into = logs[onEmbedded ? "embedded" : "baseline"]
    into.set(name, [...(into.get(name) ?? []), ...ratios.map(Math.log)])
    if (name === "packets/s" || name === "CPU µs/pkt") perRound.push(`${name} ${ratios.map(fixed).join(" ")} (median ${fixed(median(ratios))})`)
  }
  process.stdout.write(`${file} (flag on the ${onEmbedded ? "embedded" : "baseline"} node, ${order}): without ÷ with ${perRound.join("; ")}\n`)
}
for (const name of Object.keys(measures)) {
  const e = logs.embedded.get(name) ?? []
  const b = logs.baseline.get(name) ?? []
  if (e.length < 2 || b.length < 2) continue
  const effect = (mean(e) + mean(b)) / 2
  const position = (mean(e) - mean(b)) / 2
  const twoSe = Math.sqrt(variance(e) / e.length + variance(b) / b.length)
  process.stdout.write(
    `${name.padEnd(11)} without ÷ with ${Math.exp(effect).toFixed(3)} (±${(twoSe * 100).toFixed(1)} %, rounds ${e.length} + ${b.length}); ` +
      `baseline ÷ embedded position ${Math.exp(position).toFixed(3)}\n`
  )
}
