/**
 * EXPERIMENT: the peer client's response parser on the reply a `node:http` peer sends to a
 * forwarded packet (status line, five header fields, a 40-byte body), parsed N times: CPU ns per
 * reply and, with the sampling heap profiler (collected objects included), bytes allocated per
 * reply. `node bench/experiments/responseHead.ts [checkout=.] [replies=300000]`: pass another
 * checkout's root to measure its parser (before/after in one sitting).
 */
import { Session } from "node:inspector"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"

const root = resolve(process.argv[2] ?? ".")
const replies = Number(process.argv[3] ?? 300_000)
const { ResponseParser } = await import(pathToFileURL(resolve(root, "src/Http/Http1Response.ts")).href) as typeof import("../../src/Http/Http1Response.ts")

const reply = Buffer.concat([
  Buffer.from(
    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 40\r\n" +
      `Date: ${new Date().toUTCString()}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n`,
    "latin1"
  ),
  Buffer.alloc(40, 7)
])

const run = (count: number) => {
  let statuses = 0
  for (let i = 0; i < count; i++) {
    const parser = new ResponseParser()
    if (parser.feed(reply) !== "done") throw new Error("reply not parsed")
    statuses += parser.status + parser.body.length
  }
  return statuses
}

run(50_000) // warm-up
const session = new Session()
session.connect()
session.post("HeapProfiler.startSampling", { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
const cpu = process.cpuUsage()
run(replies)
const used = process.cpuUsage(cpu)
session.post("HeapProfiler.getSamplingProfile", (error, result) => {
  if (error !== null) throw error
  interface Node { readonly selfSize: number; readonly children: ReadonlyArray<Node> }
  const total = (node: Node): number => node.selfSize + node.children.reduce((sum, child) => sum + total(child), 0)
  process.stdout.write(
    `${root}: ${replies} replies, ${((1000 * (used.user + used.system)) / replies).toFixed(0)} ns CPU and ` +
      `${(total(result.profile.head as unknown as Node) / replies).toFixed(0)} bytes allocated per reply (parser object included)\n`
  )
})
