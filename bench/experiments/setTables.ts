/**
 * EXPERIMENT: what a long-lived `Set` with an add and a delete per item promotes, against
 * `Slots` (src/Slots.ts), in isolation. 50 items in flight (each ~1 KB,
 * as a packet's fiber with its exit), 200 000 of them in all, a scavenge forced every 400 (as the
 * node's ~25 ms at ~12 000 packets/s), and the old generation's growth measured while no
 * mark-compact runs. A third run keeps small integers in the old `Set` instead (nothing for a
 * dead table to keep alive): what grows then is the tables themselves, which V8 allocates in the
 * old generation when the table they replace is there:
 *
 *   node --expose-gc --max-semi-space-size=8 bench/experiments/setTables.ts
 *
 * Measurement only.
 */
import { PerformanceObserver, constants } from "node:perf_hooks"
import { getHeapSpaceStatistics } from "node:v8"
import { Slots } from "../../src/Slots.ts"

const gc = (globalThis as { gc?: (options?: { type: string; execution: string }) => void }).gc
if (gc === undefined) throw new Error("run with --expose-gc")

let majors = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if ((entry as unknown as { detail: { kind: number } }).detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++
  }
}).observe({ entryTypes: ["gc"] })

const oldUsed = () => {
  let bytes = 0
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name === "old_space" || space.space_name === "large_object_space") bytes += space.space_used_size
  }
  return bytes
}

interface Tracker {
  readonly add: (item: object) => number
  readonly remove: (item: object, slot: number) => void
}

const run = (name: string, tracker: Tracker) => {
  const items = 200_000
  const inFlight = 50
  const window: Array<{ item: object; slot: number }> = []
  gc({ type: "major", execution: "sync" })
  // The tracker (and its table) is old, as a listener's set is after its first seconds.
  gc({ type: "minor", execution: "sync" })
  gc({ type: "minor", execution: "sync" })
  const majorsBefore = majors
  const before = oldUsed()
  for (let i = 0; i < items; i++) {
    const item = { payload: new Array(120).fill(i), exit: { value: { data: new Uint8Array(64) } } }
    window.push({ item, slot: tracker.add(item) })
    if (window.length > inFlight) {
      const done = window.shift()!
      tracker.remove(done.item, done.slot)
    }
    if (i % 400 === 0) gc({ type: "minor", execution: "sync" })
  }
  const grown = oldUsed() - before
  process.stdout.write(
    `${name.padEnd(16)} old generation +${(grown / 2 ** 20).toFixed(1)} MiB (${(grown / items).toFixed(0)} B per item), mark-compacts meanwhile: ${majors - majorsBefore}\n`
  )
}

const set = new Set<object>()
run("Set", { add: (item) => (set.add(item), 0), remove: (item) => void set.delete(item) })
// The tables alone: an old Set of small integers (nothing for a dead table to keep alive).
let nextId = 0
const smallInts = new Set<number>()
run("Set of integers", {
  add: () => {
    const id = nextId++
    smallInts.add(id)
    return id
  },
  remove: (_item, id) => void smallInts.delete(id)
})
const slots = new Slots<object>()
run("Slots", { add: (item) => slots.add(item), remove: (_item, slot) => slots.delete(slot) })
