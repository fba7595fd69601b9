/**
 * Helpers for the sending tests: a data directory on disk (so the ledger file can be read
 * independently), counting ledger transfers straight from that file, funding a wallet address, and
 * waiting (bounded) for an outgoing payment to settle.
 */
import { Effect } from "effect"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { ids, ledgerOf } from "../../src/Accounting/Accounts.ts"
import { Ledger, newTransferId, TransferCode } from "../../src/Accounting/Ledger.ts"
import { available } from "../../src/Accounting/Liquidity.ts"
import { type OutgoingPayment, OutgoingPayments } from "../../src/Payments/OutgoingPayments.ts"
import type { WalletAddress } from "../../src/Payments/WalletAddresses.ts"
import { runIn, type TestNode } from "./node.ts"
import { makeTempDir, removeTempDir } from "./tempDir.ts"

export const tempDataDir = (label: string): { readonly path: string; readonly remove: () => void } => {
  const path = makeTempDir(`${label}-`)
  return { path, remove: () => removeTempDir(path) }
}

/** Transfers in the node's ledger file (read-only, beside the running node), by code when given. */
export const countTransfers = (dataDir: string, code?: number): number => {
  const db = new DatabaseSync(join(dataDir, "ledger.sqlite"), { readOnly: true })
  try {
    const row = (code === undefined ?
      db.prepare("SELECT count(*) AS n FROM transfers").get() :
      db.prepare("SELECT count(*) AS n FROM transfers WHERE code = ?").get(code)) as { n: number }
    return Number(row.n)
  } finally {
    db.close()
  }
}

export const packetTransfers = (dataDir: string): number => countTransfers(dataDir, TransferCode.packet)

/** Puts `amount` into a wallet address from its asset's settlement account (as a deposit). */
export const fundWallet = (node: TestNode, wallet: WalletAddress, amount: bigint) =>
  runIn(
    node,
    Effect.flatMap(Ledger, (ledger) =>
      ledger.transfer([{
        id: newTransferId(),
        debitAccountId: ids.settlement(wallet.asset),
        creditAccountId: wallet.ledgerAccountId,
        amount,
        ledger: ledgerOf(wallet.asset),
        code: TransferCode.deposit
      }]))
  )

/** Available balance of any ledger account (0 when it does not exist). */
export const balanceOf = (node: TestNode, accountId: bigint): Promise<bigint> =>
  runIn(node, Effect.flatMap(Ledger, (ledger) => ledger.balances([accountId]))).then((balances) =>
    balances[0] === undefined ? 0n : available(balances[0])
  )

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls the payment until `done(payment)` holds; fails after `timeoutMs`. */
export const waitForPayment = async (
  node: TestNode,
  id: string,
  done: (payment: OutgoingPayment) => boolean = (payment) => payment.state === "completed" || payment.state === "failed",
  timeoutMs = 15_000
): Promise<OutgoingPayment> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const payment = await runIn(node, Effect.flatMap(OutgoingPayments, (service) => service.get(id)))
    if (done(payment)) return payment
    if (Date.now() > deadline) throw new Error(`payment ${id} still ${payment.state} after ${timeoutMs} ms`)
    await sleep(20)
  }
}
