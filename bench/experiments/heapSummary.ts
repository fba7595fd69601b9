/**
 * Summary of a V8 heap snapshot (`.heapsnapshot`, e.g. from `--heapsnapshot-signal=SIGUSR2`): self
 * size by node type, the constructors / code kinds with the most self size, and the largest strings
 * (mostly module sources). What the live heap is made of, without DevTools.
 *
 *   node bench/experiments/heapSummary.ts FILE [--top 25]
 *
 * Measurement only.
 */
import { readFileSync } from "node:fs"

const file = process.argv[2]!
const topAt = process.argv.indexOf("--top")
const top = topAt < 0 ? 25 : Number(process.argv[topAt + 1])
const snapshot = JSON.parse(readFileSync(file, "utf8")) as {
  snapshot: { meta: { node_fields: Array<string>; node_types: [Array<string>, ...Array<unknown>] } }
  nodes: Array<number>
  strings: Array<string>
}
const fields = snapshot.snapshot.meta.node_fields
const types = snapshot.snapshot.meta.node_types[0]
const width = fields.length
const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [number, number, number]
const byType = new Map<string, number>()
const byName = new Map<string, [number, number]>()
const strings: Array<[number, string]> = []
let total = 0
for (let i = 0; i < snapshot.nodes.length; i += width) {
  const type = types[snapshot.nodes[i + typeAt]!]!
  const name = snapshot.strings[snapshot.nodes[i + nameAt]!]!
  const size = snapshot.nodes[i + sizeAt]!
  total += size
  byType.set(type, (byType.get(type) ?? 0) + size)
  const key = type === "string" || type === "concatenated string" || type === "sliced string" ? `(${type})` :
    type === "code" ? `(code) ${name.replace(/\s.*$/, "").slice(0, 60)}` : `${type} ${name.slice(0, 70)}`
  const [n, s] = byName.get(key) ?? [0, 0]
  byName.set(key, [n + 1, s + size])
  if (type === "string" && size > 64 * 1024) strings.push([size, name.slice(0, 90).replace(/\s+/g, " ")])
}
const mib = (b: number) => (b / 2 ** 20).toFixed(2).padStart(7)
process.stdout.write(`${file}: ${mib(total)} MiB in ${snapshot.nodes.length / width} objects\nby type:\n`)
for (const [t, s] of [...byType].sort((a, b) => b[1] - a[1])) process.stdout.write(`${mib(s)} ${t}\n`)
process.stdout.write(`\ntop ${top} by name (count):\n`)
for (const [k, [n, s]] of [...byName].sort((a, b) => b[1][1] - a[1][1]).slice(0, top)) process.stdout.write(`${mib(s)} ${k} (${n})\n`)
process.stdout.write(`\nstrings over 64 KiB: ${strings.length}, ${mib(strings.reduce((a, [s]) => a + s, 0))} MiB; largest:\n`)
for (const [s, text] of strings.sort((a, b) => b[0] - a[0]).slice(0, 12)) process.stdout.write(`${mib(s)} ${text}\n`)
