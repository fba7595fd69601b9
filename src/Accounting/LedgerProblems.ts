/**
 * The ledger's bounds and the checks of every call's input against them, shared by both backends
 * (`LedgerSqlite.ts`, `LedgerTigerBeetle.ts`): a violation is a programmer error, raised as a
 * defect (`dieIf`), never a typed error. Pure; re-exported by `Ledger.ts`, whose model it checks.
 */
import * as Effect from "effect/Effect"
import type { AccountQuery, AccountSpec, ChainTransfer, TransferSpec } from "./Ledger.ts"

// ---------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------

/** Largest u128; TigerBeetle reserves it as an id and uses it as "post the full amount". */
export const u128Max = (1n << 128n) - 1n
/** Largest amount of one transfer. */
export const amountMax = u128Max
/** Most transfers in one chain. TigerBeetle's batch limit is 8189 events; chains here are 1-3. */
export const chainLengthMax = 1024
/** Largest timeout of a pending transfer (TigerBeetle: u32 seconds). */
export const timeoutSecondsMax = 2 ** 32 - 1
/** Most ids in one `lookupTransfers` call (operator look-ups, not the packet path). */
export const lookupIdsMax = 256
/** Most accounts returned by one `listAccounts` page (TigerBeetle's batch limit). */
export const accountsPageSizeMax = 8189

// ---------------------------------------------------------------------------------------------
// Validation of programmer input (violations are defects in both backends)
// ---------------------------------------------------------------------------------------------

const isU32NonZero = (n: number) => Number.isInteger(n) && n > 0 && n <= 0xffff_ffff
const isU16NonZero = (n: number) => Number.isInteger(n) && n > 0 && n <= 0xffff
const isValidId = (id: bigint) => id > 0n && id < u128Max

/** Why an account spec is invalid, or `undefined` if it is valid. Pure. */
export const accountProblem = (account: AccountSpec): string | undefined => {
  if (!isValidId(account.id)) return `account id out of range: ${account.id}`
  if (!isU32NonZero(account.ledger)) return `account ${account.id}: ledger must be a non-zero u32`
  if (!isU16NonZero(account.code)) return `account ${account.id}: code must be a non-zero u16`
  if (account.flags.debitsMustNotExceedCredits === true && account.flags.creditsMustNotExceedDebits === true) {
    return `account ${account.id}: balance flags are mutually exclusive`
  }
  return undefined
}

const transferProblem = (transfer: TransferSpec): string | undefined => {
  if (!isValidId(transfer.id)) return `transfer id out of range: ${transfer.id}`
  if (!isValidId(transfer.debitAccountId)) return `transfer ${transfer.id}: debit account id out of range`
  if (!isValidId(transfer.creditAccountId)) return `transfer ${transfer.id}: credit account id out of range`
  if (transfer.debitAccountId === transfer.creditAccountId) return `transfer ${transfer.id}: accounts must be different`
  if (transfer.amount < 0n || transfer.amount > amountMax) return `transfer ${transfer.id}: amount out of range`
  if (!isU32NonZero(transfer.ledger)) return `transfer ${transfer.id}: ledger must be a non-zero u32`
  if (!isU16NonZero(transfer.code)) return `transfer ${transfer.id}: code must be a non-zero u16`
  return undefined
}

/**
 * The first id (in order) that an earlier one repeats, reported; `idOf` reads an item's id, so a
 * chain of transfers is checked without an array of its ids. Short chains (every packet's) are
 * compared pairwise, without a Set per call; long ones through a Set.
 */
const duplicateProblemBy = <A>(items: ReadonlyArray<A>, idOf: (item: A) => bigint): string | undefined => {
  if (items.length <= 16) {
    for (let i = 1; i < items.length; i++) {
      const id = idOf(items[i]!)
      for (let j = 0; j < i; j++) {
        if (id === idOf(items[j]!)) return `id ${id} appears twice in one chain`
      }
    }
    return undefined
  }
  const seen = new Set<bigint>()
  for (const item of items) {
    const id = idOf(item)
    if (seen.has(id)) return `id ${id} appears twice in one chain`
    seen.add(id)
  }
  return undefined
}

const idItself = (id: bigint): bigint => id

