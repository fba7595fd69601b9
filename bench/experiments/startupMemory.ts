/**
 * Where the node's memory goes before its first packet (issue 13, "Memory"):
 *
 * 1. Each package the node may load, imported alone into a fresh `node --expose-gc` (RSS and V8
 *    heap used after a full GC, minus an empty process), and cumulatively in the order below.
 * 2. The node itself (`src/main.ts`, embedded profile, the bench's config), once `/healthz`
 *    answers: RSS, V8 heap after a full GC, and which packages it loaded (bench/experiments/moduleTrace.ts).
 *
 *   node bench/experiments/startupMemory.ts [--node-flags "..."] [--skip-packages]
 *
 * Measurement only; numbers move a few MiB between runs.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { memoryOf, sleep } from "../common.ts"
import { startNode, writeConfig } from "../nodeProcess.ts"

const repo = new URL("../..", import.meta.url).pathname
const packages = [
  "effect",
  "@effect/platform-node",
  "@effect/sql-pg",
  "ioredis",
  "tigerbeetle-node",
  "undici",
  "@interledger/openapi",
  "@interledger/open-payments",
  "@interledger/http-signature-utils",
  "@interledger/pay",
  "@interledger/stream-receiver",
  "ilp-packet",
  "preact",
  "htm"
]

interface Sample {
  readonly rssMiB: number
  readonly heapUsedMiB: number
  readonly heapTotalMiB: number
}

const mib = (bytes: number) => bytes / 2 ** 20

const sampleImports = (specifiers: ReadonlyArray<string>): Sample => {
  const code = `${specifiers.map((s) => `await import(${JSON.stringify(s)});`).join("")}
await new Promise((r) => setTimeout(r, 50)); globalThis.gc(); globalThis.gc();
const m = process.memoryUsage(); process.stdout.write(JSON.stringify(m))`
  const out = execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", code], { cwd: repo, encoding: "utf8" })
  const m = JSON.parse(out) as NodeJS.MemoryUsage
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal) }
}

const fmt = (n: number) => n.toFixed(1).padStart(7)

const args = process.argv.slice(2)
const flagsAt = args.indexOf("--node-flags")
const nodeFlags = flagsAt < 0 ? ["--max-semi-space-size=8", "--heap-growing-percent=50"] : args[flagsAt + 1]!.split(" ").filter(Boolean)

if (!args.includes("--skip-packages")) {
  const empty = sampleImports([])
  process.stdout.write(`empty process: RSS ${fmt(empty.rssMiB)} MiB, heap used ${fmt(empty.heapUsedMiB)} MiB\n\n`)
  process.stdout.write("package                              alone: +RSS  +heap | cumulative: RSS   heap\n")
  for (let i = 0; i < packages.length; i++) {
    const alone = sampleImports([packages[i]!])
    const cumulative = sampleImports(packages.slice(0, i + 1))
    process.stdout.write(
      `${packages[i]!.padEnd(36)} ${fmt(alone.rssMiB - empty.rssMiB)} ${fmt(alone.heapUsedMiB - empty.heapUsedMiB)} |` +
        ` ${fmt(cumulative.rssMiB)} ${fmt(cumulative.heapUsedMiB)}\n`
    )
  }
}

// The node itself, embedded profile, as the bench configures it.
const dir = mkdtempSync(join(tmpdir(), "startup-memory-"))
const traceFile = join(dir, "trace.json")
try {
  const setup = await writeConfig(dir, "http://127.0.0.1:9/ilp")
  const node = await startNode(setup, {
    nodeFlags: ["--expose-gc", "--import", join(repo, "bench/experiments/moduleTrace.ts"), ...nodeFlags],
    env: { MODULE_TRACE_FILE: traceFile }
  })
  try {
    const before = memoryOf(node.pid)
    process.kill(node.pid, "SIGUSR2")
    let trace: { packages: Record<string, number>; chains: Record<string, Array<string>>; memory: NodeJS.MemoryUsage } | undefined
    for (let i = 0; i < 100 && trace === undefined; i++) {
      await sleep(100)
      try {
        trace = JSON.parse(readFileSync(traceFile, "utf8"))
      } catch { /* not yet */ }
    }
    if (trace === undefined) throw new Error("the node wrote no trace")
    process.stdout.write(`\nnode up (embedded, flags ${nodeFlags.join(" ")}): RSS ${before?.rssMiB.toFixed(1)} MiB` +
      ` (peak ${before?.peakRssMiB.toFixed(1)}); after a full GC: RSS ${mib(trace.memory.rss).toFixed(1)} MiB,` +
      ` heap used ${mib(trace.memory.heapUsed).toFixed(1)} / total ${mib(trace.memory.heapTotal).toFixed(1)} MiB,` +
      ` external ${mib(trace.memory.external).toFixed(1)} MiB\n`)
    process.stdout.write(`packages loaded (files): ${Object.entries(trace.packages).sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p} ${n}`).join(", ")}\n`)
    // Resident memory by mapping: the node binary (its code and embedded ICU data), malloc's main
    // arena ([heap]), anonymous mappings (V8's heap, other malloc arenas, WebAssembly memory).
    const groups: Record<string, number> = {}
    let name = ""
    for (const line of readFileSync(`/proc/${node.pid}/smaps`, "utf8").split("\n")) {
      const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
      if (header !== null) name = header[1]!.trim() === "" ? "(anonymous)" : header[1]!.trim()
      const rss = /^Rss:\s+(\d+) kB/.exec(line)
      if (rss !== null) groups[name] = (groups[name] ?? 0) + Number(rss[1])
    }
    process.stdout.write(`resident by mapping: ${Object.entries(groups).sort((a, b) => b[1] - a[1]).slice(0, 5)
      .map(([n, kib]) => `${n} ${(kib / 1024).toFixed(1)} MiB`).join(", ")}\n`)
    if (args.includes("--chains")) {
      for (const [name, chain] of Object.entries(trace.chains)) process.stdout.write(`  ${name}: ${chain.join(" > ")}\n`)
    }
  } finally {
    await node.stop(10_000)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
