/**
 * How the TigerBeetle ledger encodes the contract's accounts and transfers as TigerBeetle objects,
 * and decodes them back. Pure.
 */
import { randomBytes } from "node:crypto"
import {
  type Account as TbAccount,
  amount_max,
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

/**
 * One TigerBeetle transfer, every field written in one literal in the same order: one object of one
 * shape per event (no partial object spread over defaults), on the per-packet path.
 */
const tbTransfer = (
  id: bigint,
  debitAccountId: bigint,
  creditAccountId: bigint,
  amount: bigint,
  pendingId: bigint,
  timeoutSeconds: number,
  ledger: number,
  code: number,
  flags: number
): TbTransfer => ({
  id,
  debit_account_id: debitAccountId,
  credit_account_id: creditAccountId,
  amount,
  pending_id: pendingId,
  user_data_128: pendingId,
  user_data_64: 0n,
  user_data_32: 0,
  timeout: timeoutSeconds,
  ledger,
  code,
  flags,
  timestamp: 0n
})

const linkedFlag = (linked: boolean): number => linked ? TransferFlags.linked : 0

/** A pending transfer expiring after `timeoutSeconds`, or a posted one when it is undefined. */
export const encodeSpec = (spec: TransferSpec, timeoutSeconds: number | undefined, linked: boolean): TbTransfer =>
  tbTransfer(
    spec.id,
    spec.debitAccountId,
    spec.creditAccountId,
    spec.amount,
    0n,
    timeoutSeconds ?? 0,
    spec.ledger,
    spec.code,
    linkedFlag(linked) | (timeoutSeconds === undefined ? 0 : TransferFlags.pending)
  )

/** A chain's transfer: pending when it has a timeout, else posted. */
export const encodeChainTransfer = (spec: ChainTransfer, linked: boolean): TbTransfer =>
  encodeSpec(spec, spec.timeoutSeconds, linked)

/** 80 bits set: the random part of an id. */
const low80 = (1n << 80n) - 1n
let postIdMs = 0
let postIdHigh = 0n
/** Drawn once per process, then incremented by every id. */
let postIdLow = BigInt(`0x${randomBytes(10).toString("hex")}`)

/**
 * Ids of post and void transfers: the layout of `Ledger.ts` `makeId` (48 bits of milliseconds, 80
 * bits that are random per process and then count up), never going back in time (as tigerbeetle-node's
 * `id()`): unique within the process (the 80-bit counter never repeats), and across instances and
 * restarts with the odds of `makeId` (two instances' counters overlap within one millisecond only if
 * their random starts are closer than the ids they make). Not `id()`: it draws 10 random bytes
 * through `randomFillSync` every millisecond, ~3 µs per post at a few posts per millisecond (its
 * self time in a profile of the bench; docs/performance/tigerbeetle.md).
 */
export const nextPostId = (): bigint => {
  const now = Date.now()
  if (now > postIdMs) {
    postIdMs = now
    postIdHigh = BigInt(now) << 80n
  }
  postIdLow = postIdLow === low80 ? 0n : postIdLow + 1n
  return postIdHigh | postIdLow
}

// Post and void transfers carry their pending transfer's id in `user_data_128`, so that
// `lookupTransfers` can find what became of a pending transfer with one `query_transfers`.
export const encodePost = (pendingId: bigint, linked: boolean): TbTransfer =>
  // post the full pending amount
  tbTransfer(nextPostId(), 0n, 0n, amount_max, pendingId, 0, 0, 0, linkedFlag(linked) | TransferFlags.post_pending_transfer)

export const encodeVoid = (pendingId: bigint, linked: boolean): TbTransfer =>
  tbTransfer(nextPostId(), 0n, 0n, 0n, pendingId, 0, 0, 0, linkedFlag(linked) | TransferFlags.void_pending_transfer)

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

