/** The embedded payments store runs the shared contract (in memory), and keeps its data across a reopen. */
import { Effect } from "effect"
import { join } from "node:path"
import { afterAll, expect, it } from "vitest"
import { makeStore } from "../../src/Payments/StoreSqlite.ts"
import { open } from "../../src/Payments/StoreSqliteSchema.ts"
import { paymentsStoreContract, quoteRecord, walletRecord } from "./StoreContract.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const handle = open(":memory:")
afterAll(() => handle.db.close())
paymentsStoreContract("sqlite", () => makeStore(handle))

it("reopening a file applies no migration twice, keeps the rows, and clears leases a crashed process left", async () => {
  const dir = makeTempDir("payments-store-")
  try {
    const file = join(dir, "payments.sqlite")
    const first = open(file)
    const wallet = walletRecord()
    await Effect.runPromise(makeStore(first).walletAddresses.insert(wallet))
    first.db.close()
    const second = open(file)
    expect(await Effect.runPromise(makeStore(second).walletAddresses.byId(wallet.id))).toEqual(wallet)
    const versions = second.db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get() as { n: number }
    expect(versions.n).toBe(12)
    // A lease left by a crashed process is cleared at open (this process owns the file).
    const store = makeStore(second)
    const quote = quoteRecord(wallet.id)
    await Effect.runPromise(store.quotes.insert(quote))
    await Effect.runPromise(store.outgoingPayments.insert({ id: "p1", quoteId: quote.id, walletAddressId: wallet.id, createdAt: 1 }))
    expect(await Effect.runPromise(store.outgoingPayments.lease("p1", "crashed", 1, Date.now() + 60_000))).toBe(true)
    second.db.close()
    const third = open(file)
    expect(await Effect.runPromise(makeStore(third).outgoingPayments.byId("p1"))).toMatchObject({ leaseOwner: null, leaseExpiresAt: null })
    third.db.close()
  } finally {
    removeTempDir(dir)
  }
})
