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
