/**
 * The embedded profile killed (SIGKILL) right after the ledger committed a packet's post: after a
 * restart on the same data directory, the incoming payment's receipt total equals what the ledger
 * credited it — for an uncapped payment (whose amount is added when posted) and a capped one
 * (reserved first, committed when posted). On the embedded profile the receipt write for a posted
 * packet commits in the ledger's post transaction (`LedgerSqlite` `postWith`), so no kill can
 * land between the two; before, it was its own transaction one event-loop turn later, and this
 * test found the total one packet below the credit. (Redis keeps reserve → commit after the post:
 * test/integration/receiptsCrash.test.ts allows that packet there.)
 *
 * The child (test/support/postCrashChild.ts) runs the node's own services and injects the kill
 * after the ledger's COMMIT itself.
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

/** The payment's ledger credit and receipt total, on the reopened data directory. */
const books = (paymentId: string) =>
  Effect.gen(function*() {
    const [account] = yield* (yield* Ledger).balances([ids.incomingPayment(paymentId)])
    const received = yield* (yield* ReceiptTotals).paymentTotal(paymentId)
    return { credited: account!.creditsPosted, pending: account!.creditsPending, received }
  })

const scenario = async (cap?: bigint) => {
  const dir = makeTempDir("ilp-receipts-post-crash-")
  cleanups.push(() => removeTempDir(dir))
  const secret = randomBytes(32).toString("hex")
  const dataDir = join(dir, "data")
  const paymentId = await runPostCrashChild([dataDir, secret, "3", ...(cap === undefined ? [] : [cap.toString()])])
  const after = await afterRestart(dataDir, secret, books(paymentId))
  // Three packets of 10 were posted before the kill.
  expect(after.credited).toBe(30n)
  expect(after.pending).toBe(0n)
  expect(after.received).toBe(after.credited)
}

describe("a kill right after the ledger posted a local packet (embedded profile)", () => {
  it("uncapped incoming payment: the receipt total equals the ledger credit after restart", async () => {
    await scenario()
  }, 120_000)

  it("capped incoming payment: the receipt total equals the ledger credit after restart", async () => {
    await scenario(1_000_000n)
  }, 120_000)
})
