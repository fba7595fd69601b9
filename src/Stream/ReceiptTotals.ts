/**
 * The received totals of local STREAM receiving (SPEC §7): per STREAM connection, the running total
 * that a STREAM receipt (RFC 39) carries, and per incoming payment, the total that must never pass
 * the payment's `incomingAmount`.
 *
 * Totals follow the ledger: a packet's amount counts as received only once its ledger reservation
 * is posted. Per packet, in two phases that mirror the ledger's (the packet id is the ledger
 * reservation's id):
 * - `reserve`: ONE atomic step. If the payment has a cap and `committed + pending + amount > cap`,
 *   nothing changes and the answer says how much may still arrive; otherwise the amount becomes
 *   PENDING on the payment (it counts against the cap, so concurrent packets on every instance can
 *   never pass it together). The connection's total does not move yet.
 * - `commit` (after the ledger posted): the pending amount becomes part of the payment's and the
 *   connection's committed totals. `release` (after the ledger voided, or whenever the packet did
 *   not post): the pending amount stops counting.
 * - Idempotent per packet id, in any order and any number of times: a repeated commit or release
 *   changes nothing; a release of a packet never reserved leaves a tombstone, so a `reserve` the
 *   store applies late (a Redis that was stalled runs a queued command after the caller gave up)
 *   is refused as released; a commit after a release changes nothing.
 * - Crash safety: a pending amount LAPSES on its own `pendingMs` after it was reserved (the caller
 *   passes its ledger reservation's timeout, after which the ledger has voided or expired the
 *   transfers). So when the process dies between the steps, a total is never above the ledger
 *   credit for longer than the reservation timeout, and the payer can pay the rest after it. A
 *   commit that comes after the lapse still commits (the ledger did post: the total follows it).
 * - Packet records (for idempotency and commits after a lapse) are forgotten `settleGraceMs` after
 *   the lapse; a commit or release later than that answers `unknown`.
 *
 * `add` is reserve + commit in one step, for amounts that no ledger reservation backs (tests, tools),
 * and, on an in-process store, for an uncapped receiver's amount once the ledger posted it (nothing
 * to hold against a cap; `StreamReceiver` `addsAfterPost`).
 *
 * Lifetimes.
 * - A connection total expires `connectionTtlSeconds` (default 24 h) after the last committed add:
 *   STREAM connections are short-lived, and a sender that comes back after a day of silence opens
 *   a new connection. Once expired, `get` answers 0.
 * - A payment total never expires: it backs the incoming payment's state. Whoever removes the
 *   incoming payment calls `deletePayment`.
 *
 * Errors. `ReceiptStoreUnavailable` means the store did not answer (Redis down, timeout, disk
 * error, overload); it never means "cap reached", which is the `accepted: false` result. After a
 * call fails with it, its outcome is unknown (Redis may have applied it just before the connection
 * broke, or after the caller gave up): `release` and `commit` may be retried safely. Invalid
 * requests (a negative or non-u64 amount, an empty key) and stored values that are not decimal
 * totals are defects.
 *
 * Layers: `ReceiptTotalsMemory.layerMemory` (tests), `ReceiptTotalsSqlite.layerSqlite` (embedded
 * profile), `ReceiptTotalsRedis.layerRedis` (production).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

export interface AddRequest {
  /** The STREAM connection whose receipt total grows. */
  readonly connectionKey: string
  /** u64: what one fulfilled packet delivered. */
  readonly amount: bigint
  /** The incoming payment the packet belongs to; `cap` is its `incomingAmount`, if it has one. */
  readonly payment?: { readonly key: string; readonly cap?: bigint }
}

export interface ReserveRequest extends AddRequest {
  /** Unique per packet (the ledger reservation's id). */
  readonly packetId: string
  /** After this long the pending amount lapses by itself: the ledger reservation's timeout. */
  readonly pendingMs: number
}

/** Names a reserved packet for `commit` / `release`: the same keys as its `reserve`. */
export interface PacketRef {
  readonly packetId: string
  readonly connectionKey: string
  readonly paymentKey?: string
}

export type AddResult =
  | {
    readonly accepted: true
    /**
     * The connection's committed total with this amount (what the receipt states): after `add`,
     * the new total; after `reserve`, what it will be once this packet commits.
     */
    readonly connectionTotal: bigint
    /** The payment's total counted against the cap (committed + pending), this amount included. */
    readonly paymentTotal?: bigint
  }
  | {
    readonly accepted: false
    /** The payment's unchanged total counted against the cap (committed + pending). */
    readonly paymentTotal: bigint
    /** `cap - paymentTotal` (0 when the total has reached the cap): what the sender may still send. */
    readonly remaining: bigint
  }

