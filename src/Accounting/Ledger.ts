/**
 * The double-entry ledger: the service every balance change goes through.
 *
 * Semantics are TigerBeetle's, and both backends (`LedgerTigerBeetle` in production, `LedgerSqlite`
 * embedded) implement them identically; one contract suite (`test/Accounting/LedgerContract.ts`)
 * runs against each.
 *
 * The contract both backends implement (codes, model, errors, service, ids, credit limits); its
 * bounds and the shared input checks are in `LedgerProblems.ts`, re-exported here.
 *
 * - Amounts, balances and ids are `bigint` (u128). Never JavaScript numbers.
 * - One ledger per asset; a transfer moves an amount between two accounts of the same ledger.
 * - A chain of transfers is applied all or nothing (TigerBeetle's linked events).
 * - Two-phase transfers map onto ILP: `reserve` = Prepare, `post` = Fulfill, `voidPending` or
 *   timeout = Reject or expiry.
 * - Balance flags count pending amounts: with `debitsMustNotExceedCredits` a transfer fails unless
 *   `debitsPending + debitsPosted + amount <= creditsPosted`, symmetrically for credits.
 *
 * Idempotency (identical in both backends):
 * - `createAccounts`: an account that exists with the same ledger, code and flags is success; one
 *   that exists with different fields is a defect (an account-id scheme collision is a bug).
 * - `reserve`/`transfer`: a transfer id that exists with identical fields is success (retry with the
 *   same ids after `LedgerUnavailable`); with different fields it is a defect. A transfer id that
 *   already failed with `InsufficientBalance` must not be reused (TigerBeetle's `id_already_failed`):
 *   doing so is a defect, so always use a fresh id after a typed failure.
 * - `post`: posting an already posted transfer is success.
 * - `voidPending`: voiding an unknown, expired or already voided transfer is success (a reservation
 *   whose state is unknown after a timeout can always be voided safely); voiding a posted transfer
 *   fails with `PendingAlreadyPosted`.
 *
 * Credit limits (spec §6: "liquidity may not go below zero unless a credit limit is configured"):
 * modelled with TigerBeetle primitives only, so both backends behave identically. A liquidity
 * account always has `debitsMustNotExceedCredits`. A peer with a credit limit also gets a
 * credit-line account (`AccountCode.creditLine`, flag `creditsMustNotExceedDebits`); granting a
 * limit L is a posted transfer of L from the credit line to the liquidity account
 * (`TransferCode.creditLine`). The liquidity account's balance (credits - debits) then includes L,
 * so its net position may fall to -L and no further. `setCreditLimit` adjusts the grant; lowering
 * it below what is in use fails with `InsufficientBalance` on the liquidity account.
 */
import { createHash } from "node:crypto"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"

import { amountMax, u128Max } from "./LedgerProblems.ts"

// The bounds of every call and the checks against them (`accountProblem`, `dieIf`, ...).
export * from "./LedgerProblems.ts"

// ---------------------------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------------------------

/** Account codes (TigerBeetle `Account.code`, u16): what an account is for. */
export const AccountCode = {
  /** The node's own funds in an asset; the counterparty of packet spreads and currency exchange. */
  assetLiquidity: 1,
  /** Money outside the ledger (deposits come from it, withdrawals go to it); one per asset. */
  settlement: 2,
  /** What the node may forward to / owes a peer; flagged `debitsMustNotExceedCredits`. */
  peerLiquidity: 3,
  /** A local wallet address's balance. */
  walletAddress: 4,
  /** Money received for one incoming payment. */
  incomingPayment: 5,
  /** Money reserved for one outgoing payment. */
  outgoingPayment: 6,
  /** Source of a peer's credit limit (see the module comment); flagged `creditsMustNotExceedDebits`. */
  creditLine: 7
} as const
export type AccountCode = typeof AccountCode[keyof typeof AccountCode]

/** Transfer codes (TigerBeetle `Transfer.code`, u16): why money moved. */
export const TransferCode = {
  /** An ILP packet (reserved on Prepare, posted on Fulfill). */
  packet: 1,
  /** Operator deposit: settlement -> liquidity. */
  deposit: 2,
  /** Operator withdrawal: liquidity -> settlement. */
  withdrawal: 3,
  /** Funding an outgoing payment from its wallet address. */
  paymentFunding: 4,
  /** Returning an outgoing payment's leftovers to its wallet address. */
  refund: 5,
  /** Granting or reducing a peer's credit limit: credit line <-> peer liquidity. */
  creditLine: 6
} as const
export type TransferCode = typeof TransferCode[keyof typeof TransferCode]

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

