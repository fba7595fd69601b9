/**
 * The machine's speed while a run goes on: a child process that every `PERIOD_MS` does one fixed
 * unit of JavaScript work (objects, a Map, string building, a small sha256: the node's kind of
 * work, ~0.3 ms) and times it with the wall clock. (A thread's CPU clock is not readable at this
 * grain here: getrusage and /proc's sum_exec_runtime move at the scheduler's tick.) A unit is
 * rarely preempted, so the median of a run's units is the time the unit takes on a CPU. The same
 * unit, same count, all sitting long: if it takes longer in one run than in another, the machine
 * (host contention on the physical core, frequency, caches shared with the other processes) made
 * everything dearer, not the code under test. Its duty cycle (~0.5 % of a core) is the same in every
 * mode, so it perturbs every mode alike.
 *
 * IPC: the parent sends "read"; the probe answers with the units timed since the previous read
 * (`{ wallUs: number[] }`) and starts a new list.
 *
 * Usage: forked by `machine.ts` (`startCpuProbe`); stands alone as `node bench/cpuProbe.ts` (prints
 * one line per second).
 */
import { createHash } from "node:crypto"

const PERIOD_MS = 50
/** Iterations of the unit's inner loop: fixed, so a unit is the same work in every run. */
const ITERATIONS = 1_200

let sink = 0
const unit = (): void => {
  const map = new Map<string, { a: number; b: string }>()
  let text = ""
  for (let i = 0; i < ITERATIONS; i++) {
    const key = `k${i % 97}`
    const entry = map.get(key) ?? { a: 0, b: key }
    entry.a += i
    map.set(key, entry)
    text = i % 16 === 0 ? "" : text + key
  }
  const hash = createHash("sha256")
  for (let i = 0; i < 8; i++) hash.update(text)
  sink += hash.digest()[0]! + map.size
}

let wallUs: Array<number> = []
const tick = () => {
  const wall0 = process.hrtime.bigint()
  unit()
  wallUs.push(Number(process.hrtime.bigint() - wall0) / 1000)
  if (wallUs.length > 100_000) wallUs = wallUs.slice(-50_000)
}
// Warm the unit up (optimised code) before the first timed one.
for (let i = 0; i < 200; i++) unit()
setInterval(tick, PERIOD_MS)

if (process.send !== undefined) {
  process.on("message", (message) => {
    if (message !== "read") return
    process.send!({ wallUs, sink: sink % 2 })
    wallUs = []
  })
  process.send("ready")
  process.on("disconnect", () => process.exit(0))
} else {
  setInterval(() => {
    const wall = [...wallUs].sort((a, b) => a - b)
    process.stdout.write(`units ${wall.length} µs: median ${wall[wall.length >> 1]?.toFixed(0)}, fastest ${wall[0]?.toFixed(0)}\n`)
    wallUs = []
  }, 1_000)
}
