/**
 * How the TigerBeetle ledger encodes the contract's accounts and transfers as TigerBeetle objects,
 * and decodes them back. Pure.
 */
import {
  type Account as TbAccount,
  amount_max,
  id as tigerBeetleId,
  type Transfer as TbTransfer,
  TransferFlags
} from "tigerbeetle-node"
import {
  type Account,
  type AccountBalance,
  type AccountSpec,
  type ChainTransfer,
  type Transfer,
  type TransferSpec,
  type TransferState
} from "./Ledger.ts"
import { bitsToFlags, flagsToBits } from "./LedgerRules.ts"

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

export const encodeAccount = (spec: AccountSpec): TbAccount => ({
  id: spec.id,
  debits_pending: 0n,
  debits_posted: 0n,
  credits_pending: 0n,
  credits_posted: 0n,
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  reserved: 0,
  ledger: spec.ledger,
  code: spec.code,
  flags: flagsToBits(spec.flags),
  timestamp: 0n
})

const tbTransfer = (fields: Partial<TbTransfer> & Pick<TbTransfer, "id" | "flags">): TbTransfer => ({
  debit_account_id: 0n,
  credit_account_id: 0n,
  amount: 0n,
  pending_id: 0n,
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  timeout: 0,
  ledger: 0,
  code: 0,
  timestamp: 0n,
  ...fields
})

const linkedFlag = (linked: boolean): number => linked ? TransferFlags.linked : 0

export const encodeTransfer = (timeoutSeconds: number | undefined) => (spec: TransferSpec, linked: boolean): TbTransfer =>
  tbTransfer({
    id: spec.id,
    debit_account_id: spec.debitAccountId,
    credit_account_id: spec.creditAccountId,
    amount: spec.amount,
    ledger: spec.ledger,
    code: spec.code,
    timeout: timeoutSeconds ?? 0,
    flags: linkedFlag(linked) | (timeoutSeconds === undefined ? 0 : TransferFlags.pending)
  })

export const encodeChainTransfer = (spec: ChainTransfer, linked: boolean): TbTransfer =>
  encodeTransfer(spec.timeoutSeconds)(spec, linked)

// Post and void transfers carry their pending transfer's id in `user_data_128`, so that
// `lookupTransfers` can find what became of a pending transfer with one `query_transfers`.
// Their own ids come from tigerbeetle-node's `id()`: the layout of `Ledger.ts` `makeId` (48 bits of
// milliseconds, 80 random bits), drawn once per millisecond and then incremented, so strictly
// increasing within the process (TigerBeetle's LSM trees prefer it), and ~0.1 µs against ~1 µs for
// `newTransferId` (bench/experiments/transferIds.ts; one per packet).
export const encodePost = (pendingId: bigint, linked: boolean): TbTransfer =>
  tbTransfer({
    id: tigerBeetleId(),
    pending_id: pendingId,
    user_data_128: pendingId,
    amount: amount_max, // post the full pending amount
    flags: linkedFlag(linked) | TransferFlags.post_pending_transfer
  })

export const encodeVoid = (pendingId: bigint, linked: boolean): TbTransfer =>
  tbTransfer({
    id: tigerBeetleId(),
    pending_id: pendingId,
    user_data_128: pendingId,
    flags: linkedFlag(linked) | TransferFlags.void_pending_transfer
  })

export const decodeBalance = (account: TbAccount): AccountBalance => ({
  id: account.id,
  debitsPending: account.debits_pending,
  debitsPosted: account.debits_posted,
  creditsPending: account.credits_pending,
  creditsPosted: account.credits_posted
})

export const decodeAccount = (account: TbAccount): Account => ({
  ...decodeBalance(account),
  ledger: account.ledger,
  code: account.code,
  flags: bitsToFlags(account.flags),
  timestamp: account.timestamp
})


const nsPerSecond = 1_000_000_000n

/** What became of a pending transfer, from the post or void transfers that name it. Pure. */
export const pendingState = (
  pending: TbTransfer,
  resolutions: ReadonlyArray<TbTransfer>,
  nowNs: bigint
): TransferState => {
  const resolution = resolutions.find((t) =>
    t.pending_id === pending.id && (t.flags & (TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer)) !== 0
  )
  if (resolution !== undefined) return (resolution.flags & TransferFlags.post_pending_transfer) !== 0 ? "posted" : "voided"
  // TigerBeetle records no event when it expires a pending transfer: past its timeout it has.
  return pending.timeout > 0 && nowNs >= pending.timestamp + BigInt(pending.timeout) * nsPerSecond ? "expired" : "pending"
}

export const decodeTransfer = (transfer: TbTransfer, state: TransferState): Transfer => ({
  id: transfer.id,
  debitAccountId: transfer.debit_account_id,
  creditAccountId: transfer.credit_account_id,
  amount: transfer.amount,
  ledger: transfer.ledger,
  code: transfer.code,
  pending: (transfer.flags & TransferFlags.pending) !== 0,
  timeoutSeconds: transfer.timeout,
  timestamp: transfer.timestamp,
  state
})

