/**
 * Incoming payment records remembered in memory, for a store this process is the only writer of
 * (the embedded SQLite store: `DataDirLock.ts` holds the data directory). The local STREAM receiver
 * reads an open payment's record on every packet (`ReceiverDirectory.ts`); with one writer, the
 * record read last is the record until this process writes it again, so the read can come from
 * memory without changing what any packet sees.
 *
 * Exactness: every write to an incoming payment goes through this repository (`insert`,
 * `transition`), which forgets the record before and after the write; a read that raced with any
 * write (the write counter moved while it read) is answered but not remembered. Records are
 * immutable values: a hit returns the very object the store returned. Expiry is not a write: the
 * state of an overdue record is computed from the clock on every read (`IncomingPayments.get`).
 *
 * NOT for a store shared by several instances (PostgreSQL): there another instance's completion
 * must be seen at once, so every packet reads the store.
 *
 * Bounded: at most `recordsCachedMax` records; beyond it the oldest-inserted is forgotten.
 */
import * as Effect from "effect/Effect"
import type { IncomingPaymentRecord, IncomingPaymentRepository } from "./Store.ts"

/** Incoming payment records kept in memory. */
export const recordsCachedMax = 10_000

export const cachedIncomingPayments = (
  repository: IncomingPaymentRepository,
  entriesMax: number = recordsCachedMax
): IncomingPaymentRepository => {
  const records = new Map<string, IncomingPaymentRecord>()
  let writes = 0
  const forget = (id: string) => {
    writes++
    records.delete(id)
  }
  const remember = (record: IncomingPaymentRecord) => {
    if (records.size >= entriesMax && !records.has(record.id)) {
      const oldest = records.keys().next()
      if (!oldest.done) records.delete(oldest.value)
    }
    records.set(record.id, record)
  }
  const writing = <A>(id: string, write: Effect.Effect<A>): Effect.Effect<A> =>
    Effect.suspend(() => {
      forget(id)
      return Effect.ensuring(write, Effect.sync(() => forget(id)))
    })
  return {
    insert: (record) => writing(record.id, repository.insert(record)),
    transition: (id, change) => writing(id, repository.transition(id, change)),
    byId: (id) =>
      Effect.suspend(() => {
        const known = records.get(id)
        if (known !== undefined) return Effect.succeed(known)
        const writesBefore = writes
        return Effect.map(repository.byId(id), (record) => {
          if (record !== undefined && writes === writesBefore) remember(record)
          return record
        })
      }),
    page: repository.page,
    overdue: repository.overdue
  }
}
