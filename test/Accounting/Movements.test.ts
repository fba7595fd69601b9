/**
 * The pure parts of money in and out: derived transfer ids, the withdrawal chain around a credit
 * line, and what is withdrawable.
 */
import { describe, expect, it } from "vitest"
import { ids, ledgerOf } from "../../src/Accounting/Accounts.ts"
import { TransferCode } from "../../src/Accounting/Ledger.ts"
import {
  creditLineRelockId,
  creditLineUnlockId,
  depositTransferId,
  type MovementAccount,
  withdrawable,
  withdrawalChain,
  withdrawalTransferId
} from "../../src/Accounting/Movements.ts"

const usd = { code: "USD", scale: 2 }
const peer: MovementAccount = {
  kind: "peer",
  asset: usd,
  accountId: ids.peerLiquidity("bob"),
  creditLine: { ledger: ledgerOf(usd), liquidityAccountId: ids.peerLiquidity("bob"), creditLineAccountId: ids.creditLine("bob") }
}
const transferIds = { hold: 11n, unlock: 12n, relock: 13n }

describe("Movements", () => {
  it("derives one transfer id per key and kind, the same every time", () => {
    expect(depositTransferId("k1")).toBe(depositTransferId("k1"))
    const all = [depositTransferId("k1"), withdrawalTransferId("k1"), creditLineUnlockId("k1"), creditLineRelockId("k1"), depositTransferId("k2")]
    expect(new Set(all).size).toBe(all.length)
    for (const id of all) expect(id > 0n && id < (1n << 128n) - 1n).toBe(true)
  })

  it("wraps a peer's hold in taking its credit line out and putting it back", () => {
    const chain = withdrawalChain(peer, 300n, 1000n, transferIds, 60)
    expect(chain.map((t) => [t.id, t.debitAccountId, t.creditAccountId, t.amount, t.code, t.timeoutSeconds])).toEqual([
      [12n, ids.peerLiquidity("bob"), ids.creditLine("bob"), 1000n, TransferCode.creditLine, undefined],
      [11n, ids.peerLiquidity("bob"), ids.settlement(usd), 300n, TransferCode.withdrawal, 60],
      [13n, ids.creditLine("bob"), ids.peerLiquidity("bob"), 1000n, TransferCode.creditLine, undefined]
    ])
  })

  it("is just the hold without a granted line, or for other accounts; posted when no timeout", () => {
    expect(withdrawalChain(peer, 300n, 0n, transferIds, 60).map((t) => t.id)).toEqual([11n])
    const wallet: MovementAccount = { kind: "walletAddress", asset: usd, accountId: ids.walletAddress("w") }
    const [hold] = withdrawalChain(wallet, 5n, 1000n, transferIds, undefined)
    expect(hold).toMatchObject({ id: 11n, debitAccountId: ids.walletAddress("w"), amount: 5n, timeoutSeconds: undefined })
  })

  it("withdrawable leaves out held amounts and the granted credit line", () => {
    const balance = { id: 1n, debitsPending: 100n, debitsPosted: 200n, creditsPending: 50n, creditsPosted: 1_500n }
    expect(withdrawable(balance, 1_000n)).toBe(200n)
    expect(withdrawable(balance, 0n)).toBe(1_200n)
    expect(withdrawable({ ...balance, creditsPosted: 800n }, 1_000n)).toBe(-500n) // using its credit line
  })
})
