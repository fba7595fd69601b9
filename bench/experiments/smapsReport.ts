/**
 * Reads a saved /proc/PID/smaps (memorySampler.ts with MEMORY_SAMPLE_SMAPS=1 writes the one near
 * the peak RSS) and tells resident memory by kind of mapping: the node binary, malloc's main arena
 * ([heap]), glibc's per-thread arenas (64 MiB-aligned reservations), thread stacks (8 MiB after a
 * guard page), V8's executable pages, and the rest of the anonymous memory by size of mapping.
 *
 *   node bench/experiments/smapsReport.ts FILE [--top 20]
 *
 * Measurement only.
 */
import { readFileSync } from "node:fs"

interface Vma { readonly start: number; readonly end: number; readonly perms: string; readonly path: string; rss: number }

const file = process.argv[2]!
const topAt = process.argv.indexOf("--top")
const top = topAt < 0 ? 20 : Number(process.argv[topAt + 1])
const vmas: Array<Vma> = []
for (const line of readFileSync(file, "utf8").split("\n")) {
  const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
  if (header !== null) {
    vmas.push({ start: parseInt(header[1]!, 16), end: parseInt(header[2]!, 16), perms: header[3]!, path: header[4]!.trim(), rss: 0 })
    continue
  }
  const rss = /^Rss:\s+(\d+) kB/.exec(line)
  if (rss !== null) vmas[vmas.length - 1]!.rss = Number(rss[1]) * 1024
}

const MiB = 2 ** 20
const arenaSize = 64 * MiB
const kinds = new Map<string, number>()
const add = (kind: string, bytes: number) => kinds.set(kind, (kinds.get(kind) ?? 0) + bytes)
const anonymous: Array<Vma & { kind: string }> = []
for (let i = 0; i < vmas.length; i++) {
  const v = vmas[i]!
  const size = v.end - v.start
  let kind: string
  if (v.path.endsWith("/node")) kind = "node binary"
  else if (v.path === "[heap]") kind = "malloc main arena ([heap])"
  else if (v.path === "[stack]") kind = "main thread stack"
  else if (v.path !== "") kind = v.path.startsWith("/") && v.path.includes(".so") ? "shared libraries" : `file ${v.path.replace(/^.*\//, "")}`
  else if (v.start % arenaSize === 0 && v.perms.startsWith("rw") && vmas[i + 1]?.start === v.end && vmas[i + 1]!.perms === "---p" &&
    vmas[i + 1]!.end - v.start === arenaSize) kind = "malloc thread arenas (64 MiB heaps)"
  else if (v.perms.startsWith("rw") && size === 8 * MiB && vmas[i - 1]?.end === v.start && vmas[i - 1]!.perms === "---p") kind = "thread stacks (8 MiB)"
  else if (v.perms.includes("x")) kind = "anonymous executable (V8 code space)"
  else if (v.perms === "---p") kind = "reserved (---p)"
  else kind = `anonymous rw, mappings ${size >= 256 * 1024 && size % (256 * 1024) === 0 ? "of whole 256 KiB (V8 pages, large chunks)" : "other sizes"}`
  add(kind, v.rss)
  if (v.path === "" && v.rss > 0) anonymous.push({ ...v, kind })
}
const total = [...kinds.values()].reduce((a, b) => a + b, 0)
process.stdout.write(`resident ${(total / MiB).toFixed(1)} MiB\n`)
for (const [kind, bytes] of [...kinds.entries()].sort((a, b) => b[1] - a[1])) {
  if (bytes > 0) process.stdout.write(`${(bytes / MiB).toFixed(1).padStart(7)} MiB  ${kind}\n`)
}
process.stdout.write(`\nlargest anonymous mappings by resident size:\n`)
for (const v of anonymous.sort((a, b) => b.rss - a.rss).slice(0, top)) {
  process.stdout.write(`${(v.rss / MiB).toFixed(2).padStart(7)} MiB of ${((v.end - v.start) / MiB).toFixed(2).padStart(8)} MiB  ${v.perms}  ${v.start.toString(16)}  ${v.kind}\n`)
}
// Size histogram of anonymous rw mappings (mmapped malloc chunks are odd sizes; V8 pages 256 KiB multiples).
const bySize = new Map<string, [number, number]>()
for (const v of anonymous) {
  const size = v.end - v.start
  const bucket = size < 256 * 1024 ? "< 256 KiB" : size < MiB ? "256 KiB - 1 MiB" : size < 8 * MiB ? "1 - 8 MiB" : size < 64 * MiB ? "8 - 64 MiB" : ">= 64 MiB"
  const [n, rss] = bySize.get(bucket) ?? [0, 0]
  bySize.set(bucket, [n + 1, rss + v.rss])
}
process.stdout.write(`\nanonymous mappings with resident pages, by mapping size: ${[...bySize.entries()].map(([b, [n, rss]]) => `${b}: ${n} (${(rss / MiB).toFixed(1)} MiB)`).join(", ")}\n`)
