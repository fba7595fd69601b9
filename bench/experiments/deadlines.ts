/**
 * EXPERIMENT: a request deadline armed and cancelled the way the peer client does it, per request:
 * `setTimeout` + `clearTimeout` with the packet's own remaining time (a distinct duration per
 * request, as forwarded packets have), against `Deadlines.add` + `cancel` on one timer. 50
 * deadlines waiting at any time (the bench's concurrency); CPU ns and bytes allocated (sampling
 * heap profiler, collected objects included) per request.
 * `node bench/experiments/deadlines.ts [requests=300000]`
 */
import { Session } from "node:inspector"
import { Deadlines } from "../../src/Http/Deadlines.ts"

const requests = Number(process.argv[2] ?? 300_000)
const inFlight = 50
const noop = () => {}

const withTimers = (count: number) => {
  const waiting: Array<ReturnType<typeof setTimeout>> = []
  for (let i = 0; i < count; i++) {
    waiting.push(setTimeout(noop, 29_000 + (i % 997)))
    if (waiting.length > inFlight) clearTimeout(waiting.shift())
  }
  for (const timer of waiting) clearTimeout(timer)
}

const withDeadlines = (count: number) => {
  const deadlines = new Deadlines()
  const waiting: Array<ReturnType<Deadlines["add"]>> = []
  for (let i = 0; i < count; i++) {
    waiting.push(deadlines.add(29_000 + (i % 997), noop))
    if (waiting.length > inFlight) deadlines.cancel(waiting.shift()!)
  }
  for (const deadline of waiting) deadlines.cancel(deadline)
}

const session = new Session()
session.connect()
const measure = (name: string, run: (count: number) => void) =>
  new Promise<void>((resolve) => {
    run(50_000) // warm-up
    session.post("HeapProfiler.startSampling", { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    const cpu = process.cpuUsage()
    run(requests)
    const used = process.cpuUsage(cpu)
    session.post("HeapProfiler.getSamplingProfile", (error, result) => {
      if (error !== null) throw error
      session.post("HeapProfiler.stopSampling")
      interface Node { readonly selfSize: number; readonly children: ReadonlyArray<Node> }
      const total = (node: Node): number => node.selfSize + node.children.reduce((sum, child) => sum + total(child), 0)
      process.stdout.write(
        `${name}: ${((1000 * (used.user + used.system)) / requests).toFixed(0)} ns CPU, ` +
          `${(total(result.profile.head as unknown as Node) / requests).toFixed(0)} bytes per request\n`
      )
      resolve()
    })
  })

await measure("setTimeout + clearTimeout", withTimers)
await measure("Deadlines add + cancel   ", withDeadlines)
await measure("setTimeout + clearTimeout", withTimers)
await measure("Deadlines add + cancel   ", withDeadlines)
