/**
 * Money in and out of the ledger (issue 11): deposits and two-phase withdrawals, for peer
 * liquidity, asset liquidity, wallet addresses and incoming payments. Every movement is one ledger
 * transfer between the asset's settlement account (money outside the ledger) and the account, so
 * the audit accounts for it: the settlement accounts' net is deposits minus posted withdrawals.
 *
 * Idempotency. The client names each movement with its own key (`movementKeyPattern`). The ledger
 * transfer id is derived from it (`depositTransferId`, `withdrawalTransferId`), so a repeat reaches
 * the ledger with the same id and both ledgers treat it as "exists": nothing moves twice. A movement
 * whose transfer exists is answered from the ledger (`lookupTransfers`) as it was recorded — the
 * original result — without a second write. The same key with a different account or amount is
 * `MovementKeyConflict`; so is a key whose first attempt failed (the ledgers refuse a failed id for
 * ever): use a new key.
 *
 * Withdrawals are two-phase, as TigerBeetle's pending transfers: `createWithdrawal` holds the
 * amount (a pending transfer account -> settlement: what is held can no longer be spent by packets
 * or payments), then `postWithdrawal` moves it out, or `voidWithdrawal` (or its timeout) releases
 * it. Posting and voiding are idempotent; posting a voided or expired withdrawal, or voiding a
 * posted one, is refused.
 *
 * Only deposited or earned money can leave: a peer's liquidity account includes its credit line
 * (see `Ledger.ts`), so a withdrawal from a peer is one linked chain that takes the granted line out
 * of the liquidity account, holds the withdrawal, and puts the line back. The ledger checks the
 * hold against the balance without the line, atomically, and the chain leaves the line as it was.
 * (The granted amount is read just before; a credit limit changed at that very moment makes the
 * chain fail — or, if raised, leaves the raise withdrawable for that one request. Operator actions
 * on one peer should not race each other.)
 */
import { createHash } from "node:crypto"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { Asset } from "../Config.ts"
import { ids, ledgerOf } from "./Accounts.ts"
import {
  type AccountBalance,
  type ChainTransfer,
  type CreditLine,
  grantedCreditLimit,
  type InsufficientBalance,
  Ledger,
  LedgerDefect,
  type LedgerUnavailable,
  timeoutSecondsMax,
  type Transfer,
  TransferCode,
  type TransferSpec
} from "./Ledger.ts"

// ---------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------

/** A movement key: 1..64 characters of letters, digits and `._:-` (a UUID fits). */
export const movementKeyPattern = /^[A-Za-z0-9._:-]{1,64}$/
/** How long a pending withdrawal holds its amount unless posted or voided first. */
export const withdrawalTimeoutSecondsDefault = 24 * 60 * 60
/** Longest hold a client may ask for: 30 days. */
export const withdrawalTimeoutSecondsMax = Math.min(30 * 24 * 60 * 60, timeoutSecondsMax)

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/** What money moves in or out of. */
export type AccountKind = "peer" | "asset" | "walletAddress" | "incomingPayment"

export interface MovementAccount {
  readonly kind: AccountKind
  readonly asset: Asset
  /** The ledger account money is deposited to or withdrawn from. */
  readonly accountId: bigint
  /** A peer's credit line, which a withdrawal never draws on. */
  readonly creditLine?: CreditLine | undefined
}

export type MovementKind = "deposit" | "withdrawal"

/** A deposit or withdrawal as the ledger records it. */
export interface Movement {
  readonly key: string
  readonly kind: MovementKind
  readonly transfer: Transfer
}

export class MovementNotFound extends Data.TaggedError("MovementNotFound")<{ readonly key: string }> {}

/** The key was used for a different movement, or for one that failed: use a new key. */
export class MovementKeyConflict extends Data.TaggedError("MovementKeyConflict")<{ readonly message: string }> {}

/** The account cannot cover the withdrawal without its credit line (or at all). */
export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{ readonly message: string }> {}

/** Post of a voided or expired withdrawal, or void of a posted one. */
export class WithdrawalSettled extends Data.TaggedError("WithdrawalSettled")<{
  readonly key: string
  readonly state: "posted" | "voided" | "expired"
}> {}

// ---------------------------------------------------------------------------------------------
// Ids (pure)
// ---------------------------------------------------------------------------------------------

const transferIdFor = (label: string): bigint => {
  const bytes = createHash("sha256").update(`transfer:${label}`, "utf8").digest()
  let id = 0n
  for (let i = 0; i < 16; i++) id = (id << 8n) | BigInt(bytes[i]!)
  if (id === 0n || id === (1n << 128n) - 1n) throw new LedgerDefect(`reserved transfer id for ${label}`)
  return id
}

