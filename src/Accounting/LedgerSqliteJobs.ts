/**
 * The embedded ledger's jobs: what one request does inside a batch (see `LedgerSqliteStore.ts`).
 * Each operation decides in memory, against the job's overlay of account rows, before it writes.
 */
import * as Exit from "effect/Exit"
import {
  type AccountSpec,
  type ChainTransfer,
  InsufficientBalance,
  LedgerDefect,
  type PostAlongside,
  PendingAlreadyPosted,
  PendingAlreadyVoided,
  PendingExpired,
  PendingNotFound,
  type TransferSpec
} from "./Ledger.ts"
import {
  type AccountRow,
  creditFor,
  debitFor,
  exceedsCredits,
  exceedsDebits,
  newAccountRow,
  resolveCredit,
  resolveDebit,
  sameAccount
} from "./LedgerRules.ts"
import {
  type SqlRow,
  type Statements,
  TransferFlagBits,
  type TransferRow,
  TransferState,
  decodeTransfer,
  nsPerSecond,
  readEarliestExpiry
} from "./LedgerSqliteSchema.ts"

/** What one job sees: its own overlay of account rows over the shared cache, and the database. */
export interface JobScope {
  readonly account: (id: bigint) => AccountRow | undefined
  readonly putAccount: (row: AccountRow) => void
  readonly transfer: (id: bigint) => TransferRow | undefined
  /** A pending transfer was written (`transfer` may answer it from memory from now on). */
  readonly pendingCreated: (row: TransferRow) => void
  /** A pending transfer was posted, voided or expired. */
  readonly pendingResolved: (id: bigint) => void
  readonly nextTimestamp: () => bigint
  readonly expiries: ExpiryWatermark
}

/**
 * A lower bound (ns) on the expiry of every pending transfer, so that the expiry check at the
 * start of every batch, and the sweeper's, cost a comparison instead of a query while nothing can
 * be due (bench/: one SELECT per batch before). Creating a pending transfer lowers it; resolving
 * one cannot invalidate it; after expiring what was due it is read again from the database; a
 * batch that aborts resets it to 0 (what it expired is pending again after the rollback).
 */
export interface ExpiryWatermark {
  earliestNs: bigint
}

/** A job's outcome; its overlay is merged into the batch only when it succeeds. */
export type Job<E> = (tx: Tx) => Exit.Exit<void, E>

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

type PostFailure = PendingNotFound | PendingExpired | PendingAlreadyVoided

/** The operations a job can perform; each decides in memory before writing. */
export interface Tx {
  readonly createAccounts: (accounts: ReadonlyArray<AccountSpec>) => Exit.Exit<void>
  readonly createTransfers: (
    transfers: ReadonlyArray<TransferSpec>,
    timeoutSeconds: number | undefined
  ) => Exit.Exit<void, InsufficientBalance>
  /** A chain whose transfers are each pending (with a timeout) or posted. */
  readonly createChain: (transfers: ReadonlyArray<ChainTransfer>) => Exit.Exit<void, InsufficientBalance>
  /** `alongside` runs after the transfers, in this job, only when this call posts them (`Ledger.PostAlongside`). */
  readonly post: (ids: ReadonlyArray<bigint>, alongside?: PostAlongside) => Exit.Exit<void, PostFailure>
  readonly voidPending: (ids: ReadonlyArray<bigint>) => Exit.Exit<void, PendingAlreadyPosted>
  /** Expires up to `limit` pending transfers whose timeout has passed. */
  readonly expireDue: (limit: number) => Exit.Exit<void>
  /** Voids up to `limit` pending transfers regardless of timeout; answers how many. */
  readonly voidAllPending: (limit: number) => number
}

const defect = (message: string): Exit.Exit<never> => Exit.die(new LedgerDefect(message))

/**
 * A job's operations over one scope. A class rather than an object of closures: one object per
 * job (two jobs per forwarded packet) instead of eight.
 */
