/**
 * `Slots` (src/Slots.ts: the listener's packets in flight, the embedded ledger's cached pending
 * transfers): against a model (a Map of live slots), after any sequence of adds, deletes and
 * replacements it holds exactly the items added and not deleted, each in its slot, a repeated
 * delete changes nothing, and its slots never outnumber the most items held at once (a deleted
 * item's slot is reused, so the array is bounded by what the owner holds).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Slots } from "../src/Slots.ts"

describe("Slots", () => {
  it("holds exactly what was added and not deleted; slots bounded by the peak in flight", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant<"add">("add"), fc.constant<"set">("set"), fc.nat({ max: 1_000 })), { maxLength: 300 }),
        (steps) => {
          const inFlight = new Slots<{ readonly n: number }>()
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
            } else if (step === "set") {
              // Replaces the item in a live slot; a deleted (and not reused) slot stays empty.
              const item = { n: next++ }
              const live = [...model.keys()]
              const slot = live.at(-1)
              if (slot !== undefined) {
                inFlight.set(slot, item)
                model.set(slot, item)
              }
              const gone = deleted.at(-1)
              if (gone !== undefined && !model.has(gone)) inFlight.set(gone, item)
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
          for (const [slot, item] of model) expect(inFlight.get(slot)).toBe(item)
          for (const slot of deleted) if (!model.has(slot)) expect(inFlight.get(slot)).toBeUndefined()
          const byN = (a: { readonly n: number }, b: { readonly n: number }) => a.n - b.n
          expect(inFlight.values().sort(byN)).toEqual([...model.values()].sort(byN))
          expect(inFlight.capacity).toBe(peak)
        }
      )
    )
  })

  it("reuses a deleted item's slot; clear forgets every item and slot", () => {
    const inFlight = new Slots<string>()
    const a = inFlight.add("a")
    inFlight.add("b")
    inFlight.delete(a)
    expect(inFlight.add("c")).toBe(a)
    expect(inFlight.values().sort()).toEqual(["b", "c"])
    expect(inFlight.capacity).toBe(2)
    inFlight.clear()
    expect([inFlight.size, inFlight.capacity, inFlight.values()]).toEqual([0, 0, []])
    expect(inFlight.add("d")).toBe(0)
  })
})
