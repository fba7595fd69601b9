import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import fc from "fast-check"
import { statSync } from "node:fs"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { type AccountBalance, Ledger, type TransferSpec } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { balanceOf, cmned, createAccounts, dmnec, eventually, fund, noFlags, transferSpec } from "../support/ledgerFixtures.ts"
import { ledgerContract } from "./LedgerContract.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

ledgerContract("sqlite (:memory:)", () => LedgerSqlite.layer({ filename: ":memory:" }))

const contractDir = makeTempDir("ledger-contract-")
afterAll(() => removeTempDir(contractDir))
ledgerContract("sqlite (file, WAL)", () => LedgerSqlite.layer({ filename: join(contractDir, "ledger.db") }))

const withTempDir = <A, E, R>(f: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeTempDir("ledger-")),
    f,
    (dir) => Effect.sync(() => removeTempDir(dir))
  )

const L = 7

describe("LedgerSqlite", () => {
  it.live("expires each reservation at its own timeout, whatever order they were made in (expiry watermark)", () =>
    Effect.provide(
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 100n)
        const late = transferSpec(L, from!, to!, 10n)
        const early = transferSpec(L, from!, to!, 20n)
        yield* ledger.reserve([late], 5)
        yield* ledger.reserve([early], 1) // later, but due first: must lower the watermark
        yield* Effect.sleep("1300 millis")
        // The post's batch expires what is due first; `early` must be released, not just refused.
        expect((yield* Effect.flip(ledger.post([early.id])))._tag).toBe("PendingExpired")
        yield* ledger.post([late.id])
        expect(yield* balanceOf(to!)).toEqual({ id: to!, debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 10n })
      }),
      LedgerSqlite.layer({ filename: ":memory:" })
    ), 10_000)

  it.live("answers a batch's reservations before its posts (the reserved packet goes on first)", () =>
    Effect.provide(
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 100n)
        const held = transferSpec(L, from!, to!, 10n)
        yield* ledger.reserve([held], 60)
        const answered: Array<string> = []
        // Queued in this order, in one turn: the writer takes both into one batch.
        yield* Effect.all([
          Effect.tap(ledger.post([held.id]), () => Effect.sync(() => answered.push("post"))),
          Effect.tap(ledger.reserve([transferSpec(L, from!, to!, 20n)], 60), () => Effect.sync(() => answered.push("reserve")))
        ], { concurrency: "unbounded" })
        expect(answered).toEqual(["reserve", "post"])
        expect((yield* balanceOf(to!)).creditsPosted).toBe(10n)
        expect((yield* balanceOf(to!)).creditsPending).toBe(20n)
      }),
      LedgerSqlite.layer({ filename: ":memory:" })
    ))

  it.live("checkpoints the WAL between batches every checkpointFrames frames: the WAL file stays that small", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "ledger.db")
        const checkpointFrames = 100
        const walFrames = yield* Effect.provide(
          Effect.gen(function*() {
            const ledger = yield* Ledger
            const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
            yield* fund(L, source!, from!, 1_000_000n)
            // One reserve and one post at a time: a batch each, a few WAL frames each (thousands in all).
            for (let i = 0; i < 300; i++) {
              const spec = transferSpec(L, from!, to!, 1n)
              yield* ledger.reserve([spec], 60)
              yield* ledger.post([spec.id])
            }
            expect((yield* balanceOf(to!)).creditsPosted).toBe(300n)
            // While the ledger is open (closing checkpoints and removes the WAL): the WAL file is
            // reused from its start after each checkpoint and never shrinks, so its size is the
            // most frames it ever held. SQLite's own checkpoint (the backstop) would let it reach
            // 10 × checkpointFrames.
            const reader = new DatabaseSync(filename, { readOnly: true })
            const pageSize = Number((reader.prepare("PRAGMA page_size").get() as { page_size: number }).page_size)
            reader.close()
            return statSync(`${filename}-wal`).size / (pageSize + 24)
          }),
          LedgerSqlite.layer({ filename, checkpointFrames })
        )
        expect(walFrames).toBeGreaterThan(checkpointFrames / 2)
        expect(walFrames).toBeLessThan(3 * checkpointFrames)
      })
    ), 30_000)

  it.live("voids pending transfers left by a previous process and keeps everything else", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const layer = LedgerSqlite.layer({ filename: join(dir, "ledger.db") })
        const [source, from, to] = yield* Effect.provide(
          Effect.gen(function*() {
            const ids = yield* createAccounts(L, [noFlags, dmnec, noFlags])
            yield* fund(L, ids[0]!, ids[1]!, 1_000n)
            const ledger = yield* Ledger
            yield* ledger.reserve([transferSpec(L, ids[1]!, ids[2]!, 400n)], 3600)
            expect(yield* ledger.countPending).toEqual(Option.some(1))
            return ids
          }),
          layer
        )
        yield* Effect.provide(
          Effect.gen(function*() {
            const ledger = yield* Ledger
            expect(yield* ledger.countPending).toEqual(Option.some(0))
            expect(yield* balanceOf(from!)).toEqual({
              id: from!,
              debitsPending: 0n,
              debitsPosted: 0n,
              creditsPending: 0n,
              creditsPosted: 1_000n
            })
            expect((yield* balanceOf(source!)).debitsPosted).toBe(1_000n)
            expect((yield* balanceOf(to!)).creditsPending).toBe(0n)
          }),
          layer
        )
      })
    ))

  it.live("a storage fault is LedgerUnavailable, never InsufficientBalance, and leaves no trace", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "ledger.db")
        yield* Effect.gen(function*() {
          const ledger = yield* Ledger
          const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
          yield* fund(L, source!, from!, 100n)
          const before = yield* ledger.balances([from!, to!])
          const packet = transferSpec(L, from!, to!, 10n)
          const blocker = new DatabaseSync(filename)
          blocker.exec("BEGIN IMMEDIATE") // another writer holds the lock: every batch fails to begin
          const error = yield* Effect.flip(ledger.reserve([packet], 10))
          blocker.exec("ROLLBACK")
          blocker.close()
          expect(error._tag).toBe("LedgerUnavailable")
          expect(yield* ledger.balances([from!, to!])).toEqual(before)
          yield* ledger.reserve([packet], 10) // the same ids succeed once the store is back
          expect((yield* balanceOf(from!)).debitsPending).toBe(10n)
        }).pipe(Effect.provide(LedgerSqlite.layer({ filename, busyTimeoutMs: 0 })))
      })
    ))

  it.live("the sweeper releases timed-out reservations without any other traffic", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
      yield* fund(L, source!, from!, 100n)
      yield* ledger.reserve([transferSpec(L, from!, to!, 60n)], 1)
      expect(yield* ledger.countPending).toEqual(Option.some(1))
      // The 1 s timeout, then the next sweep: waited on as a condition (a busy machine may be late).
      yield* eventually(ledger.countPending.pipe(
        Effect.flatMap((count) => Option.getOrElse(count, () => -1) === 0 ? Effect.void : Effect.fail("still pending"))
      ), 20_000)
      expect((yield* balanceOf(from!)).debitsPending).toBe(0n)
      expect((yield* balanceOf(to!)).creditsPending).toBe(0n)
    }).pipe(Effect.provide(LedgerSqlite.layer({ filename: ":memory:", sweepIntervalMs: 50 }))))

  it.live("refuses a file that is not a ledger database", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "other.db")
        const db = new DatabaseSync(filename)
        db.exec("PRAGMA user_version = 99")
        db.close()
        const useLedger = Effect.asVoid(Ledger)
        const exit = yield* Effect.exit(Effect.provide(useLedger, LedgerSqlite.layer({ filename })))
        expect(Exit.isFailure(exit)).toBe(true)
        const readOnly = yield* Effect.exit(Effect.provide(useLedger, LedgerSqlite.layerReadOnly({ filename })))
        expect(Exit.isFailure(readOnly)).toBe(true)
      })
    ))

  it.live("fails fast with LedgerUnavailable when the request queue is full", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const [source, to] = yield* createAccounts(L, [noFlags, noFlags])
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 50 }, () => transferSpec(L, source!, to!, 1n)),
        (transfer) => Effect.result(ledger.transfer([transfer])),
        { concurrency: "unbounded" }
      )
      const refused = outcomes.filter((outcome) => outcome._tag === "Failure")
      expect(refused.length).toBeGreaterThan(0)
      for (const outcome of refused) {
        if (outcome._tag === "Failure") expect(outcome.failure._tag).toBe("LedgerUnavailable")
      }
      const accepted = BigInt(outcomes.length - refused.length)
      expect((yield* balanceOf(to!)).creditsPosted).toBe(accepted)
    }).pipe(Effect.provide(LedgerSqlite.layer({ filename: ":memory:", requestQueueSizeMax: 8 }))))

  it.live("batches thousands of concurrent reserve + post pairs", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
      const packets = 5_000
      yield* fund(L, source!, from!, BigInt(packets))
      const started = Date.now()
      yield* Effect.forEach(
        Array.from({ length: packets }, () => transferSpec(L, from!, to!, 1n)),
        (transfer) => Effect.andThen(ledger.reserve([transfer], 30), ledger.post([transfer.id])),
        { concurrency: 1_000, discard: true }
      )
      const elapsedMs = Date.now() - started
      console.info(`sqlite ledger: ${packets} reserve+post pairs in ${elapsedMs} ms`)
      expect((yield* balanceOf(to!)).creditsPosted).toBe(BigInt(packets))
      expect(yield* ledger.countPending).toEqual(Option.some(0))
    }).pipe(Effect.provide(LedgerSqlite.layer({ filename: ":memory:" }))))
})

