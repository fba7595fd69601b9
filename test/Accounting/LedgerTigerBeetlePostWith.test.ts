/**
 * `postWith`, the TigerBeetle ledger's post as a callback (the post after the reply without a
 * fiber, `LedgerReservation.ts`), against a real one-replica cluster started by this file: every
 * reservation is posted exactly once (a second post of a posted one moves nothing), nothing is left
 * pending; what cannot be posted goes to `rest` with the same error `post` fails with; a cluster
 * that does not answer gives `rest` a `LedgerUnavailable` within the request timeout. Skipped,
 * loudly, without a server binary.
 */
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Ledger, type LedgerShape, newTransferId, type PostError, type TransferSpec } from "../../src/Accounting/Ledger.ts"
import * as LedgerTigerBeetle from "../../src/Accounting/LedgerTigerBeetle.ts"
import { freePort } from "../support/ports.ts"
import { announceSkip, startTigerBeetle, type TigerBeetleCluster, tigerBeetleBinary } from "../support/tigerbeetle.ts"

/** One `postWith` call's answer: done, or what `rest` ended with when run. */
const postWithAnswer = (ledger: LedgerShape, ids: ReadonlyArray<bigint>): Promise<"done" | Exit.Exit<void, PostError>> =>
  new Promise((resolve) =>
    ledger.postWith!(ids, () => resolve("done"), (rest) => void Effect.runPromiseExit(rest).then(resolve))
  )

/** `use` with a TigerBeetle ledger, closed after. */
const withLedger = <A>(options: LedgerTigerBeetle.Options, use: (ledger: LedgerShape) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.gen(function*() {
    return yield* use(yield* Ledger)
  }).pipe(Effect.provide(LedgerTigerBeetle.layer(options))))

if (tigerBeetleBinary() === undefined) {
  const reason = "the TigerBeetle postWith tests did NOT run"
  announceSkip(reason)
  describe.skip(`LedgerTigerBeetle postWith — ${reason}`, () => {
    it("posts through the callback", () => {})
  })
} else {
  let cluster: TigerBeetleCluster
  beforeAll(async () => {
    cluster = await startTigerBeetle()
  }, 180_000)
  afterAll(async () => {
    await cluster?.stop()
  }, 60_000)

  const options = (): LedgerTigerBeetle.Options => ({
    clusterId: cluster.clusterId,
    replicaAddresses: [...cluster.addresses],
    requestTimeoutMs: 20_000
  })

  describe("LedgerTigerBeetle postWith", () => {
    it("posts each reservation exactly once, a repeated post moves nothing, nothing is left pending", async () => {
      await withLedger(options(), (ledger) =>
        Effect.gen(function*() {
          const [a, b, c] = [newTransferId(), newTransferId(), newTransferId()]
          yield* ledger.createAccounts([a, b, c].map((id) => ({ id, ledger: 7, code: 1, flags: {} })))
          const transfer = (debit: bigint, credit: bigint, amount: bigint): TransferSpec => ({
            id: newTransferId(),
            debitAccountId: debit,
            creditAccountId: credit,
            amount,
            ledger: 7,
            code: 1
          })
          // 200 chains of one transfer and 40 of two, as packets reserve them.
          const chains = Array.from({ length: 240 }, (_, i) =>
            i < 200 ? [transfer(a, b, BigInt(1 + (i % 97)))] : [transfer(a, b, BigInt(i)), transfer(a, c, 3n)]
          )
          yield* Effect.forEach(chains, (chain) => ledger.reserve(chain, 60), { concurrency: "unbounded" })
          const total = chains.flat().reduce((sum, t) => sum + t.amount, 0n)
          const before = yield* ledger.balances([a])
          expect(before[0]!.debitsPending).toBe(total)
          // Every chain posted in the same turn (they share requests), every fifth one twice.
          const answers = yield* Effect.promise(() =>
            Promise.all(chains.flatMap((chain, i) => {
              const ids = chain.map((t) => t.id)
              return i % 5 === 0 ? [postWithAnswer(ledger, ids), postWithAnswer(ledger, ids)] : [postWithAnswer(ledger, ids)]
            }))
          )
          // Every post succeeded: at once, or (a repeated chain of two in the same request, which
          // TigerBeetle fails as a whole for its already posted first event) after `rest`'s next round.
          expect(answers.filter((answer) => answer !== "done" && !Exit.isSuccess(answer)).map(String)).toEqual([])
          expect(answers.filter((answer) => answer === "done").length).toBeGreaterThanOrEqual(chains.length)
          const [after] = yield* ledger.balances([a])
          expect(after!.debitsPending).toBe(0n)
          expect(after!.debitsPosted).toBe(total)
          const looked = yield* ledger.lookupTransfers(chains.slice(0, 50).flat().map((t) => t.id))
          expect(looked.map((t) => t.state)).toEqual(chains.slice(0, 50).flat().map(() => "posted"))
          // Posting them all again: done, nothing moves.
          const again = yield* Effect.promise(() => Promise.all(chains.map((chain) => postWithAnswer(ledger, chain.map((t) => t.id)))))
          expect(again.every((answer) => answer === "done" || Exit.isSuccess(answer))).toBe(true)
          expect((yield* ledger.balances([a]))[0]!.debitsPosted).toBe(total)
        }))
    }, 120_000)

    it("what cannot be posted goes to `rest`, which fails as `post` does", async () => {
      await withLedger(options(), (ledger) =>
        Effect.gen(function*() {
          const unknown = newTransferId()
          const answer = yield* Effect.promise(() => postWithAnswer(ledger, [unknown]))
          expect(answer).not.toBe("done")
          const viaPost = yield* Effect.exit(ledger.post([unknown]))
          expect(String(answer)).toBe(String(viaPost))
          expect(String(viaPost)).toContain("PendingNotFound")
          // A malformed chain is a defect either way.
          const bad = yield* Effect.promise(() => postWithAnswer(ledger, [unknown, unknown]))
          expect(bad !== "done" && Exit.isFailure(bad) && String(bad).includes("appears twice")).toBe(true)
        }))
    }, 60_000)

    it("a cluster that does not answer: `rest` fails with LedgerUnavailable within the request timeout", async () => {
      const port = await freePort()
      const requestTimeoutMs = 300
      const started = Date.now()
      await withLedger({ clusterId: 0n, replicaAddresses: [`127.0.0.1:${port}`], requestTimeoutMs }, (ledger) =>
        Effect.gen(function*() {
          const answer = yield* Effect.promise(() => postWithAnswer(ledger, [newTransferId()]))
          expect(answer).not.toBe("done")
          expect(String(answer)).toContain("LedgerUnavailable")
          expect(String(answer)).toContain("timed out")
        }))
      // "Within the timeout": generous, a busy machine may add seconds.
      expect(Date.now() - started).toBeLessThan(requestTimeoutMs + 15_000)
    }, 60_000)
  })
}
