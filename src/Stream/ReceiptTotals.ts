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
 * `add` is reserve + commit in one step, for amounts that no ledger reservation backs (tests, tools).
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
  /** No record of the packet: never reserved here, or forgotten after `settleGraceMs`. */
  | { readonly outcome: "unknown" }

/** `committed`: the release came after a commit, and changed nothing. */
export type ReleaseOutcome = "released" | "committed"

export interface ReceiptTotalsShape {
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

/** A packet's record in the embedded layers. */
export interface PacketRecord {
  readonly state: "pending" | "committed" | "released"
  readonly amount: bigint
  readonly paymentKey: string | undefined
  /** When a pending amount stops counting. */
  readonly lapseAtMs: number
  /** When the record is forgotten. */
  readonly forgetAtMs: number
}

/** The refusal a `reserve` gets when its packet was already released (a late reserve). */
export const releasedRefusal = (paymentTotal: bigint): AddResult => ({ accepted: false, paymentTotal, remaining: 0n })

// ---------------------------------------------------------------------------------------------
// In-memory layer (tests)
// ---------------------------------------------------------------------------------------------

interface ConnectionEntry {
  readonly total: bigint
  readonly expiresAtMs: number
}

export interface MemoryOptions {
  readonly connectionTtlSeconds?: number
  readonly settleGraceMs?: number
  /** Bound on each map; when full (after dropping expired entries), `add`/`reserve` are unavailable. */
  readonly entriesMax?: number
}

const full = new ReceiptStoreUnavailable({ message: "in-memory receipt store is full" })
const busy = new ReceiptStoreUnavailable({ message: "too many packets pending for one payment" })

const liveConnection = (connections: Map<string, ConnectionEntry>, key: string, nowMs: number) => {
  const entry = connections.get(key)
  if (entry === undefined || entry.expiresAtMs > nowMs) return entry
  connections.delete(key)
  return undefined
}

const dropExpired = (connections: Map<string, ConnectionEntry>, nowMs: number): void => {
  for (const [key, entry] of connections) if (entry.expiresAtMs <= nowMs) connections.delete(key)
}

const dropForgotten = (packets: Map<string, PacketRecord>, nowMs: number): void => {
  for (const [key, record] of packets) if (record.forgetAtMs <= nowMs) packets.delete(key)
}

const makeMemory = (options: MemoryOptions): ReceiptTotalsShape => {
  const connectionTtlMs = ttlMs(options.connectionTtlSeconds ?? defaults.connectionTtlSeconds)
  const settleGraceMs = options.settleGraceMs ?? defaults.settleGraceMs
  const entriesMax = options.entriesMax ?? defaults.memoryEntriesMax
  const connections = new Map<string, ConnectionEntry>()
  const payments = new Map<string, bigint>()
  const packets = new Map<string, PacketRecord>()
  /** Per payment, the ids of its pending packets (lapsed ones are dropped when met). */
  const pendingOf = new Map<string, Set<string>>()

  const livePacket = (packetId: string, nowMs: number) => {
    const record = packets.get(packetId)
    if (record === undefined || record.forgetAtMs > nowMs) return record
    packets.delete(packetId)
    return undefined
  }
  const dropPending = (paymentKey: string | undefined, packetId: string) => {
    if (paymentKey === undefined) return
    const ids = pendingOf.get(paymentKey)
    ids?.delete(packetId)
    if (ids?.size === 0) pendingOf.delete(paymentKey)
  }
  /** Committed + live pending; drops lapsed ids from the index. */
  const countedTotal = (paymentKey: string, nowMs: number): bigint => {
    let total = payments.get(paymentKey) ?? 0n
    const ids = pendingOf.get(paymentKey)
    for (const id of ids ?? []) {
      const record = livePacket(id, nowMs)
      if (record === undefined || record.state !== "pending" || record.lapseAtMs <= nowMs) ids!.delete(id)
      else total += record.amount
    }
    return total
  }
  const hasRoom = (request: AddRequest, packetId: string | undefined, nowMs: number): boolean => {
    if (!connections.has(request.connectionKey) && connections.size >= entriesMax) dropExpired(connections, nowMs)
    if (packetId !== undefined && packets.size >= entriesMax) dropForgotten(packets, nowMs)
    const connectionFits = connections.has(request.connectionKey) || connections.size < entriesMax
    const paymentFits = request.payment === undefined || payments.has(request.payment.key) || payments.size < entriesMax
    const packetFits = packetId === undefined || packets.size < entriesMax
    return connectionFits && paymentFits && packetFits
  }
  const decide = (request: AddRequest, nowMs: number) =>
    decideAdd({
      connectionTotal: liveConnection(connections, request.connectionKey, nowMs)?.total ?? 0n,
      paymentTotal: request.payment === undefined ? 0n : countedTotal(request.payment.key, nowMs)
    }, request)
  const commitAmount = (connectionKey: string, paymentKey: string | undefined, amount: bigint, nowMs: number) => {
    const connectionTotal = (liveConnection(connections, connectionKey, nowMs)?.total ?? 0n) + amount
    connections.set(connectionKey, { total: connectionTotal, expiresAtMs: nowMs + connectionTtlMs })
    if (paymentKey === undefined) return { connectionTotal }
    const paymentTotal = (payments.get(paymentKey) ?? 0n) + amount
    payments.set(paymentKey, paymentTotal)
    return { connectionTotal, paymentTotal }
  }

  return {
    add: Effect.fn("ReceiptTotals.add")(function*(request) {
      yield* dieIf(addRequestProblem(request))
      const nowMs = yield* Clock.currentTimeMillis
      const result = decide(request, nowMs)
      if (!result.accepted) return result
      if (!hasRoom(request, undefined, nowMs)) return yield* full
      commitAmount(request.connectionKey, request.payment?.key, request.amount, nowMs)
      return result
    }),
    reserve: Effect.fn("ReceiptTotals.reserve")(function*(request) {
      yield* dieIf(reserveRequestProblem(request))
      const nowMs = yield* Clock.currentTimeMillis
      const existing = livePacket(request.packetId, nowMs)
      const counted = request.payment === undefined ? 0n : countedTotal(request.payment.key, nowMs)
      if (existing?.state === "released") return releasedRefusal(counted)
      if (existing !== undefined) return yield* Effect.die(new Error("ReceiptTotals: packet id reserved twice"))
      const result = decide(request, nowMs)
      if (!result.accepted) return result
      if (!hasRoom(request, request.packetId, nowMs)) return yield* full
      const paymentKey = request.payment?.key
      const ids = paymentKey === undefined ? undefined : pendingOf.get(paymentKey) ?? new Set<string>()
      if (ids !== undefined && ids.size >= defaults.pendingPerPaymentMax) return yield* busy
      const lapseAtMs = nowMs + request.pendingMs
      packets.set(request.packetId, {
        state: "pending",
        amount: request.amount,
        paymentKey,
        lapseAtMs,
        forgetAtMs: lapseAtMs + settleGraceMs
      })
      if (ids !== undefined && paymentKey !== undefined) pendingOf.set(paymentKey, ids.add(request.packetId))
      return result
    }),
    commit: Effect.fn("ReceiptTotals.commit")(function*(packet) {
      yield* dieIf(packetRefProblem(packet))
      const nowMs = yield* Clock.currentTimeMillis
      const record = livePacket(packet.packetId, nowMs)
      if (record === undefined) return { outcome: "unknown" } as const
      if (record.state === "released") return { outcome: "released" } as const
      if (record.state === "committed") {
        const connectionTotal = liveConnection(connections, packet.connectionKey, nowMs)?.total ?? 0n
        return record.paymentKey === undefined
          ? { outcome: "committed", connectionTotal } as const
          : { outcome: "committed", connectionTotal, paymentTotal: payments.get(record.paymentKey) ?? 0n } as const
      }
      packets.set(packet.packetId, { ...record, state: "committed" })
      dropPending(record.paymentKey, packet.packetId)
      return { outcome: "committed", ...commitAmount(packet.connectionKey, record.paymentKey, record.amount, nowMs) } as const
    }),
    release: Effect.fn("ReceiptTotals.release")(function*(packet) {
      yield* dieIf(packetRefProblem(packet))
      const nowMs = yield* Clock.currentTimeMillis
      const record = livePacket(packet.packetId, nowMs)
      if (record?.state === "committed") return "committed" as const
      if (record === undefined) {
        if (packets.size >= entriesMax) dropForgotten(packets, nowMs)
        if (packets.size >= entriesMax) return yield* full
        packets.set(packet.packetId, {
          state: "released",
          amount: 0n,
          paymentKey: packet.paymentKey,
          lapseAtMs: nowMs,
          forgetAtMs: nowMs + settleGraceMs
        })
        return "released" as const
      }
      packets.set(packet.packetId, { ...record, state: "released" })
      dropPending(record.paymentKey, packet.packetId)
      return "released" as const
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
      pendingOf.delete(paymentKey)
    })
  }
}

/** Process-memory totals for tests: atomic because every call runs synchronously. Not durable. */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<ReceiptTotals> =>
  Layer.effect(
    ReceiptTotals,
    Effect.andThen(
      dieIf(
        ttlProblem(options.connectionTtlSeconds ?? defaults.connectionTtlSeconds) ??
          graceProblem(options.settleGraceMs ?? defaults.settleGraceMs)
      ),
      () => Effect.sync(() => makeMemory(options))
    )
  )