class SqliteTx implements Tx {
  readonly sql: Statements
  readonly scope: JobScope
  constructor(sql: Statements, scope: JobScope) {
    this.sql = sql
    this.scope = scope
  }
  createAccounts(accounts: ReadonlyArray<AccountSpec>) {
    return createAccounts(this.sql, this.scope, accounts)
  }
  createTransfers(transfers: ReadonlyArray<TransferSpec>, timeoutSeconds: number | undefined) {
    return createTransfers(this.sql, this.scope, transfers, timeoutSeconds)
  }
  createChain(transfers: ReadonlyArray<ChainTransfer>) {
    return createTransfers(this.sql, this.scope, transfers, (i) => transfers[i]!.timeoutSeconds)
  }
  // `classify` only produces post failures when posting and `PendingAlreadyPosted` when voiding.
  post(ids: ReadonlyArray<bigint>, alongside?: PostAlongside) {
    return resolvePending(this.sql, this.scope, ids, true, alongside) as Exit.Exit<void, PostFailure>
  }
  voidPending(ids: ReadonlyArray<bigint>) {
    return resolvePending(this.sql, this.scope, ids, false) as Exit.Exit<void, PendingAlreadyPosted>
  }
  expireDue(limit: number) {
    const { scope, sql } = this
    const now = scope.nextTimestamp()
    if (now < scope.expiries.earliestNs) return Exit.void
    const rows = sql.selectDue.all(now, limit) as Array<SqlRow>
    for (const row of rows) resolve(sql, scope, decodeTransfer(row), TransferState.expired, now)
    if (rows.length < limit) scope.expiries.earliestNs = readEarliestExpiry(sql)
    return Exit.void
  }
  voidAllPending(limit: number) {
    const { scope, sql } = this
    const now = scope.nextTimestamp()
    const rows = sql.selectPending.all(limit) as Array<SqlRow>
    for (const row of rows) resolve(sql, scope, decodeTransfer(row), TransferState.voided, now)
    return rows.length
  }
}

export const makeTx = (sql: Statements, scope: JobScope): Tx => new SqliteTx(sql, scope)

export const expireDue = (limit: number): Job<never> => (tx) => tx.expireDue(limit)

const createAccounts = (sql: Statements, scope: JobScope, accounts: ReadonlyArray<AccountSpec>): Exit.Exit<void> => {
  const conflict = accounts.find((spec) => {
    const existing = scope.account(spec.id)
    return existing !== undefined && !sameAccount(existing, spec)
  })
  if (conflict !== undefined) {
    return defect(`account ${conflict.id} exists with a different ledger, code or flags`)
  }
  for (const spec of accounts) {
    if (scope.account(spec.id) !== undefined) continue
    const row = newAccountRow(spec, scope.nextTimestamp())
    sql.insertAccount.run(
      row.id.toString(),
      row.ledger,
      row.code,
      row.flags,
      "0",
      "0",
      "0",
      "0",
      row.timestamp
    )
    scope.putAccount(row)
  }
  return Exit.void
}

const transferFlags = (index: number, length: number, pending: boolean): number =>
  (index < length - 1 ? TransferFlagBits.linked : 0) | (pending ? TransferFlagBits.pending : 0)

const sameTransfer = (row: TransferRow, spec: TransferSpec, flags: number, timeoutSeconds: number): boolean =>
  row.debitAccountId === spec.debitAccountId && row.creditAccountId === spec.creditAccountId &&
  row.amount === spec.amount && row.ledger === spec.ledger && row.code === spec.code &&
  row.flags === flags && row.timeoutSeconds === timeoutSeconds

interface NewTransfer {
  readonly spec: TransferSpec
  readonly flags: number
  readonly timestamp: bigint
  readonly timeoutSeconds: number | undefined
}

type Step = NewTransfer | "exists" | Exit.Exit<never, InsufficientBalance>

