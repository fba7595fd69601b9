/**
 * TigerBeetle's balance rules as pure functions over account rows, for the embedded ledger.
 * (TigerBeetle applies the same rules inside the cluster; these are checked against it by the
 * shared contract suite.)
 */
import { type AccountFlags, type AccountSpec, LedgerDefect, u128Max } from "./Ledger.ts"

/** Account flag bits, numbered as TigerBeetle's `AccountFlags`. */
export const AccountFlagBits = {
  debitsMustNotExceedCredits: 1 << 1,
  creditsMustNotExceedDebits: 1 << 2
} as const

export interface AccountRow {
  readonly id: bigint
  readonly ledger: number
  readonly code: number
  /** `AccountFlagBits`. */
  readonly flags: number
  readonly debitsPending: bigint
  readonly debitsPosted: bigint
  readonly creditsPending: bigint
  readonly creditsPosted: bigint
  readonly timestamp: bigint
}

export const flagsToBits = (flags: AccountFlags): number =>
  (flags.debitsMustNotExceedCredits === true ? AccountFlagBits.debitsMustNotExceedCredits : 0) |
  (flags.creditsMustNotExceedDebits === true ? AccountFlagBits.creditsMustNotExceedDebits : 0)

export const bitsToFlags = (bits: number): AccountFlags => ({
  debitsMustNotExceedCredits: (bits & AccountFlagBits.debitsMustNotExceedCredits) !== 0,
  creditsMustNotExceedDebits: (bits & AccountFlagBits.creditsMustNotExceedDebits) !== 0
})

export const newAccountRow = (spec: AccountSpec, timestamp: bigint): AccountRow => ({
  id: spec.id,
  ledger: spec.ledger,
  code: spec.code,
  flags: flagsToBits(spec.flags),
  debitsPending: 0n,
  debitsPosted: 0n,
  creditsPending: 0n,
  creditsPosted: 0n,
  timestamp
})

/** Whether an existing account has the fields a create request asks for. */
export const sameAccount = (row: AccountRow, spec: AccountSpec): boolean =>
  row.ledger === spec.ledger && row.code === spec.code && row.flags === flagsToBits(spec.flags)

/** TigerBeetle `exceeds_credits`: the debit account cannot take `amount` more debits. */
export const exceedsCredits = (debit: AccountRow, amount: bigint): boolean =>
  (debit.flags & AccountFlagBits.debitsMustNotExceedCredits) !== 0 &&
  debit.debitsPending + debit.debitsPosted + amount > debit.creditsPosted

/** TigerBeetle `exceeds_debits`: the credit account cannot take `amount` more credits. */
export const exceedsDebits = (credit: AccountRow, amount: bigint): boolean =>
  (credit.flags & AccountFlagBits.creditsMustNotExceedDebits) !== 0 &&
  credit.creditsPending + credit.creditsPosted + amount > credit.debitsPosted

type Field = "debitsPending" | "debitsPosted" | "creditsPending" | "creditsPosted"

const checked = (value: bigint, field: Field, id: bigint): bigint => {
  if (value < 0n || value > u128Max) throw new LedgerDefect(`account ${id}: ${field} out of u128 range`)
  return value
}

/** `value + delta` for a field named in the delta; a field not named keeps its value (no new BigInt). */
const plus = (value: bigint, delta: bigint | undefined, field: Field, id: bigint): bigint =>
  delta === undefined ? value : checked(value + delta, field, id)

/** The account with `delta` added to each field named; u128 overflow or underflow is a defect. */
export const adjust = (row: AccountRow, delta: Partial<Record<Field, bigint>>): AccountRow =>
  adjustBy(row, delta.debitsPending, delta.debitsPosted, delta.creditsPending, delta.creditsPosted)

/** `adjust` with the deltas as arguments (`undefined`: unchanged): no delta object per call. */
const adjustBy = (
  row: AccountRow,
  debitsPending: bigint | undefined,
  debitsPosted: bigint | undefined,
  creditsPending: bigint | undefined,
  creditsPosted: bigint | undefined
): AccountRow => ({
  ...row,
  debitsPending: plus(row.debitsPending, debitsPending, "debitsPending", row.id),
  debitsPosted: plus(row.debitsPosted, debitsPosted, "debitsPosted", row.id),
  creditsPending: plus(row.creditsPending, creditsPending, "creditsPending", row.id),
  creditsPosted: plus(row.creditsPosted, creditsPosted, "creditsPosted", row.id)
})

/** What a new transfer does to its debit and credit account. */
export const debitFor = (row: AccountRow, amount: bigint, pending: boolean): AccountRow =>
  pending ? adjustBy(row, amount, undefined, undefined, undefined) : adjustBy(row, undefined, amount, undefined, undefined)

export const creditFor = (row: AccountRow, amount: bigint, pending: boolean): AccountRow =>
  pending ? adjustBy(row, undefined, undefined, amount, undefined) : adjustBy(row, undefined, undefined, undefined, amount)

/** What resolving a pending transfer does: posting moves pending to posted, voiding releases it. */
export const resolveDebit = (row: AccountRow, amount: bigint, post: boolean): AccountRow =>
  adjustBy(row, -amount, post ? amount : undefined, undefined, undefined)

export const resolveCredit = (row: AccountRow, amount: bigint, post: boolean): AccountRow =>
  adjustBy(row, undefined, undefined, -amount, post ? amount : undefined)