export interface AccountFlags {
  /** Fail transfers that would make `debitsPending + debitsPosted > creditsPosted`. */
  readonly debitsMustNotExceedCredits?: boolean
  /** Fail transfers that would make `creditsPending + creditsPosted > debitsPosted`. */
  readonly creditsMustNotExceedDebits?: boolean
}

export interface AccountSpec {
  /** u128, not 0 and not 2^128-1. */
  readonly id: bigint
  /** u32, not 0: one ledger per asset. */
  readonly ledger: number
  /** u16, not 0: see `AccountCode`. */
  readonly code: number
  readonly flags: AccountFlags
}

export interface TransferSpec {
  /** u128, not 0 and not 2^128-1; unique across all transfers. */
  readonly id: bigint
  readonly debitAccountId: bigint
  readonly creditAccountId: bigint
  /** u128; 0 is allowed. */
  readonly amount: bigint
  readonly ledger: number
  /** u16, not 0: see `TransferCode`. */
  readonly code: number
}

/** A transfer of a chain given to `createChain`: pending when it has a timeout, else posted. */
export interface ChainTransfer extends TransferSpec {
  /** Pending, expiring after this many seconds (1..`timeoutSecondsMax`); posted when absent. */
  readonly timeoutSeconds?: number | undefined
}

/**
 * What became of a transfer: a single-phase transfer is `posted`; a pending one is `pending` until
 * it is `posted`, `voided` or `expired` (its timeout passed before it was posted or voided).
 */
export type TransferState = "pending" | "posted" | "voided" | "expired"

/** A transfer as `lookupTransfers` reads it back. */
export interface Transfer extends TransferSpec {
  /** Whether it was created pending (two-phase). */
  readonly pending: boolean
  /** The pending timeout in seconds; 0 for a single-phase transfer. */
  readonly timeoutSeconds: number
  /** Creation time in nanoseconds since the epoch (the ledger's clock). */
  readonly timestamp: bigint
  readonly state: TransferState
}

export interface AccountBalance {
  readonly id: bigint
  readonly debitsPending: bigint
  readonly debitsPosted: bigint
  readonly creditsPending: bigint
  readonly creditsPosted: bigint
}

export interface Account extends AccountSpec, AccountBalance {
  /** Creation time in nanoseconds since the epoch, unique per account (TigerBeetle's timestamp). */
  readonly timestamp: bigint
}