// ---------------------------------------------------------------------------------------------
// Property: random concurrent batches keep the ledger balanced
// ---------------------------------------------------------------------------------------------

type Op =
  | { readonly kind: "deposit"; readonly to: number; readonly amount: bigint }
  | { readonly kind: "transfer"; readonly from: number; readonly to: number; readonly amount: bigint }
  | { readonly kind: "reserve"; readonly hops: ReadonlyArray<readonly [number, number]>; readonly amount: bigint }
  | { readonly kind: "post" | "void"; readonly pick: number }

/** Account 0 is the unflagged settlement source; 1-3 have `debitsMustNotExceedCredits`; 4 has `creditsMustNotExceedDebits`. */
const accountCount = 5
const accountIndex = fc.integer({ min: 1, max: accountCount - 1 })
const amount = fc.oneof(fc.bigInt({ min: 0n, max: 50n }), fc.bigInt({ min: 0n, max: 1n << 100n }))
const hop = fc.tuple(accountIndex, accountIndex).filter(([a, b]) => a !== b)

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("deposit" as const), to: accountIndex, amount }),
  fc.record({ kind: fc.constant("transfer" as const), from: accountIndex, to: accountIndex, amount })
    .filter((o) => o.from !== o.to),
  fc.record({ kind: fc.constant("reserve" as const), hops: fc.array(hop, { minLength: 1, maxLength: 3 }), amount }),
  fc.record({ kind: fc.constantFrom("post" as const, "void" as const), pick: fc.nat() })
)

