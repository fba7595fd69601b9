/**
 * EXPERIMENT: where a node under the bench allocates. Two uses:
 *
 * - Preload (`--import`): starts V8's sampling heap profiler through an in-process inspector
 *   session, counting objects later collected by minor and major GCs too (so it samples every
 *   allocation, not only what survives), and writes `alloc-<pid>.heapprofile` into
 *   `$ALLOC_PROFILE_DIR` when the process exits:
 *   `npm run bench -- --modes forward,forward-tb --node-flags "--max-semi-space-size=8 --heap-growing-percent=50 --import $PWD/bench/experiments/allocationSampler.ts"`
 * - Summary: `node bench/experiments/allocationSampler.ts FILE [packets]` prints the bytes sampled
 *   by function (self) and by file, largest first, per packet when `packets` is given.
 *
 * The profile covers the process's whole life (start-up included): compare nodes that ran the same
 * number of rounds, or divide by the packets each handled.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<ProfileNode>
}

const summarize = (file: string, packets: number | undefined) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as { head: ProfileNode }
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let total = 0
  const walk = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame
    const short = url.replace(/^file:\/\/.*?\/(src|node_modules|bench)\//, "$1/")
    const key = `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize)
    const area = short === "" ? "(native/internal)" : short.replace(/^(node_modules\/(@[^/]+\/)?[^/]+)\/.*$/, "$1")
    byFile.set(area, (byFile.get(area) ?? 0) + node.selfSize)
    total += node.selfSize
    for (const child of node.children) walk(child)
  }
  walk(profile.head)
  const unit = (bytes: number) => packets === undefined ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / packets).toFixed(0)} B/pkt`
  const top = (map: Map<string, number>, n: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${unit(v).padStart(12)}  ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`)
  process.stdout.write(`${file}: ${unit(total)} sampled\nby file:\n${top(byFile, 25).join("\n")}\nby function (self):\n${top(byFunction, 40).join("\n")}\n`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const packets = process.argv[3] === undefined ? undefined : Number(process.argv[3])
  summarize(process.argv[2]!, packets)
} else {
  const session = new Session()
  session.connect()
  session.post("HeapProfiler.enable")
  session.post("HeapProfiler.startSampling", {
    samplingInterval: Number(process.env["ALLOC_SAMPLING_INTERVAL"] ?? 16_384),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true
  } as never)
  process.on("exit", () => {
    session.post("HeapProfiler.stopSampling", (error, result) => {
      if (error !== null) return
      try {
        writeFileSync(join(process.env["ALLOC_PROFILE_DIR"] ?? tmpdir(), `alloc-${process.pid}.heapprofile`), JSON.stringify(result.profile))
      } catch {
        // best effort
      }
    })
  })
}