const duplicateProblem = (ids: ReadonlyArray<bigint>): string | undefined => duplicateProblemBy(ids, idItself)

/** The first problem `problemOf` finds among `items`, in order (no array of answers per call). */
const firstProblem = <A>(items: ReadonlyArray<A>, problemOf: (item: A) => string | undefined): string | undefined => {
  for (const item of items) {
    const problem = problemOf(item)
    if (problem !== undefined) return problem
  }
  return undefined
}

const transferIdOf = (transfer: TransferSpec): bigint => transfer.id

const pendingIdProblem = (id: bigint): string | undefined => isValidId(id) ? undefined : `pending id out of range: ${id}`

const chainLengthProblem = (length: number): string | undefined =>
  length > chainLengthMax ? `chain of ${length} exceeds chainLengthMax ${chainLengthMax}` : undefined

/** Most accounts in one `createAccounts` call (TigerBeetle's batch limit). */
export const accountsPerCallMax = 8189

/** Why a `createAccounts` call is invalid, or `undefined`. Pure. */
export const accountsProblem = (accounts: ReadonlyArray<AccountSpec>): string | undefined =>
  (accounts.length > accountsPerCallMax ? `${accounts.length} accounts exceed ${accountsPerCallMax}` : undefined) ??
    accounts.map(accountProblem).find((problem) => problem !== undefined) ??
    duplicateProblem(accounts.map((account) => account.id))

/** Why a transfer chain is invalid, or `undefined`. Pure. */
export const transferChainProblem = (transfers: ReadonlyArray<TransferSpec>): string | undefined =>
  chainLengthProblem(transfers.length) ??
    firstProblem(transfers, transferProblem) ??
    (transfers.length < 2 ? undefined : duplicateProblemBy(transfers, transferIdOf))

/** Why a mixed chain is invalid (its transfers, or a pending transfer's timeout), or `undefined`. Pure. */
export const mixedChainProblem = (transfers: ReadonlyArray<ChainTransfer>): string | undefined =>
  transferChainProblem(transfers) ??
    transfers.map((transfer) =>
      transfer.timeoutSeconds === undefined ? undefined : timeoutProblem(transfer.timeoutSeconds)
    ).find((problem) => problem !== undefined)

/** Why a `lookupTransfers` call is invalid, or `undefined`. Pure. */
export const lookupProblem = (ids: ReadonlyArray<bigint>): string | undefined =>
  ids.length > lookupIdsMax ?
    `${ids.length} ids exceed lookupIdsMax ${lookupIdsMax}` :
    ids.map((id) => isValidId(id) ? undefined : `transfer id out of range: ${id}`).find((p) => p !== undefined)

/** Why a chain of pending ids to post or void is invalid, or `undefined`. Pure. */
export const pendingChainProblem = (ids: ReadonlyArray<bigint>): string | undefined =>
  chainLengthProblem(ids.length) ?? firstProblem(ids, pendingIdProblem) ?? duplicateProblem(ids)

/** Why a reservation timeout is invalid, or `undefined`. Pure. */
export const timeoutProblem = (timeoutSeconds: number): string | undefined =>
  Number.isInteger(timeoutSeconds) && timeoutSeconds >= 1 && timeoutSeconds <= timeoutSecondsMax
    ? undefined
    : `timeout must be an integer number of seconds in 1..${timeoutSecondsMax}: ${timeoutSeconds}`

/** Why an account query is invalid, or `undefined`. Pure. */
export const accountQueryProblem = (query: AccountQuery): string | undefined =>
  Number.isInteger(query.limit) && query.limit >= 1 && query.limit <= accountsPageSizeMax
    ? (query.ledger === undefined || isU32NonZero(query.ledger) ? undefined : `bad ledger ${query.ledger}`)
    : `limit must be in 1..${accountsPageSizeMax}: ${query.limit}`

/** A programmer error in ledger input: raised as a defect, never as a typed error. */
export class LedgerDefect extends Error {
  override readonly name = "LedgerDefect"
}

/** Dies with a `LedgerDefect` when `problem` is defined. */
export const dieIf = (problem: string | undefined): Effect.Effect<void> =>
  problem === undefined ? Effect.void : Effect.die(new LedgerDefect(problem))