/** Decides one transfer of a chain against the overlay, applying it there when it succeeds. */
const stepTransfer = (
  sql: Statements,
  scope: JobScope,
  spec: TransferSpec,
  flags: number,
  timeoutSeconds: number | undefined
): Step => {
  const existing = scope.transfer(spec.id)
  if (existing !== undefined) {
    return sameTransfer(existing, spec, flags, timeoutSeconds ?? 0)
      ? "exists"
      : defect(`transfer ${spec.id} exists with different fields`)
  }
  const failed = sql.selectFailed.get(spec.id.toString()) as SqlRow | undefined
  if (failed !== undefined) {
    return defect(`transfer id ${spec.id} already failed (${String(failed["reason"])}); use a fresh id`)
  }
  const debit = scope.account(spec.debitAccountId)
  const credit = scope.account(spec.creditAccountId)
  if (debit === undefined) return defect(`transfer ${spec.id}: debit account ${spec.debitAccountId} not found`)
  if (credit === undefined) return defect(`transfer ${spec.id}: credit account ${spec.creditAccountId} not found`)
  if (debit.ledger !== spec.ledger || credit.ledger !== spec.ledger) {
    return defect(`transfer ${spec.id}: accounts and transfer must have the same ledger`)
  }
  if (exceedsCredits(debit, spec.amount)) return insufficient(sql, scope, spec, debit.id, "exceeds_credits")
  if (exceedsDebits(credit, spec.amount)) return insufficient(sql, scope, spec, credit.id, "exceeds_debits")
  const pending = (flags & TransferFlagBits.pending) !== 0
  scope.putAccount(debitFor(debit, spec.amount, pending))
  scope.putAccount(creditFor(credit, spec.amount, pending))
  return { spec, flags, timestamp: scope.nextTimestamp(), timeoutSeconds }
}

const insufficient = (
  sql: Statements,
  scope: JobScope,
  spec: TransferSpec,
  accountId: bigint,
  reason: "exceeds_credits" | "exceeds_debits"
): Exit.Exit<never, InsufficientBalance> => {
  sql.insertFailed.run(spec.id.toString(), reason, scope.nextTimestamp())
  return Exit.fail(new InsufficientBalance({ accountId, transferId: spec.id, reason }))
}

/**
 * `timeoutOf`: the pending timeout of every transfer (`undefined`: posted), or of the i-th one (a
 * chain); a number rather than a function when all share it (every packet: no closure per call).
 */
const createTransfers = (
  sql: Statements,
  scope: JobScope,
  transfers: ReadonlyArray<TransferSpec>,
  timeoutOf: number | undefined | ((index: number) => number | undefined)
): Exit.Exit<void, InsufficientBalance> => {
  const created: Array<NewTransfer> = []
  for (let i = 0; i < transfers.length; i++) {
    const timeoutSeconds = typeof timeoutOf === "function" ? timeoutOf(i) : timeoutOf
    const flags = transferFlags(i, transfers.length, timeoutSeconds !== undefined)
    const step = stepTransfer(sql, scope, transfers[i]!, flags, timeoutSeconds)
    if (step === "exists") continue
    if (Exit.isExit(step)) return step
    created.push(step)
  }
  for (const transfer of created) insertTransfer(sql, scope, transfer)
  return Exit.void
}

const insertTransfer = (sql: Statements, scope: JobScope, transfer: NewTransfer): void => {
  const { flags, spec, timeoutSeconds, timestamp } = transfer
  const expiresAt = timeoutSeconds === undefined ? null : timestamp + BigInt(timeoutSeconds) * nsPerSecond
  sql.insertTransfer.run(
    spec.id.toString(),
    spec.debitAccountId.toString(),
    spec.creditAccountId.toString(),
    spec.amount.toString(),
    spec.ledger,
    spec.code,
    flags,
    timeoutSeconds ?? 0,
    timestamp,
    timeoutSeconds === undefined ? TransferState.singlePhase : TransferState.pending,
    expiresAt
  )
  if (expiresAt !== null) {
    if (expiresAt < scope.expiries.earliestNs) scope.expiries.earliestNs = expiresAt
    scope.pendingCreated({
      id: spec.id,
      debitAccountId: spec.debitAccountId,
      creditAccountId: spec.creditAccountId,
      amount: spec.amount,
      ledger: spec.ledger,
      code: spec.code,
      flags,
      timeoutSeconds: timeoutSeconds ?? 0,
      timestamp,
      state: TransferState.pending,
      expiresAt
    })
  }
}

