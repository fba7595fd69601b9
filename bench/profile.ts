/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): self time aggregated by
 * function + file:line, and by area (our src/ files, effect, undici, node internals, ...).
 *
 * Usage: node bench/profile.ts <file.cpuprofile> [top] [lastSeconds]
 * (`lastSeconds`: only the samples of the profile's last seconds, e.g. the load after a long set-up.)
 */
import { readFileSync } from "node:fs"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface Row {
  readonly name: string
  readonly selfMs: number
  readonly percent: number
}

export interface Summary {
  readonly totalMs: number
  readonly idleMs: number
  readonly functions: ReadonlyArray<Row>
  readonly areas: ReadonlyArray<Row>
}

/** A script's URL as a short path: the package path under node_modules, or src/, bench/, test/ onwards. */
export const shortUrl = (url: string): string => {
  const cleaned = url.replace(/^file:\/\//, "")
  const nodeModules = cleaned.lastIndexOf("node_modules/")
  if (nodeModules >= 0) return cleaned.slice(nodeModules + "node_modules/".length)
  const src = cleaned.search(/\/(src|bench|test)\//)
  return src >= 0 ? cleaned.slice(src + 1) : cleaned
}

export const areaOf = (frame: CallFrame): string => {
  const url = shortUrl(frame.url)
  if (url === "") {
    if (frame.functionName === "(idle)") return "(idle)"
    if (frame.functionName === "(garbage collector)") return "(garbage collector)"
    if (frame.functionName === "(program)") return "(program)"
    return "(native / builtins)"
  }
  if (url.startsWith("node:")) return url.startsWith("node:internal/") ? "node:internal" : url
  if (url.startsWith("src/")) return url
  const scoped = /^(@[^/]+\/[^/]+|[^/]+)/.exec(url)
  return scoped?.[1] ?? url
}

const sorted = (map: Map<string, number>, totalMs: number, top: number): Array<Row> =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, selfMs]) => ({ name, selfMs, percent: (100 * selfMs) / totalMs }))

export const summarise = (profile: CpuProfile, top = 30): Summary => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const functions = new Map<string, number>()
  const areas = new Map<string, number>()
  let totalMs = 0
  let idleMs = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)
    if (frame === undefined) continue
    const ms = us / 1000
    if (frame.functionName === "(idle)") {
      idleMs += ms
      continue
    }
    totalMs += ms
    const name = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    functions.set(name, (functions.get(name) ?? 0) + ms)
    const area = areaOf(frame)
    areas.set(area, (areas.get(area) ?? 0) + ms)
  }
  return { totalMs, idleMs, functions: sorted(functions, totalMs, top), areas: sorted(areas, totalMs, top) }
}

/** The samples of the profile's last `windowUs` microseconds. */
export const lastSamples = (profile: CpuProfile, windowUs: number): CpuProfile => {
  let elapsedUs = 0
  let first = profile.samples.length
  while (first > 0 && elapsedUs < windowUs) elapsedUs += profile.timeDeltas[--first] ?? 0
  return { ...profile, samples: profile.samples.slice(first), timeDeltas: profile.timeDeltas.slice(first) }
}

export const formatSummary = (summary: Summary): string => {
  const line = (row: Row) => `${row.percent.toFixed(1).padStart(5)}%  ${row.selfMs.toFixed(0).padStart(7)} ms  ${row.name}`
  return [
    `busy ${summary.totalMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms (self time; % of busy)`,
    "",
    "by area:",
    ...summary.areas.map(line),
    "",
    "by function:",
    ...summary.functions.map(line)
  ].join("\n")
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write("usage: node bench/profile.ts <file.cpuprofile> [top]\n")
    process.exit(2)
  }
  const whole = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
  const lastSeconds = process.argv[4] === undefined ? undefined : Number(process.argv[4])
  const profile = lastSeconds === undefined ? whole : lastSamples(whole, lastSeconds * 1e6)
  process.stdout.write(`${formatSummary(summarise(profile, Number(process.argv[3] ?? 40)))}\n`)
}
