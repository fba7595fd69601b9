/**
 * EXPERIMENT: reads a sampling heap profile written by `bench/experiments/allocSampler.ts` (or any
 * `.heapprofile`) and prints the bytes allocated per packet: in all, by area (our src/ files,
 * effect, node internals, ...), by allocating function, and by the nearest of our own frames
 * (`src/...`) on the allocation's stack, which puts Effect's and Node's allocations on the line of
 * ours that caused them.
 *
 * Usage: node bench/experiments/allocReport.ts FILE.heapprofile [top] [packets] [pattern]
 * (`packets` defaults to the `packets` of the `.json` written beside the profile; with `pattern`,
 * also the stacks, 6 frames deep, of the allocating functions whose label contains it.)
 */
import { existsSync, readFileSync } from "node:fs"
import { areaOf, shortUrl } from "../profile.ts"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface Node {
  readonly callFrame: CallFrame
  readonly selfSize: number
  readonly children: ReadonlyArray<Node>
}

const label = (frame: CallFrame) => `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`

const file = process.argv[2]
if (file === undefined) {
  process.stderr.write("usage: node bench/experiments/allocReport.ts FILE.heapprofile [top] [packets]\n")
  process.exit(2)
}
const top = Number(process.argv[3] ?? 30)
const sidecar = file.replace(/\.heapprofile$/, ".json")
const meta = existsSync(sidecar) ? JSON.parse(readFileSync(sidecar, "utf8")) as Record<string, unknown> : {}
const packets = Number(process.argv[4] ?? meta["packets"] ?? 1)
const profile = JSON.parse(readFileSync(file, "utf8")) as { head: Node }

const byArea = new Map<string, number>()
const byFunction = new Map<string, number>()
const byOwnFrame = new Map<string, number>()
let total = 0
const add = (map: Map<string, number>, key: string, bytes: number) => map.set(key, (map.get(key) ?? 0) + bytes)

const pattern = process.argv[5]
const byStack = new Map<string, number>()
const path: Array<string> = []

const walk = (node: Node, own: string | undefined) => {
  const here = shortUrl(node.callFrame.url).startsWith("src/") ? label(node.callFrame) : own
  path.push(label(node.callFrame))
  if (pattern !== undefined && node.selfSize > 0 && path[path.length - 1]!.includes(pattern)) {
    add(byStack, path.slice(-6).reverse().join("\n      <- "), node.selfSize)
  }
  if (node.selfSize > 0) {
    total += node.selfSize
    add(byArea, areaOf(node.callFrame), node.selfSize)
    add(byFunction, label(node.callFrame), node.selfSize)
    add(byOwnFrame, here ?? "(no src/ frame)", node.selfSize)
  }
  for (const child of node.children) walk(child, here)
  path.pop()
}
walk(profile.head, undefined)

const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title}:\n`)
  for (const [name, bytes] of [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(
      `${(bytes / packets).toFixed(0).padStart(7)} B/pkt ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${name}\n`
    )
  }
}

process.stdout.write(
  `${packets} packets, ${(total / 2 ** 20).toFixed(1)} MiB allocated (estimate), ${(total / packets).toFixed(0)} B per packet\n`
)
if (meta["gcs"] !== undefined) process.stdout.write(`window: ${JSON.stringify(meta)}\n`)
print("by area", byArea)
print("by allocating function", byFunction)
print("by nearest src/ frame on the stack", byOwnFrame)
if (pattern !== undefined) print(`stacks of ${pattern}`, byStack)
