/**
 * The embedded store's in-memory incoming payment records: a hit is the record last read, every
 * write forgets it, a read that raced with a write is not remembered, and the number kept is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { cachedIncomingPayments } from "../../src/Payments/IncomingPaymentsCache.ts"
import type { IncomingPaymentRecord, IncomingPaymentRepository } from "../../src/Payments/Store.ts"

const record = (id: string, state: IncomingPaymentRecord["state"] = "pending"): IncomingPaymentRecord => ({
  id,
  walletAddressId: "w",
  incomingAmount: 100n,
  expiresAt: null,
  metadata: null,
  state,
  createdAt: 1,
  completedAt: null
})

/** A repository over a Map that counts its reads; `beforeRead` runs between reading and answering. */
const fakeRepository = () => {
  const rows = new Map<string, IncomingPaymentRecord>()
  const counts = { reads: 0 }
  let beforeAnswer: Effect.Effect<void> = Effect.void
  const repository: IncomingPaymentRepository = {
    insert: (r) => Effect.sync(() => void rows.set(r.id, r)),
    byId: (id) =>
      Effect.suspend(() => {
        counts.reads++
        const found = rows.get(id)
        return Effect.as(beforeAnswer, found)
      }),
    page: () => Effect.succeed([...rows.values()]),
    transition: (id, change) =>
      Effect.sync(() => {
        const current = rows.get(id)
        if (current === undefined || !change.from.includes(current.state)) return false
        rows.set(id, { ...current, state: change.to, completedAt: change.completedAt })
        return true
      }),
    overdue: () => Effect.succeed([])
  }
  return { repository, counts, setBeforeAnswer: (effect: Effect.Effect<void>) => void (beforeAnswer = effect) }
}

describe("cachedIncomingPayments", () => {
  it.effect("answers the record last read without reading again; a transition is seen at once", () =>
    Effect.gen(function*() {
      const fake = fakeRepository()
      const cached = cachedIncomingPayments(fake.repository)
      yield* cached.insert(record("a"))
      const first = yield* cached.byId("a")
      expect(yield* cached.byId("a")).toBe(first)
      expect(fake.counts.reads).toBe(1)
      expect(yield* cached.transition("a", { from: ["pending"], to: "cancelled", completedAt: 5 })).toBe(true)
      expect(yield* cached.byId("a")).toMatchObject({ state: "cancelled", completedAt: 5 })
      expect(fake.counts.reads).toBe(2)
      // A refused transition forgets too (harmless: the next read is fresh).
      expect(yield* cached.transition("a", { from: ["pending"], to: "completed", completedAt: 6 })).toBe(false)
      expect(yield* cached.byId("a")).toMatchObject({ state: "cancelled" })
      expect(fake.counts.reads).toBe(3)
      // Unknown ids are not remembered.
      expect(yield* cached.byId("none")).toBeUndefined()
      yield* cached.insert(record("none"))
      expect(yield* cached.byId("none")).toMatchObject({ id: "none" })
    }))

  it.effect("a read that raced with a write is answered but not remembered", () =>
    Effect.gen(function*() {
      const fake = fakeRepository()
      const cached = cachedIncomingPayments(fake.repository)
      yield* cached.insert(record("a"))
      const readTaken = yield* Deferred.make<void>()
      const proceed = yield* Deferred.make<void>()
      fake.setBeforeAnswer(Effect.andThen(Deferred.succeed(readTaken, undefined), Deferred.await(proceed)))
      const reader = yield* Effect.forkChild(cached.byId("a"))
      yield* Deferred.await(readTaken)
      // The write lands after the reader read the old row and before it answers.
      fake.setBeforeAnswer(Effect.void)
      expect(yield* cached.transition("a", { from: ["pending"], to: "completed", completedAt: 9 })).toBe(true)
      yield* Deferred.succeed(proceed, undefined)
      expect(yield* Fiber.join(reader)).toMatchObject({ state: "pending" })
      expect(yield* cached.byId("a")).toMatchObject({ state: "completed" })
    }))

  it.effect("keeps at most its bound of records, forgetting the oldest", () =>
    Effect.gen(function*() {
      const fake = fakeRepository()
      const cached = cachedIncomingPayments(fake.repository, 2)
      for (const id of ["a", "b", "c"]) yield* fake.repository.insert(record(id))
      for (const id of ["a", "b", "c"]) yield* cached.byId(id)
      expect(fake.counts.reads).toBe(3)
      yield* cached.byId("c")
      yield* cached.byId("b")
      expect(fake.counts.reads).toBe(3)
      yield* cached.byId("a")
      expect(fake.counts.reads).toBe(4)
    }))
})
