import { amount_max, TransferFlags } from "tigerbeetle-node"
import { describe, expect, it } from "vitest"
import { encodeChainTransfer, encodePost, encodeSpec, encodeVoid, nextPostId } from "../../src/Accounting/LedgerTigerBeetleEncoding.ts"

const spec = { id: 7n, debitAccountId: 1n, creditAccountId: 2n, amount: 10n, ledger: 3, code: 4 }

describe("LedgerTigerBeetleEncoding", () => {
  it("post and void ids are distinct, increasing, and carry the current millisecond in their top 48 bits", () => {
    const before = Date.now()
    const ids = Array.from({ length: 20_000 }, nextPostId)
    const after = Date.now()
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
    for (const id of [ids[0]!, ids.at(-1)!]) {
      const ms = Number(id >> 80n)
      expect(ms).toBeGreaterThanOrEqual(before)
      expect(ms).toBeLessThanOrEqual(after)
    }
  })

  it("a post names its pending transfer (pending_id and user_data_128), posts the full amount, and gets a fresh id", () => {
    const first = encodePost(99n, true)
    const second = encodePost(99n, false)
    expect(first).toMatchObject({ pending_id: 99n, user_data_128: 99n, amount: amount_max, ledger: 0, code: 0, timeout: 0 })
    expect(first.flags).toBe(TransferFlags.post_pending_transfer | TransferFlags.linked)
    expect(second.flags).toBe(TransferFlags.post_pending_transfer)
    expect(second.id).not.toBe(first.id)
  })

  it("a void names its pending transfer and moves no amount", () => {
    const event = encodeVoid(42n, false)
    expect(event).toMatchObject({ pending_id: 42n, user_data_128: 42n, amount: 0n })
    expect(event.flags).toBe(TransferFlags.void_pending_transfer)
  })

  it("a transfer with a timeout is pending, without one posted; every field is set", () => {
    const pending = encodeSpec(spec, 30, true)
    expect(pending).toEqual({
      id: 7n,
      debit_account_id: 1n,
      credit_account_id: 2n,
      amount: 10n,
      pending_id: 0n,
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      timeout: 30,
      ledger: 3,
      code: 4,
      flags: TransferFlags.pending | TransferFlags.linked,
      timestamp: 0n
    })
    expect(encodeSpec(spec, undefined, false)).toMatchObject({ timeout: 0, flags: 0 })
    expect(encodeChainTransfer({ ...spec, timeoutSeconds: 5 }, false)).toMatchObject({ timeout: 5, flags: TransferFlags.pending })
  })
})