export const depositTransferId = (key: string): bigint => transferIdFor(`deposit:${key}`)
export const withdrawalTransferId = (key: string): bigint => transferIdFor(`withdrawal:${key}`)
/** The credit-line transfers around a withdrawal from a peer. */
export const creditLineUnlockId = (key: string): bigint => transferIdFor(`withdrawal:${key}:unlock`)
export const creditLineRelockId = (key: string): bigint => transferIdFor(`withdrawal:${key}:relock`)

// ---------------------------------------------------------------------------------------------
// Transfers (pure)
// ---------------------------------------------------------------------------------------------

export const depositTransfer = (account: MovementAccount, amount: bigint, id: bigint): TransferSpec => ({
  id,
  debitAccountId: ids.settlement(account.asset),
  creditAccountId: account.accountId,
  amount,
  ledger: ledgerOf(account.asset),
  code: TransferCode.deposit
})

/**
 * The chain of a withdrawal: the hold (account -> settlement), pending when `timeoutSeconds` is
 * given, else posted; for a peer with a granted credit line, wrapped in taking the line out and
 * putting it back, so the hold is checked against deposited or earned money only.
 */
export const withdrawalChain = (
  account: MovementAccount,
  amount: bigint,
  granted: bigint,
  transferIds: { readonly hold: bigint; readonly unlock: bigint; readonly relock: bigint },
  timeoutSeconds: number | undefined
): ReadonlyArray<ChainTransfer> => {
  const ledger = ledgerOf(account.asset)
  const hold: ChainTransfer = {
    id: transferIds.hold,
    debitAccountId: account.accountId,
    creditAccountId: ids.settlement(account.asset),
    amount,
    ledger,
    code: TransferCode.withdrawal,
    timeoutSeconds
  }
  const line = account.creditLine
  if (line === undefined || granted === 0n) return [hold]
  const move = (id: bigint, debitAccountId: bigint, creditAccountId: bigint): ChainTransfer => ({
    id,
    debitAccountId,
    creditAccountId,
    amount: granted,
    ledger,
    code: TransferCode.creditLine
  })
  return [
    move(transferIds.unlock, line.liquidityAccountId, line.creditLineAccountId),
    hold,
    move(transferIds.relock, line.creditLineAccountId, line.liquidityAccountId)
  ]
}

/** What the account may pay out now: its available balance less any granted credit line. Pure. */
export const withdrawable = (balance: AccountBalance, granted: bigint): bigint =>
  balance.creditsPosted - balance.debitsPosted - balance.debitsPending - granted

const sameMovement = (transfer: Transfer, expected: TransferSpec): boolean =>
  transfer.debitAccountId === expected.debitAccountId && transfer.creditAccountId === expected.creditAccountId &&
  transfer.amount === expected.amount && transfer.code === expected.code && transfer.ledger === expected.ledger

const keyConflict = (key: string) =>
  new MovementKeyConflict({
    message: `key "${key}" was used for a different movement or for one that failed; use a new key`
  })

// ---------------------------------------------------------------------------------------------
// Effects
// ---------------------------------------------------------------------------------------------

/**
 * With accounts known to exist, the only defect a movement's write can raise is its derived id
 * being taken (exists with other fields, or failed before): the client's key, answered as a conflict.
 */
const refuseTakenKey = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) =>
  Effect.catchDefect(effect, (defect) => defect instanceof LedgerDefect ? Effect.fail(keyConflict(key)) : Effect.die(defect))

const lookupOne = (id: bigint) =>
  Effect.flatMap(Ledger, (ledger) => Effect.map(ledger.lookupTransfers([id]), (found) => found[0]))

/** The movement recorded under `key`, if any. */
export const get = Effect.fn("Movements.get")(function*(kind: MovementKind, key: string) {
  const transfer = yield* lookupOne(kind === "deposit" ? depositTransferId(key) : withdrawalTransferId(key))
  const code = kind === "deposit" ? TransferCode.deposit : TransferCode.withdrawal
  if (transfer === undefined || transfer.code !== code) return yield* new MovementNotFound({ key })
  return { key, kind, transfer } satisfies Movement
})

/** Existing movement under the key: the original result if it matches, else a conflict. */
const replay = (key: string, kind: MovementKind, existing: Transfer, expected: TransferSpec) =>
  sameMovement(existing, expected) ?
    Effect.succeed<Movement>({ key, kind, transfer: existing }) :
    Effect.fail(keyConflict(key))

const recorded = (key: string, kind: MovementKind, id: bigint) =>
  Effect.flatMap(lookupOne(id), (transfer) =>
    transfer === undefined ?
      Effect.die(new Error(`movement ${key}: its transfer ${id} was written but cannot be read back`)) :
      Effect.succeed<Movement>({ key, kind, transfer }))