export interface AccountQuery {
  /** Only accounts of this ledger; all ledgers when absent. */
  readonly ledger?: number
  /** Only accounts created at or after this timestamp: pass the last one seen + 1 to page on. */
  readonly timestampMin?: bigint
  /** Page size, 1..`accountsPageSizeMax`. */
  readonly limit: number
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** A balance flag would be violated: the account named cannot cover the transfer. */
export class InsufficientBalance extends Data.TaggedError("InsufficientBalance")<{
  readonly accountId: bigint
  readonly transferId: bigint
  /** Which flag refused it (TigerBeetle's `exceeds_credits` / `exceeds_debits`). */
  readonly reason: "exceeds_credits" | "exceeds_debits"
}> {}

/**
 * The ledger could not answer: timeout, unreachable cluster, storage fault, overload or shutdown.
 * Never means "not enough money"; the outcome of the request is unknown and it may be retried with
 * the same ids.
 */
export class LedgerUnavailable extends Data.TaggedError("LedgerUnavailable")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** `post` of a pending transfer the ledger does not know. */
export class PendingNotFound extends Data.TaggedError("PendingNotFound")<{
  readonly transferId: bigint
}> {}

/** `post` after the pending transfer's timeout: the ledger already released the amount. */
export class PendingExpired extends Data.TaggedError("PendingExpired")<{
  readonly transferId: bigint
}> {}

/** `post` of a pending transfer that was voided (explicitly, or on restart of the embedded ledger). */
export class PendingAlreadyVoided extends Data.TaggedError("PendingAlreadyVoided")<{
  readonly transferId: bigint
}> {}

/** `voidPending` of a pending transfer that was posted: the money has moved. */
export class PendingAlreadyPosted extends Data.TaggedError("PendingAlreadyPosted")<{
  readonly transferId: bigint
}> {}

export type PostError = PendingNotFound | PendingExpired | PendingAlreadyVoided | LedgerUnavailable
export type VoidError = PendingAlreadyPosted | LedgerUnavailable

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/**
 * A synchronous write of another store that must commit together with a post: a local packet's
 * receipt total (docs/performance/local-delivery.md). The embedded ledger calls `run` inside the
 * transaction that posts the transfers, after them, and only when that call moved them from
 * pending to posted; so the write and the post commit together or not at all (a crash cannot land
 * between them). `run` may throw only for a storage error of that same database (the post then
 * fails with `LedgerUnavailable`, nothing committed) and must leave its memory as it was when it
 * throws. A ledger without such a transaction (TigerBeetle) ignores it: the caller finds out from
 * the object itself whether it ran, and otherwise writes after the post as before.
 */
export interface PostAlongside {
  readonly run: () => void
}

export interface LedgerShape {
  /** Creates accounts (independently, not as a chain); idempotent, see the module comment. */
  readonly createAccounts: (accounts: ReadonlyArray<AccountSpec>) => Effect.Effect<void, LedgerUnavailable>
  /** Creates the transfers as ONE linked chain of pending transfers, expiring after `timeoutSeconds`. */
  readonly reserve: (
    transfers: ReadonlyArray<TransferSpec>,
    timeoutSeconds: number
  ) => Effect.Effect<void, InsufficientBalance | LedgerUnavailable>
  /**
   * Posts the full amount of each pending transfer, as one chain. `alongside`: see `PostAlongside`
   * (the embedded ledger runs it in the post's transaction; others ignore it).
   */
  readonly post: (pendingIds: ReadonlyArray<bigint>, alongside?: PostAlongside) => Effect.Effect<void, PostError>
  /**
   * Optional: `post` (without `alongside`) as a callback, where a backend can start it without an
   * Effect (TigerBeetle; for the post after the reply, `LedgerReservation.ts`). Exactly one of
   * `done` (every transfer posted) or `rest` is called, later or at once: `rest` gets the Effect
   * that finishes the call as `post` would after its first round (the next round, or the failure;
   * the caller runs it).
   */
  readonly postWith?: (
    pendingIds: ReadonlyArray<bigint>,
    done: () => void,
    rest: (rest: Effect.Effect<void, PostError>) => void
  ) => void
  /** Voids each pending transfer, as one chain; unknown, expired and voided ones are skipped. */
  readonly voidPending: (pendingIds: ReadonlyArray<bigint>) => Effect.Effect<void, VoidError>
  /** Creates the transfers as ONE linked chain of posted (single-phase) transfers. */
  readonly transfer: (
    transfers: ReadonlyArray<TransferSpec>
  ) => Effect.Effect<void, InsufficientBalance | LedgerUnavailable>
  /**
   * Creates the transfers as ONE linked chain in which each transfer is pending (it has a timeout)
   * or posted. Idempotent as `reserve`/`transfer`. Used for operator money movements that must be
   * checked and held atomically (e.g. a withdrawal that may not touch a peer's credit line).
   */
  readonly createChain: (
    transfers: ReadonlyArray<ChainTransfer>
  ) => Effect.Effect<void, InsufficientBalance | LedgerUnavailable>
  /**
   * The transfers that exist among `ids` (created by `reserve`, `transfer` or `createChain`), in
   * the order asked; unknown ids are left out. A pending transfer's state says whether it was
   * posted, voided or expired. At most `lookupIdsMax` ids per call.
   */
  readonly lookupTransfers: (ids: ReadonlyArray<bigint>) => Effect.Effect<ReadonlyArray<Transfer>, LedgerUnavailable>
  /** Balances of the accounts that exist, in the order asked; unknown ids are left out. */
  readonly balances: (ids: ReadonlyArray<bigint>) => Effect.Effect<ReadonlyArray<AccountBalance>, LedgerUnavailable>
  /** One page of accounts ordered by creation timestamp. */
  readonly listAccounts: (query: AccountQuery) => Effect.Effect<ReadonlyArray<Account>, LedgerUnavailable>
  /**
   * Number of transfers still pending, when the backend can count them cheaply (the embedded ledger
   * can; TigerBeetle has no index on transfer state, so it answers `none`). Pending amounts are
   * always available from the accounts' `debitsPending`/`creditsPending`.
   */
  readonly countPending: Effect.Effect<Option.Option<number>, LedgerUnavailable>
}

export class Ledger extends Context.Service<Ledger, LedgerShape>()("Accounting/Ledger") {}

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

/** CSPRNG bytes drawn 4 KiB at a time (one `getRandomValues` call per 409 ids), consumed once each. */
const randomPool = new Uint8Array(4096)
const randomPoolView = new DataView(randomPool.buffer)
let randomPoolAt = randomPool.length

/** 80 random bits from the pool: 64 + 16, read as integers (no hex strings). */
const randomBits80 = (): bigint => {
  if (randomPoolAt + 10 > randomPool.length) {
    crypto.getRandomValues(randomPool)
    randomPoolAt = 0
  }
  const high = randomPoolView.getBigUint64(randomPoolAt)
  const low = randomPoolView.getUint16(randomPoolAt + 8)
  randomPoolAt += 10
  return (high << 16n) | BigInt(low)
}

/**
 * A 128-bit id laid out like TigerBeetle's `id()`: 48 bits of milliseconds since the epoch, then 80
 * random bits. Time-ordered (good for TigerBeetle's LSM tree), never 0 or 2^128-1, and unique
 * without coordination between instances (collision odds 2^-40 even at 2^20 ids per millisecond).
 */
export const makeId = (nowMs: number, random80: bigint): bigint =>
  (BigInt(nowMs) << 80n) | (random80 & ((1n << 80n) - 1n))

/** A fresh transfer (or account) id; see `makeId`. */
export const newTransferId = (): bigint => makeId(Date.now(), randomBits80())

// ---------------------------------------------------------------------------------------------
// Credit limits
// ---------------------------------------------------------------------------------------------

export interface CreditLine {
  readonly ledger: number
  /** The peer's liquidity account (flag `debitsMustNotExceedCredits`). */
  readonly liquidityAccountId: bigint
  /** The peer's credit-line account (code `creditLine`, flag `creditsMustNotExceedDebits`). */
  readonly creditLineAccountId: bigint
}

/** The credit limit currently granted on a credit line, from the credit-line account's balance. */
export const grantedCreditLimit = (creditLine: AccountBalance): bigint =>
  creditLine.debitsPosted - creditLine.creditsPosted

/** The transfer that moves a credit line from `granted` to `target`, if they differ. Pure. */
export const creditLimitAdjustment = (
  line: CreditLine,
  granted: bigint,
  target: bigint,
  id: bigint
): TransferSpec | undefined => {
  if (target === granted) return undefined
  const raise = target > granted
  return {
    id,
    debitAccountId: raise ? line.creditLineAccountId : line.liquidityAccountId,
    creditAccountId: raise ? line.liquidityAccountId : line.creditLineAccountId,
    amount: raise ? target - granted : granted - target,
    ledger: line.ledger,
    code: TransferCode.creditLine
  }
}

const sha256 = (text: string): bigint => BigInt(`0x${createHash("sha256").update(text, "utf8").digest("hex").slice(0, 32)}`)

/**
 * The id of a transfer that raises a credit line from its current state to `target`: a hash of the
 * credit-line account's posted totals (which only grow, so every state is new) and the target.
 * Instances that read the same state and want the same limit compute the same id, so the ledger
 * applies the grant once (`exists` for the others). Pure.
 */
export const creditLimitRaiseId = (line: CreditLine, creditLine: AccountBalance, target: bigint): bigint => {
  const id = sha256(
    `credit-limit:${line.creditLineAccountId}:${creditLine.debitsPosted}:${creditLine.creditsPosted}:${target}`
  )
  return id === 0n || id === u128Max ? 1n : id
}

/**
 * Sets a peer's credit limit to `limit`. Lowering it below what the peer has used fails with
 * `InsufficientBalance` on the liquidity account.
 *
 * Raising is safe under concurrency: the raise's id is derived from the state it was computed from
 * (`creditLimitRaiseId`), so instances starting at once with the same configuration grant a credit
 * line exactly once. Lowering uses a fresh id: it can fail with `InsufficientBalance`, and the
 * ledger refuses a failed id forever, so a deterministic id would turn the operator's retry into a
 * defect. Two instances lowering the same line at the same moment may therefore both apply it; that
 * errs towards less credit (never creates any), and the next start-up raises it back to the
 * configured limit. Instances asking for different limits at once are not serialised either.
 */
export const setCreditLimit = Effect.fn("Ledger.setCreditLimit")(function*(line: CreditLine, limit: bigint) {
  if (limit < 0n || limit > amountMax) return yield* Effect.die(new RangeError(`credit limit out of range: ${limit}`))
  const ledger = yield* Ledger
  const [balance] = yield* ledger.balances([line.creditLineAccountId])
  if (balance === undefined) {
    return yield* Effect.die(new Error(`credit-line account ${line.creditLineAccountId} does not exist`))
  }
  const granted = grantedCreditLimit(balance)
  const id = limit > granted ? creditLimitRaiseId(line, balance, limit) : newTransferId()
  const adjustment = creditLimitAdjustment(line, granted, limit, id)
  if (adjustment !== undefined) yield* ledger.transfer([adjustment])
})
