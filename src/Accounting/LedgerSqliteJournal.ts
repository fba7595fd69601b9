/** Journal replay for the audit: recomputes every account's balances from the embedded ledger's transfers. */
import type { DatabaseSync } from "node:sqlite"
import type { AccountBalance } from "./Ledger.ts"
import { accountColumns, big, decodeAccount, int, type SqlRow, toBalance, TransferState } from "./LedgerSqliteSchema.ts"

export interface JournalMismatch {
  /** The balances the transfers add up to. */
  readonly expected: AccountBalance
  /** The balances stored on the account (zero if the account row is missing). */
  readonly actual: AccountBalance
}

type Sums = { debitsPending: bigint; debitsPosted: bigint; creditsPending: bigint; creditsPosted: bigint }

const zeroSums = (): Sums => ({ debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n })

/** Adds one transfer row to the per-account sums it implies. */
const replayTransfer = (sums: Map<string, Sums>, row: SqlRow): void => {
  const state = int(row, "state")
  if (state === TransferState.voided || state === TransferState.expired) return
  const amount = big(row, "amount")
  const posted = state !== TransferState.pending
  const debit = sums.get(row["debit_account_id"] as string) ?? zeroSums()
  const credit = sums.get(row["credit_account_id"] as string) ?? zeroSums()
  if (posted) {
    debit.debitsPosted += amount
    credit.creditsPosted += amount
  } else {
    debit.debitsPending += amount
    credit.creditsPending += amount
  }
  sums.set(row["debit_account_id"] as string, debit)
  sums.set(row["credit_account_id"] as string, credit)
}

const sameSums = (a: Sums, b: AccountBalance): boolean =>
  a.debitsPending === b.debitsPending && a.debitsPosted === b.debitsPosted &&
  a.creditsPending === b.creditsPending && a.creditsPosted === b.creditsPosted

/**
 * Replays every transfer and compares the sums with each account's stored balances; calls
 * `onMismatch` for each difference. Run it inside one read transaction for a consistent result.
 * Memory: one entry per account.
 */
export const replayJournal = (db: DatabaseSync, onMismatch: (mismatch: JournalMismatch) => void): void => {
  const sums = new Map<string, Sums>()
  const transfers = db.prepare("SELECT debit_account_id, credit_account_id, amount, state FROM transfers")
  transfers.setReadBigInts(true)
  for (const row of transfers.iterate()) replayTransfer(sums, row as SqlRow)
  const accounts = db.prepare(`SELECT ${accountColumns} FROM accounts`)
  accounts.setReadBigInts(true)
  for (const row of accounts.iterate()) {
    const actual = toBalance(decodeAccount(row as SqlRow))
    const expected = sums.get(actual.id.toString()) ?? zeroSums()
    sums.delete(actual.id.toString())
    if (!sameSums(expected, actual)) onMismatch({ expected: { id: actual.id, ...expected }, actual })
  }
  for (const [id, expected] of sums) {
    onMismatch({ expected: { id: BigInt(id), ...expected }, actual: { id: BigInt(id), ...zeroSums() } })
  }
}