/** Deposits `amount` (settlement -> account), once per key. */
export const deposit = Effect.fn("Movements.deposit")(function*(
  account: MovementAccount,
  amount: bigint,
  key: string
): Effect.fn.Return<Movement, MovementKeyConflict | LedgerUnavailable, Ledger> {
  const ledger = yield* Ledger
  const spec = depositTransfer(account, amount, depositTransferId(key))
  const existing = yield* lookupOne(spec.id)
  if (existing !== undefined) return yield* replay(key, "deposit", existing, spec)
  // A deposit into a liquidity or wallet account cannot fail for lack of balance (settlement has
  // no balance flag); should it ever, it is a bug.
  yield* refuseTakenKey(key, ledger.transfer([spec])).pipe(
    Effect.catchTag("InsufficientBalance", (error) => Effect.die(error))
  )
  return yield* recorded(key, "deposit", spec.id)
})

const grantedOn = (account: BalanceAccount) =>
  Effect.gen(function*() {
    if (account.creditLine === undefined) return 0n
    const [line] = yield* (yield* Ledger).balances([account.creditLine.creditLineAccountId])
    return line === undefined ? 0n : grantedCreditLimit(line)
  })

const insufficient = (error: InsufficientBalance, account: MovementAccount) =>
  new InsufficientFunds({
    message: error.accountId === account.creditLine?.creditLineAccountId ?
      "the credit line changed meanwhile; retry" :
      insufficientMessage
  })

const insufficientMessage =
  "amount: exceeds what the account holds (deposited or earned, not counting any credit line or held withdrawals)"

/**
 * Holds `amount` for a withdrawal (pending, expiring after `timeoutSeconds`), once per key; or, with
 * `timeoutSeconds` undefined, moves it out at once (a single-phase withdrawal).
 */
export const createWithdrawal = Effect.fn("Movements.createWithdrawal")(function*(
  account: MovementAccount,
  amount: bigint,
  key: string,
  timeoutSeconds: number | undefined
): Effect.fn.Return<Movement, MovementKeyConflict | InsufficientFunds | LedgerUnavailable, Ledger> {
  const ledger = yield* Ledger
  const transferIds = { hold: withdrawalTransferId(key), unlock: creditLineUnlockId(key), relock: creditLineRelockId(key) }
  const granted = yield* grantedOn(account)
  const chain = withdrawalChain(account, amount, granted, transferIds, timeoutSeconds)
  const hold = chain.find((transfer) => transfer.id === transferIds.hold)!
  const existing = yield* lookupOne(hold.id)
  if (existing !== undefined) return yield* replay(key, "withdrawal", existing, hold)
  // A clear answer before the write; the ledger's balance flag decides atomically (this check
  // alone guards only accounts created without one: incoming payments made before issue 11).
  const [balance] = yield* ledger.balances([account.accountId])
  if (balance !== undefined && withdrawable(balance, granted) < amount) {
    return yield* new InsufficientFunds({ message: insufficientMessage })
  }
  yield* refuseTakenKey(key, ledger.createChain(chain)).pipe(
    Effect.catchTag("InsufficientBalance", (error) => Effect.fail(insufficient(error, account)))
  )
  return yield* recorded(key, "withdrawal", hold.id)
})

/** Pays out a held withdrawal. Idempotent; refused for a voided or expired one. */
export const postWithdrawal = Effect.fn("Movements.postWithdrawal")(function*(key: string) {
  const ledger = yield* Ledger
  const held = yield* get("withdrawal", key)
  if (!held.transfer.pending) return held // single-phase: already out
  yield* ledger.post([held.transfer.id]).pipe(
    Effect.catchTags({
      PendingExpired: () => Effect.fail(new WithdrawalSettled({ key, state: "expired" })),
      PendingAlreadyVoided: () => Effect.fail(new WithdrawalSettled({ key, state: "voided" })),
      PendingNotFound: () => Effect.fail(new MovementNotFound({ key }))
    })
  )
  return yield* get("withdrawal", key)
})

/** Releases a held withdrawal. Idempotent (an expired one stays expired); refused for a posted one. */
export const voidWithdrawal = Effect.fn("Movements.voidWithdrawal")(function*(key: string) {
  const ledger = yield* Ledger
  const held = yield* get("withdrawal", key)
  if (!held.transfer.pending) return yield* new WithdrawalSettled({ key, state: "posted" })
  yield* ledger.voidPending([held.transfer.id]).pipe(
    Effect.catchTag("PendingAlreadyPosted", () => Effect.fail(new WithdrawalSettled({ key, state: "posted" })))
  )
  return yield* get("withdrawal", key)
})

/** What `balanceOf` needs: the account, and its credit line if it has one. */
export type BalanceAccount = Pick<MovementAccount, "accountId" | "creditLine">

/** The account's balance now, and what it may pay out (without its credit line). */
export const balanceOf = Effect.fn("Movements.balanceOf")(function*(account: BalanceAccount) {
  const [balance] = yield* (yield* Ledger).balances([account.accountId])
  const granted = yield* grantedOn(account)
  const zero: AccountBalance = { id: account.accountId, debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n }
  const current = balance ?? zero
  return { balance: current, creditLimitGranted: granted, withdrawable: withdrawable(current, granted) }
})