const sum = (balances: ReadonlyArray<AccountBalance>, f: (b: AccountBalance) => bigint) =>
  balances.reduce((total, balance) => total + f(balance), 0n)

const checkInvariants = (balances: ReadonlyArray<AccountBalance>) => {
  expect(sum(balances, (b) => b.debitsPosted)).toBe(sum(balances, (b) => b.creditsPosted))
  expect(sum(balances, (b) => b.debitsPending)).toBe(sum(balances, (b) => b.creditsPending))
  for (const b of balances.slice(1, 4)) expect(b.debitsPending + b.debitsPosted <= b.creditsPosted).toBe(true)
  const capped = balances[4]!
  expect(capped.creditsPending + capped.creditsPosted <= capped.debitsPosted).toBe(true)
}

type Field = "debitsPending" | "debitsPosted" | "creditsPending" | "creditsPosted"

/** What the balances must be, given the operations that succeeded (in any order: sums commute). */
const makeModel = (ids: ReadonlyArray<bigint>) => {
  const balances = ids.map((id) => ({ id, debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n }))
  const add = (index: number, field: Field, amount: bigint) => {
    balances[index]![field] += amount
  }
  return {
    balances: (): ReadonlyArray<AccountBalance> => balances.map((b) => ({ ...b })),
    posted: (from: number, to: number, amount: bigint) => {
      add(from, "debitsPosted", amount)
      add(to, "creditsPosted", amount)
    },
    pending: (from: number, to: number, amount: bigint, sign: bigint) => {
      add(from, "debitsPending", sign * amount)
      add(to, "creditsPending", sign * amount)
    }
  }
}