export type CommitResult =
  | {
    readonly outcome: "committed"
    /** The committed totals now (a repeated commit answers the current ones). */
    readonly connectionTotal: bigint
    readonly paymentTotal?: bigint
  }
  /** It was released (or its late reserve refused): nothing counts. */
  | { readonly outcome: "released" }
  /**
   * No record of the packet: never reserved here, forgotten after `settleGraceMs`, or (the store on
   * the embedded ledger's connection, which holds pending amounts in memory) reserved before a restart.
   */
  | { readonly outcome: "unknown" }

/** `committed`: the release came after a commit, and changed nothing. */
export type ReleaseOutcome = "released" | "committed"

/**
 * The receipt write a posted packet needs: `add` for an uncapped receiver's amount (nothing was
 * reserved), `commit` for a reserved packet.
 */
export type PostedWrite =
  | { readonly kind: "add"; readonly request: AddRequest }
  | { readonly kind: "commit"; readonly packet: PacketRef }

/** What a `PostedWrite` answered when it ran in the ledger's post transaction, or the defect it met (a corrupt total). */
export type AlongsideOutcome =
  | { readonly _tag: "Done"; readonly result: AddResult | CommitResult }
  | { readonly _tag: "Defect"; readonly defect: unknown }

/**
 * A `PostedWrite` as the ledger's `PostAlongside` (`Accounting/Ledger.ts`): `run` is called inside
 * the transaction that posts the packet; `outcome` is undefined until it ran (never, with a
 * ledger that ignores it: the caller then writes after the post as before).
 */
export interface ReceiptAlongside {
  readonly run: () => void
  readonly outcome: () => AlongsideOutcome | undefined
}

export interface ReceiptTotalsShape {
  /**
   * True when every call answers within a few event-loop turns without waiting on I/O (the
   * in-process stores: SQLite in this process, memory), so a caller needs no timer to bound it.
   * Absent for a remote store (Redis).
   */
  readonly inProcess?: boolean
  /**
   * Present when the store commits in the embedded ledger's transactions
   * (`ReceiptTotalsSqliteInLedger.ts`): a posted packet's write, to run in the post's own
   * transaction, so the total and the ledger credit commit together (a crash cannot land between
   * them). Absent for the other stores (Redis: reserve, post, then commit).
   */
  readonly alongsidePost?: (write: PostedWrite) => ReceiptAlongside
  /** Reserve + commit in one step (no ledger reservation behind it). */
  readonly add: (request: AddRequest) => Effect.Effect<AddResult, ReceiptStoreUnavailable>
  /** Counts the amount as pending against the cap, or refuses it; see the module comment. */
  readonly reserve: (request: ReserveRequest) => Effect.Effect<AddResult, ReceiptStoreUnavailable>
  /** The ledger posted the packet: its pending amount becomes received. Idempotent. */
  readonly commit: (packet: PacketRef) => Effect.Effect<CommitResult, ReceiptStoreUnavailable>
  /** The packet did not post: its pending amount stops counting. Idempotent. */
  readonly release: (packet: PacketRef) => Effect.Effect<ReleaseOutcome, ReceiptStoreUnavailable>
  /** The connection's committed total; 0 when unknown or expired. */
  readonly get: (connectionKey: string) => Effect.Effect<bigint, ReceiptStoreUnavailable>
  /** The payment's committed total (pending amounts excluded); 0 when unknown or deleted. */
  readonly paymentTotal: (paymentKey: string) => Effect.Effect<bigint, ReceiptStoreUnavailable>
  /** Forgets a payment's totals, pending ones included (when the incoming payment is removed). */
  readonly deletePayment: (paymentKey: string) => Effect.Effect<void, ReceiptStoreUnavailable>
}

export class ReceiptTotals extends Context.Service<ReceiptTotals, ReceiptTotalsShape>()("Stream/ReceiptTotals") {}

/** The store could not answer; never means "cap reached". The outcome of the call is unknown. */
export class ReceiptStoreUnavailable extends Data.TaggedError("ReceiptStoreUnavailable")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** A stored total is not a decimal number: the store is corrupt (a defect, not an outage). */
export class CorruptTotal extends Error {
  override readonly name = "CorruptTotal"
}

// ---------------------------------------------------------------------------------------------
// Bounds and validation (programmer errors are defects)
// ---------------------------------------------------------------------------------------------

export const limits = {
  /** Amounts are u64 on the wire. */
  amountMax: 2n ** 64n - 1n,
  /** Caps and totals are u128. */
  capMax: 2n ** 128n - 1n,
  /** Connection, payment and packet keys, in UTF-16 code units. */
  keyLengthMax: 512,
  /** Longest time a pending amount may count (TigerBeetle's largest timeout is 2^32 - 1 s; ours are seconds). */
  pendingMsMax: 2 ** 31
} as const

