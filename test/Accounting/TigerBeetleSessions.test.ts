import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { type Client, createClient } from "tigerbeetle-node"
import { Ledger, newTransferId } from "../../src/Accounting/Ledger.ts"
import * as LedgerTigerBeetle from "../../src/Accounting/LedgerTigerBeetle.ts"
import { announceSkip, startTigerBeetle, type TigerBeetleCluster, tigerBeetleBinary } from "../support/tigerbeetle.ts"

/**
 * Client sessions against a real one-replica cluster (docs/performance/tigerbeetle.md, "TigerBeetle
 * sessions"). A replica started with `--development` admits 8 connected clients (32 without it),
 * and the cluster keeps 64 sessions, evicting the least recently used one past that. The node
 * opens extra sessions only on demand and only uses one that answered; it replaces an evicted one.
 */

const probeTimeoutMs = 5_000

/** Whether `client` answers one lookup within `probeTimeoutMs`. */
const answers = (client: Client): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    client.lookupAccounts([1n]).then(() => true, () => false),
    new Promise<boolean>((done) => {
      timer = setTimeout(() => done(false), probeTimeoutMs)
    })
  ]).finally(() => clearTimeout(timer))
}

const clientOf = (cluster: TigerBeetleCluster) =>
  createClient({ cluster_id: cluster.clusterId, replica_addresses: [...cluster.addresses] })

const accounts = { debit: newTransferId(), credit: newTransferId() }

/** `count` reserve-then-post packets, `concurrency` at a time; the failures, by tag. */
const packets = (count: number, concurrency: number) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const exits = yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), () => {
      const id = newTransferId()
      return Effect.exit(Effect.andThen(
        ledger.reserve([{ id, debitAccountId: accounts.debit, creditAccountId: accounts.credit, amount: 1n, ledger: 1, code: 1 }], 60),
        ledger.post([id])
      ))
    }, { concurrency })
    return exits.filter(Exit.isFailure)
  })

const setUpAccounts = Effect.gen(function*() {
  const ledger = yield* Ledger
  yield* ledger.createAccounts([
    { id: accounts.debit, ledger: 1, code: 1, flags: {} },
    { id: accounts.credit, ledger: 1, code: 1, flags: {} }
  ])
})

if (tigerBeetleBinary() === undefined) {
  const reason = "the TigerBeetle session tests did NOT run"
  announceSkip(reason)
  describe.skip(`TigerBeetle sessions — ${reason}`, () => {
    it("opens sessions on demand and replaces evicted ones", () => {})
  })
} else {
  describe("TigerBeetle client sessions", () => {
    it.live("with the replica's client slots nearly full, a node allowed 4 sessions answers every call on those it could open", () =>
      Effect.gen(function*() {
        const cluster = yield* Effect.acquireRelease(Effect.promise(() => startTigerBeetle()), (c) => Effect.promise(c.stop))
        // Take 6 of the replica's 8 client slots (--development), as other instances and tools would.
        const fillers = yield* Effect.acquireRelease(
          Effect.sync(() => Array.from({ length: 6 }, () => clientOf(cluster))),
          (clients) => Effect.sync(() => clients.forEach((c) => c.destroy()))
        )
        for (const filler of fillers) expect(yield* Effect.promise(() => answers(filler))).toBe(true)
        const ledger = LedgerTigerBeetle.layer({
          clusterId: cluster.clusterId,
          replicaAddresses: [...cluster.addresses],
          requestTimeoutMs: 3_000,
          transferSessions: 4
        })
        const failures = yield* Effect.gen(function*() {
          yield* setUpAccounts
          // Enough concurrent calls that every open session is busy: the node asks for more
          // sessions; the replica answers at most one more, the others are closed unused.
          return yield* packets(600, 50)
        }).pipe(Effect.provide(ledger))
        expect(failures).toEqual([])
      }).pipe(Effect.scoped), { timeout: 240_000 })

    it.live("two quiet nodes allowed 4 sessions each hold one slot each: a client started after them is answered", () =>
      Effect.gen(function*() {
        const cluster = yield* Effect.acquireRelease(Effect.promise(() => startTigerBeetle()), (c) => Effect.promise(c.stop))
        const ledger = () =>
          LedgerTigerBeetle.layer({
            clusterId: cluster.clusterId,
            replicaAddresses: [...cluster.addresses],
            requestTimeoutMs: 5_000,
            transferSessions: 4
          })
        // One call at a time never finds every session busy: each node stays at one session.
        const quietNode = Effect.gen(function*() {
          yield* setUpAccounts
          expect(yield* packets(10, 1)).toEqual([])
        })
        const answered = yield* Effect.gen(function*() {
          yield* quietNode
          return yield* Effect.gen(function*() {
            yield* quietNode
            // A replica started with --development admits 8 connected clients: with eager
            // sessions the two nodes would hold all 8, and this client would get no answer.
            const late = yield* Effect.acquireRelease(Effect.sync(() => clientOf(cluster)), (c) => Effect.sync(() => c.destroy()))
            return yield* Effect.promise(() => answers(late))
          }).pipe(Effect.provide(ledger()))
        }).pipe(Effect.provide(ledger()), Effect.scoped)
        expect(answered).toBe(true)
      }).pipe(Effect.scoped), { timeout: 240_000 })

    it.live("replaces a session the cluster evicted: one call fails as unavailable, the next succeeds", () =>
      Effect.gen(function*() {
        const cluster = yield* Effect.acquireRelease(Effect.promise(() => startTigerBeetle()), (c) => Effect.promise(c.stop))
        const ledger = LedgerTigerBeetle.layer({
          clusterId: cluster.clusterId,
          replicaAddresses: [...cluster.addresses],
          requestTimeoutMs: 5_000
        })
        yield* Effect.gen(function*() {
          yield* setUpAccounts
          expect(yield* packets(5, 1)).toEqual([])
          // 72 more clients register, 6 at a time (each closed after its request, so with the
          // node's connection they never hold more than 7 of the replica's 8 connection slots):
          // the cluster keeps 64 sessions, so the node's idle session, the least recently used,
          // is evicted.
          for (let group = 0; group < 12; group++) {
            const clients = Array.from({ length: 6 }, () => clientOf(cluster))
            const answered = yield* Effect.promise(() => Promise.all(clients.map(answers)))
            clients.forEach((client) => client.destroy())
            expect(answered).toEqual(Array(6).fill(true))
          }
          const first = yield* packets(1, 1)
          expect(first.length).toBe(1)
          expect(JSON.stringify(first[0])).toContain("LedgerUnavailable")
          // The evicted session was replaced: calls work again.
          expect(yield* packets(20, 5)).toEqual([])
          const balances = yield* (yield* Ledger).balances([accounts.debit])
          expect(balances[0]!.debitsPosted).toBe(25n)
        }).pipe(Effect.provide(ledger))
      }).pipe(Effect.scoped), { timeout: 240_000 })
  })
}
