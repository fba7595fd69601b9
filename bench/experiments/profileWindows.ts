/**
 * One node's `.cpuprofile` cut into time windows, to compare what a packet cost early and late in
 * the same process (issue 13's round-to-round variance): self time per function in each window, per
 * 1 000 packets when the packet counts are given.
 *
 * Usage: node bench/experiments/profileWindows.ts FILE.cpuprofile "from-to[:packets],..." [top]
 *   windows in seconds after the load started (the first 100 ms the node was more than half busy),
 *   e.g. "0-2.5:16983,5-21:255000,23.5-26:32652".
 */
import { readFileSync } from "node:fs"
import { shortUrl } from "../profile.ts"

interface Profile {
  readonly nodes: ReadonlyArray<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const [file, spec, topText] = process.argv.slice(2)
if (file === undefined || spec === undefined) {
  process.stderr.write("usage: node bench/experiments/profileWindows.ts FILE.cpuprofile \"from-to[:packets],...\" [top]\n")
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id))

// Sample times (µs since the first sample) and the load's start.
const times: Array<number> = []
let t = 0
for (const delta of profile.timeDeltas) times.push((t += delta))
let loadStart = 0
{
  const bin = 100_000
  const busy = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    if (idleIds.has(profile.samples[i]!)) continue
    const b = Math.floor(times[i]! / bin)
    busy.set(b, (busy.get(b) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
  }
  const first = [...busy.entries()].sort((a, b) => a[0] - b[0]).find(([, us]) => us > bin / 2)
  loadStart = first === undefined ? 0 : first[0] * bin
}

const windows = spec.split(",").map((w) => {
  const [range, packets] = w.split(":")
  const [from, to] = range!.split("-").map(Number)
  return { from: from! * 1e6 + loadStart, to: to! * 1e6 + loadStart, packets: packets === undefined ? undefined : Number(packets), label: range! }
})
const top = Number(topText ?? 25)
const perWindow = windows.map((w) => {
  const self = new Map<string, number>()
  let busy = 0
  for (let i = 0; i < profile.samples.length; i++) {
    if (times[i]! < w.from || times[i]! >= w.to) continue
    const id = profile.samples[i]!
    if (idleIds.has(id)) continue
    const us = profile.timeDeltas[i + 1] ?? 0
    const frame = frames.get(id)!
    const name = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    self.set(name, (self.get(name) ?? 0) + us)
    busy += us
  }
  return { w, self, busy }
})
const unit = (w: (typeof windows)[number]) => (w.packets === undefined ? "ms" : "µs/pkt")
const scale = (us: number, w: (typeof windows)[number]) => (w.packets === undefined ? us / 1000 : us / w.packets)
process.stdout.write(`load started ${(loadStart / 1e6).toFixed(1)} s into the profile\n`)
process.stdout.write(`busy: ${perWindow.map((p) => `${p.w.label} s ${scale(p.busy, p.w).toFixed(1)} ${unit(p.w)}`).join(", ")}\n\n`)
// Functions ordered by how much more they cost in the first window than in the last.
const names = new Set(perWindow.flatMap((p) => [...p.self.keys()]))
const rows = [...names].map((name) => ({
  name,
  values: perWindow.map((p) => scale(p.self.get(name) ?? 0, p.w))
}))
rows.sort((a, b) => (b.values[0]! - b.values.at(-1)!) - (a.values[0]! - a.values.at(-1)!))
process.stdout.write(`${perWindow.map((p) => p.w.label.padStart(10)).join("")}  function (ordered by first window minus last)\n`)
for (const row of rows.slice(0, top)) {
  process.stdout.write(`${row.values.map((v) => v.toFixed(2).padStart(10)).join("")}  ${row.name}\n`)
}
process.stdout.write(`...\nthe other way (dearer in the last window):\n`)
for (const row of rows.slice(-8).reverse()) {
  process.stdout.write(`${row.values.map((v) => v.toFixed(2).padStart(10)).join("")}  ${row.name}\n`)
}
