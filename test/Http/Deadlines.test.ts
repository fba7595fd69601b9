/**
 * The peer client's deadlines on one timer (src/Http/Deadlines.ts): each fires once, never before
 * its delay on the monotonic clock, in deadline order; a cancelled one never fires and leaves at
 * once (the heap holds only what waits); the timer is gone when nothing waits.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Deadlines } from "../../src/Http/Deadlines.ts"

/** Resolves once `done()` is true, polling; fails after a generous bound (a loaded machine). */
const until = (done: () => boolean, boundMs = 20_000) =>
  new Promise<void>((resolve, reject) => {
    const started = Date.now()
    const poll = () => {
      if (done()) return resolve()
      if (Date.now() - started > boundMs) return reject(new Error("condition not reached"))
      setTimeout(poll, 5)
    }
    poll()
  })

describe("Deadlines", () => {
  it("fires every deadline once, not early, in order; cancelled ones never", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ delayMs: fc.integer({ min: 0, max: 40 }), cancel: fc.boolean() }), { minLength: 1, maxLength: 60 }),
        async (specs) => {
          const deadlines = new Deadlines()
          const fired: Array<{ readonly i: number; readonly at: number; readonly late: number }> = []
          const entries = specs.map((spec, i) => {
            const entry = deadlines.add(spec.delayMs, () => fired.push({ i, at: entry.at, late: performance.now() - entry.at }))
            return entry
          })
          specs.forEach((spec, i) => {
            if (spec.cancel) deadlines.cancel(entries[i]!)
          })
          const expected = specs.filter((spec) => !spec.cancel).length
          expect(deadlines.size).toBe(expected)
          await until(() => fired.length >= expected)
          await new Promise((resolve) => setTimeout(resolve, 50)) // nothing more may fire
          expect(fired.map((f) => f.i).sort((a, b) => a - b)).toEqual(
            specs.flatMap((spec, i) => spec.cancel ? [] : [i])
          )
          for (const f of fired) expect(f.late).toBeGreaterThanOrEqual(0)
          for (let k = 1; k < fired.length; k++) expect(fired[k]!.at).toBeGreaterThanOrEqual(fired[k - 1]!.at)
          expect(deadlines.size).toBe(0)
          for (const entry of entries) deadlines.cancel(entry) // a no-op once fired or cancelled
          expect(deadlines.size).toBe(0)
        }
      ),
      { numRuns: 15 }
    )
  })

  it("cancelling leaves the heap at once, in any order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 60_000, max: 120_000 }), { maxLength: 200 }), fc.infiniteStream(fc.nat()), (delays, picks) => {
        const deadlines = new Deadlines()
        const waiting = delays.map((delay) => deadlines.add(delay, () => expect.unreachable("must not fire")))
        const picked = picks[Symbol.iterator]()
        while (waiting.length > 0) {
          const [entry] = waiting.splice(picked.next().value! % waiting.length, 1)
          deadlines.cancel(entry!)
          expect(deadlines.size).toBe(waiting.length)
        }
        expect(deadlines.size).toBe(0)
      })
    )
  })

  it("a NaN or negative delay fires at once; a delay past Node's timer bound waits, without a busy timer", async () => {
    // Node warns (TimeoutOverflowWarning) for each delay past its bound, then runs it after 1 ms.
    const warnings: Array<string> = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on("warning", onWarning)
    const deadlines = new Deadlines()
    const fired: Array<string> = []
    const far = deadlines.add(3e9, () => fired.push("far"))
    deadlines.add(Number.NaN, () => fired.push("nan"))
    deadlines.add(-5, () => fired.push("negative"))
    await until(() => fired.length >= 2)
    expect(fired.sort()).toEqual(["nan", "negative"])
    // Node would run a 3e9 ms setTimeout after 1 ms; the far deadline must still be waiting.
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(fired).toHaveLength(2)
    expect(deadlines.size).toBe(1)
    deadlines.cancel(far)
    expect(deadlines.size).toBe(0)
    process.off("warning", onWarning)
    expect(warnings).not.toContain("TimeoutOverflowWarning")
  })

  it("a deadline added from inside a firing callback does not delay an earlier one already waiting", async () => {
    const deadlines = new Deadlines()
    const fired: Array<string> = []
    let far: ReturnType<Deadlines["add"]> | undefined
    deadlines.add(0, () => {
      fired.push("first")
      far = deadlines.add(60_000, () => fired.push("far"))
    })
    deadlines.add(40, () => fired.push("near"))
    const started = performance.now()
    await until(() => fired.includes("near"), 10_000)
    // Before the fix the timer stayed armed for the far deadline (60 s): "near" never came in time.
    expect(performance.now() - started).toBeLessThan(10_000)
    expect(fired).toEqual(["first", "near"])
    deadlines.cancel(far!)
    expect(deadlines.size).toBe(0)
  })
})
