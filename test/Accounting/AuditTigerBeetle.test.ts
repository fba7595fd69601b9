import { type Transfer, TransferFlags } from "tigerbeetle-node"
import { describe, expect, it } from "vitest"
import { explain, mismatches } from "../../src/Accounting/AuditTigerBeetle.ts"
import { emptyTransfer } from "../support/tigerbeetle.ts"

const A = 1n
const B = 2n
const nowMs = 1_000_000
const ns = (ms: number) => BigInt(ms) * 1_000_000n

const transfer = (fields: Partial<Transfer> & Pick<Transfer, "id">): Transfer => ({
  ...emptyTransfer,
  debit_account_id: A,
  credit_account_id: B,
  ledger: 1,
  code: 1,
  timestamp: ns(nowMs - 60_000),
  ...fields
})

const balance = (fields: Partial<{ debitsPosted: bigint; creditsPosted: bigint; debitsPending: bigint; creditsPending: bigint }>) => ({
  id: A,
  debitsPosted: 0n,
  creditsPosted: 0n,
  debitsPending: 0n,
  creditsPending: 0n,
  ...fields
})

describe("AuditTigerBeetle.explain", () => {
  const transfers = [
    transfer({ id: 10n, amount: 100n, debit_account_id: B, credit_account_id: A }), // deposit into A
    transfer({ id: 11n, amount: 30n, flags: TransferFlags.pending, timeout: 10 }), // posted below
    transfer({ id: 12n, amount: 30n, flags: TransferFlags.post_pending_transfer, pending_id: 11n }),
    transfer({ id: 13n, amount: 20n, flags: TransferFlags.pending, timeout: 10 }), // voided below
    transfer({ id: 14n, amount: 20n, flags: TransferFlags.void_pending_transfer, pending_id: 13n }),
    transfer({ id: 15n, amount: 7n, flags: TransferFlags.pending, timeout: 10 }), // expired long ago
    transfer({ id: 16n, amount: 5n, flags: TransferFlags.pending, timeout: 600, timestamp: ns(nowMs - 1_000) }) // live
  ]
  const explained = explain(A, transfers, nowMs, 5_000)

  it("explains posted amounts from single-phase transfers and posts, pending from live reservations only", () => {
    expect(explained.debitsPosted).toBe(30n)
    expect(explained.creditsPosted).toBe(100n)
    expect(explained.debitsPending).toEqual({ live: 5n, uncertain: 0n })
    expect(explained.pendingDebitTransfers).toBe(1)
    expect(mismatches(balance({ debitsPosted: 30n, creditsPosted: 100n, debitsPending: 5n }), explained)).toEqual([])
  })

  it("flags a pending balance that still holds an expired reservation, and posted totals its transfers do not explain", () => {
    const held = mismatches(balance({ debitsPosted: 30n, creditsPosted: 100n, debitsPending: 12n }), explained)
    expect(held).toEqual([expect.objectContaining({ _tag: "PendingMismatch", side: "debits", explainedMin: 5n, explainedMax: 5n })])
    const created = mismatches(balance({ debitsPosted: 30n, creditsPosted: 101n, debitsPending: 5n }), explained)
    expect(created.map((m) => m._tag)).toEqual(["PostedMismatch"])
  })

  it("accepts either answer for a reservation within the clock slack of its timeout", () => {
    const edge = [transfer({ id: 20n, amount: 9n, flags: TransferFlags.pending, timeout: 10, timestamp: ns(nowMs - 10_000) })]
    const near = explain(A, edge, nowMs, 5_000)
    expect(near.debitsPending).toEqual({ live: 0n, uncertain: 9n })
    expect(near.pendingDebitTransfers).toBe(0) // not counted as pending: the cluster may have expired it
    expect(mismatches(balance({ debitsPending: 9n }), near)).toEqual([])
    expect(mismatches(balance({ debitsPending: 0n }), near)).toEqual([])
  })
})

describe("audit command arguments for TigerBeetle", () => {
  it("takes the cluster from --tigerbeetle, else from TIGERBEETLE_ADDRESSES, never both --db and --tigerbeetle", async () => {
    const { parseCliArgs } = await import("../../src/Accounting/audit-cli.ts")
    expect(parseCliArgs(["--tigerbeetle", "127.0.0.1:3000,127.0.0.1:3001", "--cluster-id", "7"], {}).target)
      .toEqual({ kind: "tigerbeetle", addresses: ["127.0.0.1:3000", "127.0.0.1:3001"], clusterId: 7n })
    expect(parseCliArgs([], { TIGERBEETLE_ADDRESSES: "3000", TIGERBEETLE_CLUSTER_ID: "2" }).target)
      .toEqual({ kind: "tigerbeetle", addresses: ["3000"], clusterId: 2n })
    expect(parseCliArgs(["--db", "x.db"], { TIGERBEETLE_ADDRESSES: "3000" }).target).toEqual({ kind: "sqlite", db: "x.db" })
    expect(() => parseCliArgs(["--db", "x.db", "--tigerbeetle", "3000"], {})).toThrow(/not both/)
    expect(() => parseCliArgs([], {})).toThrow(/usage/)
    expect(() => parseCliArgs(["--tigerbeetle", "3000", "--cluster-id", "x"], {})).toThrow(/cluster id/)
  })
})