export const defaults = {
  /** A STREAM connection's total is forgotten after a day without accepted packets. */
  connectionTtlSeconds: 86_400,
  /** Entries the in-memory layer holds (connections, payments and packets each). */
  memoryEntriesMax: 100_000,
  /**
   * How long a packet's record outlives its lapse (late commits and releases, tombstones). Records
   * are one row/key per packet, so a store holds about (reservation timeout + this) x packet rate.
   */
  settleGraceMs: 120_000,
  /**
   * Pending packets one payment may have at once (in flight on every instance together); beyond
   * it a reserve is `ReceiptStoreUnavailable` (T00: the sender retries), which bounds the work of
   * each reserve and the store's memory.
   */
  pendingPerPaymentMax: 10_000
} as const

export const keyProblem = (what: string, key: string): string | undefined =>
  key.length === 0 || key.length > limits.keyLengthMax
    ? `${what} must have 1 to ${limits.keyLengthMax} characters, got ${key.length}`
    : undefined

export const addRequestProblem = (request: AddRequest): string | undefined => {
  if (request.amount < 0n || request.amount > limits.amountMax) return `amount ${request.amount} is not a u64`
  const cap = request.payment?.cap
  if (cap !== undefined && (cap < 0n || cap > limits.capMax)) return `cap ${cap} is not a u128`
  return keyProblem("connection key", request.connectionKey) ??
    (request.payment === undefined ? undefined : keyProblem("payment key", request.payment.key))
}

export const reserveRequestProblem = (request: ReserveRequest): string | undefined =>
  addRequestProblem(request) ??
    keyProblem("packet id", request.packetId) ??
    (Number.isSafeInteger(request.pendingMs) && request.pendingMs >= 1 && request.pendingMs <= limits.pendingMsMax
      ? undefined
      : `pendingMs must be an integer in 1..${limits.pendingMsMax}, got ${request.pendingMs}`)

export const packetRefProblem = (packet: PacketRef): string | undefined =>
  keyProblem("packet id", packet.packetId) ??
    keyProblem("connection key", packet.connectionKey) ??
    (packet.paymentKey === undefined ? undefined : keyProblem("payment key", packet.paymentKey))

export const ttlProblem = (connectionTtlSeconds: number): string | undefined =>
  Number.isFinite(connectionTtlSeconds) && connectionTtlSeconds >= 0.001 && connectionTtlSeconds <= 2 ** 31
    ? undefined
    : `connectionTtlSeconds must be between 0.001 and 2^31, got ${connectionTtlSeconds}`

export const graceProblem = (settleGraceMs: number): string | undefined =>
  Number.isSafeInteger(settleGraceMs) && settleGraceMs >= 1 && settleGraceMs <= limits.pendingMsMax
    ? undefined
    : `settleGraceMs must be an integer in 1..${limits.pendingMsMax}, got ${settleGraceMs}`

/** The TTL in whole milliseconds (at least 1). */
export const ttlMs = (connectionTtlSeconds: number): number => Math.max(1, Math.round(connectionTtlSeconds * 1000))

export const dieIf = (problem: string | undefined): Effect.Effect<void> =>
  problem === undefined ? Effect.void : Effect.die(new Error(`ReceiptTotals: ${problem}`))

export const checkKey = (what: string, key: string): Effect.Effect<void> => dieIf(keyProblem(what, key))

// ---------------------------------------------------------------------------------------------
// Pure leaves shared by the embedded layers
// ---------------------------------------------------------------------------------------------

/** Parses a stored total; throws `CorruptTotal` when it is not a canonical decimal. */
export const parseTotal = (stored: unknown): bigint => {
  if (typeof stored !== "string" || !/^(0|[1-9][0-9]*)$/.test(stored)) {
    throw new CorruptTotal("stored receipt total is not a decimal number")
  }
  return BigInt(stored)
}

/** What the sender may still send under `cap` (0 when the total has reached or passed it). */
export const remainingUnder = (cap: bigint, paymentTotal: bigint): bigint =>
  paymentTotal >= cap ? 0n : cap - paymentTotal

/**
 * The decision of one `add` or `reserve`, given the current totals (0 when absent):
 * `connectionTotal` committed, `paymentTotal` counted (committed + live pending).
 */
export const decideAdd = (
  current: { readonly connectionTotal: bigint; readonly paymentTotal: bigint },
  request: AddRequest
): AddResult => {
  const paymentTotal = current.paymentTotal + request.amount
  const cap = request.payment?.cap
  if (cap !== undefined && paymentTotal > cap) {
    return { accepted: false, paymentTotal: current.paymentTotal, remaining: remainingUnder(cap, current.paymentTotal) }
  }
  const connectionTotal = current.connectionTotal + request.amount
  return request.payment === undefined ? { accepted: true, connectionTotal } : { accepted: true, connectionTotal, paymentTotal }
}

/** The refusal a `reserve` gets when its packet was already released (a late reserve). */
export const releasedRefusal = (paymentTotal: bigint): AddResult => ({ accepted: false, paymentTotal, remaining: 0n })
