/**
 * The received totals of local STREAM receiving (SPEC §7): per STREAM connection, the running total
 * that a STREAM receipt (RFC 39) carries, and per incoming payment, the total that must never pass
 * the payment's `incomingAmount`.
 *
 * One `add` is ONE atomic step: if the payment has a cap and `paymentTotal + amount > cap`, nothing
 * changes and the answer says how much may still arrive; otherwise the amount is added to both the
 * connection's and the payment's totals. The Redis layer makes that step atomic across instances
 * (one Lua script); the embedded layers make it atomic within the one process that owns the store.
 *
 * Lifetimes.
 * - A connection total expires `connectionTtlSeconds` (default 24 h) after the last accepted add:
 *   STREAM connections are short-lived, and a sender that comes back after a day of silence opens
 *   a new connection. Once expired, `get` answers 0.
 * - A payment total never expires: it backs the incoming payment's state. Whoever removes the
 *   incoming payment calls `deletePayment`.
 *
 * Errors. `ReceiptStoreUnavailable` means the store did not answer (Redis down, timeout, disk
 * error, overload); it never means "cap reached", which is the `accepted: false` result. After an
 * `add` fails with it, the outcome is unknown (Redis may have applied it just before the connection
 * broke). Invalid requests (a negative or non-u64 amount, an empty key) and stored values that are
 * not decimal totals are defects.
 *
 * Layers: `layerMemory` here (tests), `ReceiptTotalsSqlite.layerSqlite` (embedded profile),
 * `ReceiptTotalsRedis.layerRedis` (production).
 */
import { Clock, Context, Data, Effect, Layer } from "effect"

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

export type AddResult =
  | {
    readonly accepted: true
    /** The connection's new total (what the receipt states). */
    readonly connectionTotal: bigint
    /** The payment's new total; present when the request named a payment. */
    readonly paymentTotal?: bigint
  }
  | {
    readonly accepted: false
    /** The payment's unchanged total. */
    readonly paymentTotal: bigint
    /** `cap - paymentTotal` (0 when the total has reached the cap): what the sender may still send. */
    readonly remaining: bigint
  }

export interface ReceiptTotalsShape {
  readonly add: (request: AddRequest) => Effect.Effect<AddResult, ReceiptStoreUnavailable>
  /** The connection's total; 0 when unknown or expired. */
  readonly get: (connectionKey: string) => Effect.Effect<bigint, ReceiptStoreUnavailable>
  /** The payment's total; 0 when unknown or deleted. */
  readonly paymentTotal: (paymentKey: string) => Effect.Effect<bigint, ReceiptStoreUnavailable>
  /** Forgets a payment's total (when the incoming payment is removed). */
  readonly deletePayment: (paymentKey: string) => Effect.Effect<void, ReceiptStoreUnavailable>
}

export class ReceiptTotals extends Context.Service<ReceiptTotals, ReceiptTotalsShape>()("Stream/ReceiptTotals") {}

/** The store could not answer; never means "cap reached". The outcome of an `add` is unknown. */
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
  /** Connection and payment keys, in UTF-16 code units. */
  keyLengthMax: 512
} as const

export const defaults = {
  /** A STREAM connection's total is forgotten after a day without accepted packets. */
  connectionTtlSeconds: 86_400,
  /** Entries the in-memory layer holds (connections and payments each). */
  memoryEntriesMax: 100_000
} as const

const keyProblem = (what: string, key: string): string | undefined =>
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

export const ttlProblem = (connectionTtlSeconds: number): string | undefined =>
  Number.isFinite(connectionTtlSeconds) && connectionTtlSeconds >= 0.001 && connectionTtlSeconds <= 2 ** 31
    ? undefined
    : `connectionTtlSeconds must be between 0.001 and 2^31, got ${connectionTtlSeconds}`

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

/** The decision of one `add`, given the current totals (0 when absent). */
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

// ---------------------------------------------------------------------------------------------
// In-memory layer (tests)
// ---------------------------------------------------------------------------------------------

interface ConnectionEntry {
  readonly total: bigint
  readonly expiresAtMs: number
}

export interface MemoryOptions {
  readonly connectionTtlSeconds?: number
  /** Bound on each map; when full (after dropping expired connections), `add` is unavailable. */
  readonly entriesMax?: number
}

const full = new ReceiptStoreUnavailable({ message: "in-memory receipt store is full" })

const liveConnection = (connections: Map<string, ConnectionEntry>, key: string, nowMs: number) => {
  const entry = connections.get(key)
  if (entry === undefined || entry.expiresAtMs > nowMs) return entry
  connections.delete(key)
  return undefined
}

const dropExpired = (connections: Map<string, ConnectionEntry>, nowMs: number): void => {
  for (const [key, entry] of connections) if (entry.expiresAtMs <= nowMs) connections.delete(key)
}

const hasRoom = (
  connections: Map<string, ConnectionEntry>,
  payments: Map<string, bigint>,
  request: AddRequest,
  entriesMax: number,
  nowMs: number
): boolean => {
  if (!connections.has(request.connectionKey) && connections.size >= entriesMax) dropExpired(connections, nowMs)
  const connectionFits = connections.has(request.connectionKey) || connections.size < entriesMax
  const paymentFits = request.payment === undefined || payments.has(request.payment.key) || payments.size < entriesMax
  return connectionFits && paymentFits
}

const makeMemory = (options: MemoryOptions): ReceiptTotalsShape => {
  const connectionTtlMs = ttlMs(options.connectionTtlSeconds ?? defaults.connectionTtlSeconds)
  const entriesMax = options.entriesMax ?? defaults.memoryEntriesMax
  const connections = new Map<string, ConnectionEntry>()
  const payments = new Map<string, bigint>()
  return {
    add: Effect.fn("ReceiptTotals.add")(function*(request) {
      yield* dieIf(addRequestProblem(request))
      const nowMs = yield* Clock.currentTimeMillis
      const connection = liveConnection(connections, request.connectionKey, nowMs)
      const current = {
        connectionTotal: connection?.total ?? 0n,
        paymentTotal: request.payment === undefined ? 0n : payments.get(request.payment.key) ?? 0n
      }
      const result = decideAdd(current, request)
      if (!result.accepted) return result
      if (!hasRoom(connections, payments, request, entriesMax, nowMs)) return yield* full
      connections.set(request.connectionKey, { total: result.connectionTotal, expiresAtMs: nowMs + connectionTtlMs })
      if (request.payment !== undefined) payments.set(request.payment.key, result.paymentTotal ?? 0n)
      return result
    }),
    get: Effect.fn("ReceiptTotals.get")(function*(connectionKey) {
      yield* checkKey("connection key", connectionKey)
      const nowMs = yield* Clock.currentTimeMillis
      return liveConnection(connections, connectionKey, nowMs)?.total ?? 0n
    }),
    paymentTotal: Effect.fn("ReceiptTotals.paymentTotal")(function*(paymentKey) {
      yield* checkKey("payment key", paymentKey)
      return payments.get(paymentKey) ?? 0n
    }),
    deletePayment: Effect.fn("ReceiptTotals.deletePayment")(function*(paymentKey) {
      yield* checkKey("payment key", paymentKey)
      payments.delete(paymentKey)
    })
  }
}

/** Process-memory totals for tests: atomic because every `add` runs synchronously. Not durable. */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<ReceiptTotals> =>
  Layer.effect(
    ReceiptTotals,
    Effect.andThen(dieIf(ttlProblem(options.connectionTtlSeconds ?? defaults.connectionTtlSeconds)), () =>
      Effect.sync(() => makeMemory(options)))
  )