type Resolution =
  | { readonly _tag: "Apply"; readonly row: TransferRow }
  | { readonly _tag: "Expire"; readonly row: TransferRow }
  | { readonly _tag: "Skip" }
  | { readonly _tag: "Stop"; readonly exit: Exit.Exit<never, ResolveError> }

type ResolveError = PostFailure | PendingAlreadyPosted

const skip: Resolution = { _tag: "Skip" }
const stop = (exit: Exit.Exit<never, ResolveError>): Resolution => ({ _tag: "Stop", exit })

/**
 * What posting (or voiding) one pending transfer does. Posting: unknown, expired and voided are
 * errors, posted is success. Voiding: unknown, expired and voided are success, posted is an error.
 */
const classify = (row: TransferRow | undefined, id: bigint, post: boolean, now: bigint): Resolution => {
  if (row === undefined) return post ? stop(Exit.fail(new PendingNotFound({ transferId: id }))) : skip
  if ((row.flags & TransferFlagBits.pending) === 0) return stop(defect(`transfer ${id} is not a pending transfer`))
  const timedOut = row.state === TransferState.expired ||
    (row.state === TransferState.pending && row.expiresAt !== null && row.expiresAt <= now)
  if (timedOut) {
    if (post) return stop(Exit.fail(new PendingExpired({ transferId: id })))
    return row.state === TransferState.pending ? { _tag: "Expire", row } : skip
  }
  if (row.state === TransferState.posted) {
    return post ? skip : stop(Exit.fail(new PendingAlreadyPosted({ transferId: id })))
  }
  if (row.state === TransferState.voided) {
    return post ? stop(Exit.fail(new PendingAlreadyVoided({ transferId: id }))) : skip
  }
  return { _tag: "Apply", row }
}

const resolvePending = (
  sql: Statements,
  scope: JobScope,
  ids: ReadonlyArray<bigint>,
  post: boolean,
  alongside?: PostAlongside
): Exit.Exit<void, ResolveError> => {
  const now = scope.nextTimestamp()
  const resolutions = ids.map((id) => classify(scope.transfer(id), id, post, now))
  for (const resolution of resolutions) {
    if (resolution._tag === "Stop") return resolution.exit
  }
  let applied = false
  for (const resolution of resolutions) {
    if (resolution._tag === "Apply") {
      resolve(sql, scope, resolution.row, post ? TransferState.posted : TransferState.voided, now)
      applied = true
    } else if (resolution._tag === "Expire") {
      resolve(sql, scope, resolution.row, TransferState.expired, now)
    }
  }
  // Another store's write for this post, in the same transaction (a repeated post runs nothing).
  if (applied && alongside !== undefined) alongside.run()
  return Exit.void
}

/** Moves a pending transfer to `state`, posting or releasing its amount on both accounts. */
const resolve = (sql: Statements, scope: JobScope, row: TransferRow, state: number, now: bigint): void => {
  const debit = scope.account(row.debitAccountId)
  const credit = scope.account(row.creditAccountId)
  if (debit === undefined || credit === undefined) {
    throw new LedgerDefect(`pending transfer ${row.id} refers to a missing account`)
  }
  const posting = state === TransferState.posted
  scope.putAccount(resolveDebit(debit, row.amount, posting))
  scope.putAccount(resolveCredit(credit, row.amount, posting))
  sql.resolveTransfer.run(state, now, row.id.toString())
  scope.pendingResolved(row.id)
}