type Model = ReturnType<typeof makeModel>

interface Reservation {
  readonly chain: ReadonlyArray<TransferSpec>
  readonly hops: ReadonlyArray<readonly [number, number]>
  readonly amount: bigint
}

const runOp = (ids: ReadonlyArray<bigint>, model: Model, outstanding: Array<Reservation>) => (o: Op) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const spec = (from: number, to: number, value: bigint): TransferSpec => transferSpec(L, ids[from]!, ids[to]!, value)
    const single = (from: number, to: number, value: bigint) =>
      Effect.gen(function*() {
        const done = yield* Effect.result(ledger.transfer([spec(from, to, value)]))
        if (done._tag === "Success") model.posted(from, to, value)
        else expect(done.failure._tag).toBe("InsufficientBalance")
      })
    switch (o.kind) {
      case "deposit":
        return yield* single(0, o.to, o.amount)
      case "transfer":
        return yield* single(o.from, o.to, o.amount)
      case "reserve": {
        const chain = o.hops.map(([from, to]) => spec(from, to, o.amount))
        const reserved = yield* Effect.result(ledger.reserve(chain, 60))
        if (reserved._tag === "Failure") return expect(reserved.failure._tag).toBe("InsufficientBalance")
        for (const [from, to] of o.hops) model.pending(from, to, o.amount, 1n)
        outstanding.push({ chain, hops: o.hops, amount: o.amount })
        return
      }
      default: {
        if (outstanding.length === 0) return
        const [reservation] = outstanding.splice(o.pick % outstanding.length, 1)
        const { amount, chain, hops } = reservation!
        const pendingIds = chain.map((t) => t.id)
        if (o.kind === "post") yield* Effect.orDie(ledger.post(pendingIds))
        else yield* Effect.orDie(ledger.voidPending(pendingIds))
        for (const [from, to] of hops) {
          model.pending(from, to, amount, -1n)
          if (o.kind === "post") model.posted(from, to, amount)
        }
      }
    }
  })

describe("LedgerSqlite properties", () => {
  it.live("random concurrent batches apply exactly what succeeded and keep every invariant", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(fc.array(op, { maxLength: 12 }), { minLength: 1, maxLength: 8 }), (batches) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const ledger = yield* Ledger
              const ids = yield* createAccounts(L, [noFlags, dmnec, dmnec, dmnec, cmned])
              const model = makeModel(ids)
              const room = 1n << 110n // debits on the capped account, so it may take credits
              yield* ledger.transfer([transferSpec(L, ids[4]!, ids[0]!, room)])
              model.posted(4, 0, room)
              const outstanding: Array<Reservation> = []
              for (const batch of batches) {
                yield* Effect.forEach(batch, runOp(ids, model, outstanding), { concurrency: "unbounded", discard: true })
                const balances = yield* ledger.balances(ids)
                checkInvariants(balances)
                expect(balances).toEqual(model.balances())
              }
              yield* Effect.forEach(outstanding, (r) => Effect.orDie(ledger.voidPending(r.chain.map((t) => t.id))), {
                discard: true
              })
              const final = yield* ledger.balances(ids)
              checkInvariants(final)
              expect(sum(final, (b) => b.debitsPending + b.creditsPending)).toBe(0n)
              expect(yield* ledger.countPending).toEqual(Option.some(0))
            }).pipe(Effect.provide(LedgerSqlite.layer({ filename: ":memory:" })))
          )
        ),
        { numRuns: 100 }
      )
    ), 60_000)
})
