/**
 * A capped incoming payment on the embedded profile, whose pending receipt amounts live only in
 * memory (`ReceiptTotalsSqlitePending.ts`), killed (SIGKILL) with several packets in flight:
 * (a) right before a posting transaction changes its first transfer (the packets' receipt reserves
 * are done, their posts are not), and (b) right after a posting transaction's COMMIT. After a
 * restart on the same data directory the payment's counted total equals its ledger credit, nothing
 * is pending in the ledger, and the cap holds exactly: the rest of `incomingAmount` can be
 * reserved, and not one unit more (no pending amount of the dead process holds any of it).
 *
 * The child (test/support/postCrashChild.ts) runs the node's own services and kills itself at the
 * injected point.
 */
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { afterRestart, runPostCrashChild } from "../support/postCrash.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const cap = 1_000n
const parallel = 4

/** On the reopened data directory: the books, then how much of the cap is still free. */
const books = (paymentId: string) =>
  Effect.gen(function*() {
    const [account] = yield* (yield* Ledger).balances([ids.incomingPayment(paymentId)])
    const totals = yield* ReceiptTotals
    const received = yield* totals.paymentTotal(paymentId)
    const reserve = (packetId: string, amount: bigint) =>
      totals.reserve({ connectionKey: "after-restart", amount, payment: { key: paymentId, cap }, packetId, pendingMs: 30_000 })
    const rest = yield* reserve("after-restart-1", cap - received)
    const oneMore = yield* reserve("after-restart-2", 1n)
    return { credited: account!.creditsPosted, pending: account!.creditsPending, received, rest, oneMore }
  })

const scenario = async (killAtPost: number, when: "beforePost" | "afterCommit") => {
  const dir = makeTempDir("ilp-receipts-capped-crash-")
  cleanups.push(() => removeTempDir(dir))
  const secret = randomBytes(32).toString("hex")
  const dataDir = join(dir, "data")
  const paymentId = await runPostCrashChild([dataDir, secret, String(killAtPost), cap.toString(), when, String(parallel)])
  const after = await afterRestart(dataDir, secret, books(paymentId))
  expect(after.credited).toBeGreaterThan(0n)
  expect(after.credited % 10n).toBe(0n)
  expect(after.pending).toBe(0n)
  expect(after.received).toBe(after.credited)
  expect(after.rest).toMatchObject({ accepted: true, paymentTotal: cap })
  expect(after.oneMore).toEqual({ accepted: false, paymentTotal: cap, remaining: 0n })
  return after
}

describe("a capped payment killed with packets in flight (embedded profile, pending amounts in memory)", () => {
  it("(a) killed after the packets' reserves, before their post: total = credit, the rest of the cap is payable exactly", async () => {
    await scenario(2, "beforePost")
  }, 120_000)

  it("(b) killed right after a post's COMMIT: total = credit, the cap holds exactly", async () => {
    await scenario(2, "afterCommit")
  }, 120_000)
})
