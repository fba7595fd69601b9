import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { CreateTransferStatus } from "tigerbeetle-node"
import { Ledger, LedgerUnavailable, newTransferId } from "../../src/Accounting/Ledger.ts"
import * as LedgerTigerBeetle from "../../src/Accounting/LedgerTigerBeetle.ts"
import * as TigerBeetleResults from "../../src/Accounting/LedgerTigerBeetleResults.ts"
import { freePort } from "../support/ports.ts"
import { announceSkip, startTigerBeetle, tigerBeetleBinary } from "../support/tigerbeetle.ts"
import { ledgerContract } from "./LedgerContract.ts"

/**
 * The shared contract against a real cluster: `TIGERBEETLE_ADDRESSES` (comma-separated, with
 * `TIGERBEETLE_CLUSTER_ID`) when set, else a one-replica cluster this file starts from the server
 * binary (`test/support/tigerbeetle.ts`) and removes after. Skipped, loudly, only without either.
 */
const addresses = process.env["TIGERBEETLE_ADDRESSES"]
const clusterId = BigInt(process.env["TIGERBEETLE_CLUSTER_ID"] ?? "0")

if (addresses !== undefined && addresses !== "") {
  ledgerContract(`tigerbeetle (${addresses})`, () =>
    LedgerTigerBeetle.layer({ clusterId, replicaAddresses: addresses.split(","), requestTimeoutMs: 5_000 }))
} else if (tigerBeetleBinary() !== undefined) {
  ledgerContract("tigerbeetle (one replica started by the test)", () =>
    Layer.unwrap(
      Effect.map(
        Effect.acquireRelease(Effect.promise(() => startTigerBeetle()), (cluster) => Effect.promise(cluster.stop)),
        (cluster) =>
          LedgerTigerBeetle.layer({
            clusterId: cluster.clusterId,
            replicaAddresses: [...cluster.addresses],
            requestTimeoutMs: 10_000
          })
      )
    ))
} else {
  const reason = "the TigerBeetle ledger contract did NOT run"
  announceSkip(reason)
  describe.skip(`tigerbeetle ledger contract — ${reason}`, () => {
    it("runs the shared ledger contract against a TigerBeetle cluster", () => {})
  })
}

describe("LedgerTigerBeetle without a cluster", () => {
  it.live("fails with LedgerUnavailable within the request timeout instead of hanging", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const requestTimeoutMs = 300
      yield* Effect.gen(function*() {
        const ledger = yield* Ledger
        const started = Date.now()
        const errors = yield* Effect.all([
          Effect.flip(ledger.balances([newTransferId()])),
          Effect.flip(ledger.reserve([{
            id: newTransferId(),
            debitAccountId: 1n,
            creditAccountId: 2n,
            amount: 1n,
            ledger: 1,
            code: 1
          }], 10)),
          Effect.flip(ledger.post([newTransferId()])),
          Effect.flip(ledger.createAccounts([{ id: newTransferId(), ledger: 1, code: 1, flags: {} }]))
        ], { concurrency: "unbounded" })
        const elapsedMs = Date.now() - started
        for (const error of errors) expect(error).toBeInstanceOf(LedgerUnavailable)
        expect(errors[0]!.message).toContain("timed out")
        expect(elapsedMs).toBeGreaterThanOrEqual(requestTimeoutMs - 20)
        // "Instead of hanging": generous, a busy machine may add seconds.
        expect(elapsedMs).toBeLessThan(requestTimeoutMs + 10_000)
      }).pipe(
        Effect.provide(LedgerTigerBeetle.layer({
          clusterId: 0n,
          replicaAddresses: [`127.0.0.1:${port}`],
          requestTimeoutMs
        }))
      )
    }))

  it.live("fails fast once too many requests are stuck in the client", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      yield* Effect.gen(function*() {
        const ledger = yield* Ledger
        const stuck = yield* Effect.flip(ledger.balances([1n])) // times out, stays in flight
        expect(stuck.message).toContain("timed out")
        // Refused by the in-flight cap (its message), not timed out (the message would say so): no
        // wall-clock bound needed to tell the two apart.
        const refused = yield* Effect.flip(ledger.balances([1n]))
        expect(refused.message).toContain("in flight")
        expect(refused.message).not.toContain("timed out")
      }).pipe(
        Effect.provide(LedgerTigerBeetle.layer({
          clusterId: 0n,
          replicaAddresses: [`127.0.0.1:${port}`],
          requestTimeoutMs: 200,
          requestsInFlightMax: 1
        }))
      )
    }))
})

describe("LedgerTigerBeetle result codes", () => {
  const spec = { id: 5n, debitAccountId: 1n, creditAccountId: 2n, amount: 1n, ledger: 1, code: 1 }

  it("maps balance failures to InsufficientBalance on the right account", () => {
    const debit = TigerBeetleResults.classifyCreate(spec, CreateTransferStatus.exceeds_credits)
    expect(debit).toMatchObject({ _tag: "Fail", error: { _tag: "InsufficientBalance", accountId: 1n } })
    const credit = TigerBeetleResults.classifyCreate(spec, CreateTransferStatus.exceeds_debits)
    expect(credit).toMatchObject({ _tag: "Fail", error: { _tag: "InsufficientBalance", accountId: 2n } })
  })

  it("treats exists as success and bugs as defects", () => {
    expect(TigerBeetleResults.classifyCreate(spec, CreateTransferStatus.exists)._tag).toBe("Done")
    expect(TigerBeetleResults.classifyCreate(spec, CreateTransferStatus.exists_with_different_amount)._tag).toBe("Die")
    expect(TigerBeetleResults.classifyCreate(spec, CreateTransferStatus.debit_account_not_found)._tag).toBe("Die")
    expect(TigerBeetleResults.classifyCreate(spec, CreateTransferStatus.id_already_failed)._tag).toBe("Die")
  })

  it("maps post and void results", () => {
    expect(TigerBeetleResults.classifyPost(5n, CreateTransferStatus.pending_transfer_expired))
      .toMatchObject({ _tag: "Fail", error: { _tag: "PendingExpired" } })
    expect(TigerBeetleResults.classifyPost(5n, CreateTransferStatus.pending_transfer_already_posted)._tag).toBe("Done")
    expect(TigerBeetleResults.classifyVoid(5n, CreateTransferStatus.pending_transfer_expired)._tag).toBe("Done")
    expect(TigerBeetleResults.classifyVoid(5n, CreateTransferStatus.pending_transfer_already_posted))
      .toMatchObject({ _tag: "Fail", error: { _tag: "PendingAlreadyPosted" } })
  })

  it("ignores linked_event_failed in favour of the real cause, and re-submits around harmless events", () => {
    const items = ["a", "b", "c"]
    const done = { _tag: "Done" } as const
    const retry = { _tag: "Retry" } as const
    const failure = { _tag: "Fail", error: "short" } as const
    expect(TigerBeetleResults.verdict(items, [retry, failure, retry])).toEqual(failure)
    expect(TigerBeetleResults.verdict(items, [done, retry, retry])).toEqual({ _tag: "Resubmit", items: ["b", "c"] })
    expect(TigerBeetleResults.verdict(items, [done, done, done])).toEqual(done)
    expect(TigerBeetleResults.verdict(items, [retry, retry, retry])._tag).toBe("Die")
  })
})
