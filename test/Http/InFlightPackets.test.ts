/**
 * The listener's packets in flight (src/Http/InFlightPackets.ts): against a model (a Map of live
 * slots), after any sequence of adds and deletes it holds exactly the items added and not deleted,
 * a repeated delete changes nothing, and its slots never outnumber the most items in flight at once
 * (a finished packet's slot is reused, so the array is bounded by the listener's concurrency).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { InFlightPackets } from "../../src/Http/InFlightPackets.ts"

describe("InFlightPackets", () => {
  it("holds exactly what was added and not deleted; slots bounded by the peak in flight", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant<"add">("add"), fc.nat({ max: 1_000 })), { maxLength: 300 }),
        (steps) => {
          const inFlight = new InFlightPackets<{ readonly n: number }>()
          const model = new Map<number, { readonly n: number }>()
          const deleted: Array<number> = []
          let peak = 0
          let next = 0
          for (const step of steps) {
            if (step === "add") {
              const item = { n: next++ }
              const slot = inFlight.add(item)
              expect(model.has(slot)).toBe(false)
              model.set(slot, item)
              peak = Math.max(peak, model.size)
            } else {
              const live = [...model.keys()]
              // Deletes a live slot, or repeats an earlier delete (which must change nothing).
              const slot = live.length > 0 && (step % 3 !== 0 || deleted.length === 0) ?
                live[step % live.length]! :
                deleted[step % Math.max(1, deleted.length)]
              if (slot === undefined) continue
              inFlight.delete(slot)
              model.delete(slot)
              deleted.push(slot)
            }
            expect(inFlight.size).toBe(model.size)
          }
          const byN = (a: { readonly n: number }, b: { readonly n: number }) => a.n - b.n
          expect(inFlight.values().sort(byN)).toEqual([...model.values()].sort(byN))
          expect(inFlight.capacity).toBe(peak)
        }
      )
    )
  })

  it("reuses a finished packet's slot", () => {
    const inFlight = new InFlightPackets<string>()
    const a = inFlight.add("a")
    inFlight.add("b")
    inFlight.delete(a)
    expect(inFlight.add("c")).toBe(a)
    expect(inFlight.values().sort()).toEqual(["b", "c"])
    expect(inFlight.capacity).toBe(2)
  })
})
