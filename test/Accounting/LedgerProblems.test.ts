/**
 * The ledger's input checks (src/Accounting/Ledger.ts), pure: a chain that repeats an id is a
 * programmer error, reported for the first id (in order) that repeats an earlier one — the same
 * answer for short chains (checked pairwise) and long ones (checked through a Set).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { TransferCode } from "../../src/Accounting/Ledger.ts"
import { pendingChainProblem, transferChainProblem } from "../../src/Accounting/LedgerProblems.ts"

/** The rule, written the plain way. */
const firstRepeat = (ids: ReadonlyArray<bigint>): string | undefined => {
  const seen = new Set<bigint>()
  for (const id of ids) {
    if (seen.has(id)) return `id ${id} appears twice in one chain`
    seen.add(id)
  }
  return undefined
}

describe("Ledger input checks: repeated ids", () => {
  it("pending chains of any length (pairwise up to 16, a Set beyond)", () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 1n, max: 40n }), { maxLength: 40 }), (ids) => {
        expect(pendingChainProblem(ids)).toBe(firstRepeat(ids))
      }),
      { numRuns: 2_000 }
    )
    expect(pendingChainProblem([1n, 2n, 3n, 2n, 1n])).toBe("id 2 appears twice in one chain")
  })

  it("transfer chains", () => {
    const transfer = (id: bigint) => ({ id, debitAccountId: 1n, creditAccountId: 2n, amount: 5n, ledger: 1, code: TransferCode.packet })
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 1n, max: 30n }), { maxLength: 24 }), (ids) => {
        expect(transferChainProblem(ids.map(transfer))).toBe(firstRepeat(ids))
      }),
      { numRuns: 1_000 }
    )
  })
})

/**
 * The chain checks as they were written before they stopped allocating (`map`, `find` and a Set
 * per call; docs/performance/tigerbeetle.md, fifth session): the reference the checks must agree
 * with on any input, valid or not.
 */
const u128Max = (1n << 128n) - 1n
const oldIsU32NonZero = (n: number) => Number.isInteger(n) && n > 0 && n <= 0xffff_ffff
const oldIsU16NonZero = (n: number) => Number.isInteger(n) && n > 0 && n <= 0xffff
const oldIsValidId = (id: bigint) => id > 0n && id < u128Max
interface Spec { id: bigint; debitAccountId: bigint; creditAccountId: bigint; amount: bigint; ledger: number; code: number }
const oldTransferProblem = (transfer: Spec): string | undefined => {
  if (!oldIsValidId(transfer.id)) return `transfer id out of range: ${transfer.id}`
  if (!oldIsValidId(transfer.debitAccountId)) return `transfer ${transfer.id}: debit account id out of range`
  if (!oldIsValidId(transfer.creditAccountId)) return `transfer ${transfer.id}: credit account id out of range`
  if (transfer.debitAccountId === transfer.creditAccountId) return `transfer ${transfer.id}: accounts must be different`
  if (transfer.amount < 0n || transfer.amount > u128Max) return `transfer ${transfer.id}: amount out of range`
  if (!oldIsU32NonZero(transfer.ledger)) return `transfer ${transfer.id}: ledger must be a non-zero u32`
  if (!oldIsU16NonZero(transfer.code)) return `transfer ${transfer.id}: code must be a non-zero u16`
  return undefined
}
const oldDuplicate = (ids: ReadonlyArray<bigint>): string | undefined => {
  const seen = new Set<bigint>()
  for (const id of ids) {
    if (seen.has(id)) return `id ${id} appears twice in one chain`
    seen.add(id)
  }
  return undefined
}
const oldLength = (length: number) => length > 1024 ? `chain of ${length} exceeds chainLengthMax 1024` : undefined
const oldTransferChainProblem = (transfers: ReadonlyArray<Spec>): string | undefined =>
  oldLength(transfers.length) ??
    transfers.map(oldTransferProblem).find((problem) => problem !== undefined) ??
    oldDuplicate(transfers.map((transfer) => transfer.id))
const oldPendingChainProblem = (ids: ReadonlyArray<bigint>): string | undefined =>
  oldLength(ids.length) ??
    ids.map((id) => (oldIsValidId(id) ? undefined : `pending id out of range: ${id}`)).find((p) => p !== undefined) ??
    oldDuplicate(ids)

describe("Ledger input checks: the same answers as the checks they replaced", () => {
  const id = fc.oneof(fc.bigInt({ min: 1n, max: 12n }), fc.constantFrom(0n, -1n, u128Max, u128Max - 1n))
  const spec = fc.record({
    id,
    debitAccountId: id,
    creditAccountId: id,
    amount: fc.oneof(fc.bigInt({ min: 0n, max: 100n }), fc.constantFrom(-1n, u128Max, u128Max + 1n)),
    ledger: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom(0, -1, 1.5, 2 ** 32)),
    code: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom(0, 0x1_0000, 2.5))
  })

  it("transfer chains, valid or not, short or long", () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(spec, { maxLength: 4 }), fc.array(spec, { maxLength: 40 })), (transfers) => {
        expect(transferChainProblem(transfers)).toBe(oldTransferChainProblem(transfers))
      }),
      { numRuns: 3_000 }
    )
    const long = Array.from({ length: 1025 }, (_, i) => ({ id: BigInt(i + 1), debitAccountId: 1n, creditAccountId: 2n, amount: 1n, ledger: 1, code: 1 }))
    expect(transferChainProblem(long)).toBe(oldTransferChainProblem(long))
  })

  it("pending chains, valid or not", () => {
    fc.assert(
      fc.property(fc.array(id, { maxLength: 40 }), (ids) => {
        expect(pendingChainProblem(ids)).toBe(oldPendingChainProblem(ids))
      }),
      { numRuns: 3_000 }
    )
  })
})
