import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { layerMemory } from "../../src/Stream/ReceiptTotalsMemory.ts"
import { receiptTotalsContract } from "./ReceiptTotalsContract.ts"

receiptTotalsContract("memory", (connectionTtlSeconds) => layerMemory({ connectionTtlSeconds }), "test")

describe("ReceiptTotals.layerMemory", () => {
  it.effect("is unavailable, not refusing, when full", () =>
    Effect.gen(function*() {
      const totals = yield* ReceiptTotals
      yield* totals.add({ connectionKey: "a", amount: 1n })
      yield* totals.add({ connectionKey: "b", amount: 1n })
      const error = yield* Effect.flip(totals.add({ connectionKey: "c", amount: 1n }))
      expect(error._tag).toBe("ReceiptStoreUnavailable")
      expect(yield* totals.add({ connectionKey: "a", amount: 1n })).toEqual({ accepted: true, connectionTotal: 2n })
    }).pipe(Effect.provide(layerMemory({ entriesMax: 2 }))))
})
