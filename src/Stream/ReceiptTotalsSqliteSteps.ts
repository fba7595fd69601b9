/**
 * The embedded receipt totals' synchronous steps: what one write (add, reserve, commit, release)
 * does inside a batch transaction (see `ReceiptTotalsSqlite.ts`), with pending amounts in packet
 * rows or, on the ledger's connection, in memory (`ReceiptTotalsSqlitePending.ts`).
 *
 * Over 400 lines on purpose: both kinds of steps share the same reads of totals and rows and one
 * dispatch (`step`); apart, each file would import the other.
 */
import * as Effect from "effect/Effect"
import type { StatementSync } from "node:sqlite"
import {
  type AddRequest,
  type AddResult,
  type CommitResult,
  CorruptTotal,
  decideAdd,
  defaults as totalsDefaults,
  type PacketRef,
  parseTotal,
  ReceiptStoreUnavailable,
  type ReleaseOutcome,
  releasedRefusal,
  type ReserveRequest
} from "./ReceiptTotals.ts"
import type { PendingEntry, ReceiptCache } from "./ReceiptTotalsSqliteCache.ts"
import type { PendingTable } from "./ReceiptTotalsSqlitePending.ts"
import {
  PacketState,
  lapsedPerWriteMax,
  packetRowsPerStatementMax,
  type Statements
} from "./ReceiptTotalsSqliteSchema.ts"

// ---------------------------------------------------------------------------------------------
// Synchronous steps
// ---------------------------------------------------------------------------------------------

export const readTotal = (statement: StatementSync, ...params: Array<string | number>): bigint => {
  const row = statement.get(...params) as { readonly total?: unknown } | undefined
  return row === undefined ? 0n : parseTotal(row.total)
}

/**
 * Runs a synchronous storage step: storage errors fail with `ReceiptStoreUnavailable`, corrupt
 * totals are defects.
 */
export const tryStore = <A>(f: () => A): Effect.Effect<A, ReceiptStoreUnavailable> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (error) {
      return error instanceof CorruptTotal
        ? Effect.die(error)
        : Effect.fail(new ReceiptStoreUnavailable({ message: "receipt totals storage error", cause: error }))
    }
  })

/** Thrown inside a batch for one write that must fail (or die) alone: the batch goes on. */
export class WriteRefused extends Error {
  readonly outcome: Effect.Effect<never, ReceiptStoreUnavailable>
  constructor(outcome: Effect.Effect<never, ReceiptStoreUnavailable>) {
    super("receipt write refused")
    this.outcome = outcome
  }
}

export type Write =
  | { readonly kind: "add"; readonly request: AddRequest }
  | { readonly kind: "reserve"; readonly request: ReserveRequest }
  | { readonly kind: "commit"; readonly packet: PacketRef }
  | { readonly kind: "release"; readonly packet: PacketRef }

export type WriteResult = AddResult | CommitResult | ReleaseOutcome

export interface StepContext {
  readonly statements: Statements
  readonly connectionTtlMs: number
  readonly settleGraceMs: number
  readonly nowMs: number
  /** What this process wrote (or read) before: reads that hit it skip SQLite (`ReceiptTotalsSqliteCache.ts`). */
  readonly cache: ReceiptCache
  /** Committed totals this batch changed, written once per key at its end (`writeDeferred`). */
  readonly deferred: DeferredTotals
  /**
   * Present on the ledger's connection (`ReceiptTotalsSqliteInLedger.ts`): pending amounts are
   * held here, not in packet rows (`ReceiptTotalsSqlitePending.ts`); a commit INSERTs its row.
   */
  readonly memory?: PendingTable
}

/**
 * Committed totals set by the steps of one batch, not yet written: each key's row is written once,
 * with its last value, when the batch's steps are done (`writeDeferred`, in the same transaction),
 * instead of once per packet. Steps read them before the cache and SQLite, so a read inside the
 * batch always sees the latest value even if the bounded cache dropped the key meanwhile.
 */
export interface DeferredTotals {
  readonly connections: Map<string, { readonly total: bigint; readonly expiresAtMs: number }>
  readonly payments: Map<string, bigint>
}

export const makeDeferredTotals = (): DeferredTotals => ({ connections: new Map(), payments: new Map() })

/** Writes what the batch's steps deferred (inside the batch's transaction) and empties it. */
export const writeDeferred = (statements: Statements, deferred: DeferredTotals): void => {
  for (const [key, entry] of deferred.connections) {
    statements.putConnection.run(key, entry.total.toString(), entry.expiresAtMs)
  }
  for (const [key, total] of deferred.payments) statements.putPayment.run(key, total.toString())
  deferred.connections.clear()
  deferred.payments.clear()
}

interface StoredPacket {
  readonly state: number
  readonly amount: bigint
  readonly paymentKey: string | undefined
}

const readPacket = (ctx: StepContext, packetId: string): StoredPacket | undefined => {
  // A row this process inserted and nothing changed since (see `ReceiptTotalsSqliteCache.ts`),
  // before its lapse: still pending, as inserted.
  const remembered = ctx.cache.packets.get(packetId)
  if (remembered !== undefined && ctx.nowMs < remembered.lapseAtMs) {
    return { state: PacketState.pending, amount: remembered.amount, paymentKey: remembered.paymentKey }
  }
  const row = ctx.statements.packet.get(packetId, ctx.nowMs) as Record<string, unknown> | undefined
  if (row === undefined) return undefined
  return {
    state: Number(row["state"]),
    amount: parseTotal(row["amount"]),
    paymentKey: typeof row["payment_key"] === "string" ? row["payment_key"] : undefined
  }
}

/** The connection's committed total (0 when absent or expired), from memory when known. */
export const connectionTotalOf = (statements: Statements, cache: ReceiptCache, key: string, nowMs: number): bigint => {
  const cached = cache.connections.get(key)
  if (cached !== undefined) return cached.expiresAtMs > nowMs ? cached.total : 0n
  return readTotal(statements.connection, key, nowMs)
}

export const connectionTotal = (ctx: StepContext, key: string): bigint => {
  const written = ctx.deferred.connections.get(key)
  if (written !== undefined) return written.expiresAtMs > ctx.nowMs ? written.total : 0n
  return connectionTotalOf(ctx.statements, ctx.cache, key, ctx.nowMs)
}

/** The payment's committed total (0 when absent). */
export const committedPaymentTotal = (ctx: StepContext, key: string): bigint => {
  const written = ctx.deferred.payments.get(key)
  if (written !== undefined) return written
  const cached = ctx.cache.payments.get(key)
  if (cached !== undefined) return cached
  const total = readTotal(ctx.statements.payment, key)
  ctx.cache.setPayment(key, total)
  return total
}

/**
 * The payment's pending sum and count (0 when absent), from memory; on a miss, summed from its
 * pending packet rows (at most `pendingPerPaymentMax` of them), which are the record of what is
 * pending: the sum is not stored (restart releases every pending packet anyway).
 */
export const readPending = (ctx: StepContext, paymentKey: string): PendingEntry => {
  const cached = ctx.cache.pending.get(paymentKey)
  if (cached !== undefined) return cached
  const rows = ctx.statements.pendingPackets.all(paymentKey) as Array<Record<string, unknown>>
  let total = 0n
  let nextLapseMs = Infinity
  for (const row of rows) {
    total += parseTotal(row["amount"])
    nextLapseMs = Math.min(nextLapseMs, Number(row["lapse_at_ms"]))
  }
  const entry: PendingEntry = { total, count: rows.length, nextLapseMs }
  ctx.cache.setPending(paymentKey, entry)
  return entry
}

/**
 * Adds `amount` (negative: takes away) and `count` to the payment's pending sum, in memory, in the
 * same step as the packet row's change that it mirrors; `lapseAtMs` is the lapse of a packet that
 * becomes pending.
 */
export const adjustPending = (ctx: StepContext, paymentKey: string, amount: bigint, count: number, lapseAtMs?: number): void => {
  const pending = readPending(ctx, paymentKey)
  const total = pending.total + amount
  const left = pending.count + count
  if (total < 0n || left < 0) throw new CorruptTotal("pending receipt total went below zero")
  if (left === 0) {
    ctx.cache.setPending(paymentKey, { total: 0n, count: 0, nextLapseMs: Infinity })
  } else {
    const nextLapseMs = lapseAtMs === undefined ? pending.nextLapseMs : Math.min(pending.nextLapseMs, lapseAtMs)
    ctx.cache.setPending(paymentKey, { total, count: left, nextLapseMs })
  }
}

/**
 * Lapses at most `lapsedPerWriteMax` of the payment's due pending packets. Skipped while none can
 * be due (`nextLapseMs`); after a query that lapsed all that were due, the sum and the next lapse
 * are read again from the rows.
 */
const lapseDue = (ctx: StepContext, paymentKey: string): void => {
  if (ctx.nowMs < readPending(ctx, paymentKey).nextLapseMs) return
  const due = ctx.statements.duePending.all(paymentKey, ctx.nowMs, lapsedPerWriteMax) as Array<Record<string, unknown>>
  for (const row of due) {
    ctx.cache.packets.delete(String(row["packet_id"]))
    ctx.statements.setPacketState.run(PacketState.lapsed, String(row["packet_id"]))
    adjustPending(ctx, paymentKey, -parseTotal(row["amount"]), -1)
  }
  if (due.length < lapsedPerWriteMax) {
    // Everything due is lapsed: the sum is taken again from the pending rows, which are the record,
    // with their exact next lapse. A pending row the sweep deleted past its forget time (its settle
    // never came) stops counting here instead of holding part of the cap for good.
    ctx.cache.pending.delete(paymentKey)
    readPending(ctx, paymentKey)
  }
}

/** Committed + pending (after lapsing what is due); the pending count for the bound. */
export const countedTotal = (ctx: StepContext, paymentKey: string): { readonly total: bigint; readonly count: number } => {
  if (ctx.memory !== undefined) {
    const pending = ctx.memory.pendingOf(paymentKey, ctx.nowMs)
    return { total: committedPaymentTotal(ctx, paymentKey) + pending.total, count: pending.count }
  }
  lapseDue(ctx, paymentKey)
  const pending = readPending(ctx, paymentKey)
  return { total: committedPaymentTotal(ctx, paymentKey) + pending.total, count: pending.count }
}

export const decide = (ctx: StepContext, request: AddRequest): AddResult =>
  decideAdd({
    connectionTotal: connectionTotal(ctx, request.connectionKey),
    paymentTotal: request.payment === undefined ? 0n : countedTotal(ctx, request.payment.key).total
  }, request)

/** Adds `amount` to the committed totals (their rows are written at the batch's end); answers the new ones. */
export const commitAmount = (ctx: StepContext, connectionKey: string, paymentKey: string | undefined, amount: bigint) => {
  // Both reads before anything is remembered: a read that throws leaves memory as it was.
  const total = connectionTotal(ctx, connectionKey) + amount
  const paymentTotal = paymentKey === undefined ? undefined : committedPaymentTotal(ctx, paymentKey) + amount
  const expiresAtMs = ctx.nowMs + ctx.connectionTtlMs
  // Written once per key at the end of the batch (`writeDeferred`), in the same transaction.
  ctx.deferred.connections.set(connectionKey, { total, expiresAtMs })
  ctx.cache.setConnection(connectionKey, { total, expiresAtMs })
  if (paymentKey === undefined || paymentTotal === undefined) return { connectionTotal: total }
  ctx.deferred.payments.set(paymentKey, paymentTotal)
  ctx.cache.setPayment(paymentKey, paymentTotal)
  return { connectionTotal: total, paymentTotal }
}

const addStep = (ctx: StepContext, request: AddRequest): AddResult => {
  const result = decide(ctx, request)
  if (result.accepted) commitAmount(ctx, request.connectionKey, request.payment?.key, request.amount)
  return result
}

/** A reserve of a packet id that has a live row: refused if it was released, else a defect. */
const reserveExisting = (ctx: StepContext, request: ReserveRequest, existing: StoredPacket | undefined): AddResult => {
  if (existing?.state === PacketState.released) {
    return releasedRefusal(request.payment === undefined ? 0n : countedTotal(ctx, request.payment.key).total)
  }
  throw new WriteRefused(Effect.die(new Error("ReceiptTotals: packet id reserved twice")))
}

/**
 * Decides, then inserts the row only where the id has no live row (`insertPacket`): the usual
 * reserve (a new id) reads no packet row. An id with a live row (released: a late reserve; else
 * reserved twice) is found by the insert leaving it alone, and answered from the row as before; so
 * are refusals (cap, pending bound), which read the row first, as a live row comes before them.
 * (One difference with reading first: in the defect case, an id reserved twice whose row this
 * process does not remember, the payment's due pending packets are lapsed before the refusal.)
 */
const reserveStep = (ctx: StepContext, request: ReserveRequest): AddResult => {
  // Remembered: reserved here and still pending, so reserved twice (a defect), without a read.
  if (ctx.cache.packets.has(request.packetId)) {
    const remembered = readPacket(ctx, request.packetId)
    if (remembered !== undefined) return reserveExisting(ctx, request, remembered)
  }
  const result = decide(ctx, request)
  // `decide` lapsed what was due: the count is current.
  const full = result.accepted && request.payment !== undefined &&
    readPending(ctx, request.payment.key).count >= totalsDefaults.pendingPerPaymentMax
  if (!result.accepted || full) {
    const existing = readPacket(ctx, request.packetId)
    if (existing !== undefined) return reserveExisting(ctx, request, existing)
    if (!result.accepted) return result
    throw new WriteRefused(Effect.fail(new ReceiptStoreUnavailable({ message: "too many packets pending for one payment" })))
  }
  const lapseAtMs = ctx.nowMs + request.pendingMs
  // Counted before the row is written (a corrupt sum throws with nothing written), taken back if
  // the id turns out to have a live row.
  if (request.payment !== undefined) adjustPending(ctx, request.payment.key, request.amount, 1, lapseAtMs)
  const inserted = ctx.statements.insertPacket.run(
    request.packetId,
    PacketState.pending,
    request.amount.toString(),
    request.payment?.key ?? null,
    lapseAtMs,
    lapseAtMs + ctx.settleGraceMs,
    ctx.nowMs
  ).changes
  if (Number(inserted) === 0) {
    if (request.payment !== undefined) adjustPending(ctx, request.payment.key, -request.amount, -1)
    return reserveExisting(ctx, request, readPacket(ctx, request.packetId))
  }
  ctx.cache.noteForget(lapseAtMs + ctx.settleGraceMs)
  ctx.cache.setPendingPacket(request.packetId, { amount: request.amount, paymentKey: request.payment?.key, lapseAtMs })
  return result
}

/** A repeated commit's answer: nothing changes, the totals as they stand. */
const committedAlready = (ctx: StepContext, connectionKey: string, paymentKey: string | undefined): CommitResult => {
  const total = connectionTotal(ctx, connectionKey)
  return paymentKey === undefined
    ? { outcome: "committed", connectionTotal: total }
    : { outcome: "committed", connectionTotal: total, paymentTotal: committedPaymentTotal(ctx, paymentKey) }
}

const commitStep = (ctx: StepContext, packet: PacketRef): CommitResult => {
  const stored = readPacket(ctx, packet.packetId)
  if (stored === undefined) return { outcome: "unknown" }
  if (stored.state === PacketState.released) return { outcome: "released" }
  if (stored.state === PacketState.committed) return committedAlready(ctx, packet.connectionKey, stored.paymentKey)
  // The totals are read (a corrupt one throws) before the packet row changes.
  connectionTotal(ctx, packet.connectionKey)
  if (stored.paymentKey !== undefined) committedPaymentTotal(ctx, stored.paymentKey)
  if (stored.state === PacketState.pending && stored.paymentKey !== undefined) {
    adjustPending(ctx, stored.paymentKey, -stored.amount, -1)
  }
  ctx.cache.packets.delete(packet.packetId)
  ctx.statements.setPacketState.run(PacketState.committed, packet.packetId)
  return { outcome: "committed", ...commitAmount(ctx, packet.connectionKey, stored.paymentKey, stored.amount) }
}

const releaseStep = (ctx: StepContext, packet: PacketRef): ReleaseOutcome => {
  const stored = readPacket(ctx, packet.packetId)
  if (stored?.state === PacketState.committed) return "committed"
  ctx.cache.packets.delete(packet.packetId)
  if (stored === undefined) {
    // A tombstone: a reserve of this packet that arrives later is refused.
    ctx.statements.putPacket.run(
      packet.packetId,
      PacketState.released,
      "0",
      packet.paymentKey ?? null,
      ctx.nowMs,
      ctx.nowMs + ctx.settleGraceMs
    )
    ctx.cache.noteForget(ctx.nowMs + ctx.settleGraceMs)
  } else if (stored.state === PacketState.pending || stored.state === PacketState.lapsed) {
    if (stored.state === PacketState.pending && stored.paymentKey !== undefined) {
      adjustPending(ctx, stored.paymentKey, -stored.amount, -1)
    }
    ctx.statements.setPacketState.run(PacketState.released, packet.packetId)
  }
  return "released"
}

// ---------------------------------------------------------------------------------------------
// Pending amounts in memory (`ctx.memory`: the ledger's connection)
// ---------------------------------------------------------------------------------------------

/** A reserve held in memory only: no row, no transaction needed (`PendingTable.reserve`). */
export const reserveInMemory = (ctx: StepContext, memory: PendingTable, request: ReserveRequest): AddResult => {
  const decision = memory.reserve(
    request,
    ctx.nowMs,
    ctx.settleGraceMs,
    (key) => committedPaymentTotal(ctx, key),
    (key) => connectionTotal(ctx, key)
  )
  switch (decision._tag) {
    case "Accepted":
    case "Refused":
      return decision.result
    case "ReservedTwice":
      throw new WriteRefused(Effect.die(new Error("ReceiptTotals: packet id reserved twice")))
    case "Full":
      throw new WriteRefused(Effect.fail(new ReceiptStoreUnavailable({ message: decision.message })))
  }
}

/**
 * The commit of a packet held in memory: its amount moves from pending to the committed totals,
 * logged in `memory` until the transaction's COMMIT, and its row is written as committed (with its
 * lapse and forget times: a repeated commit answers from the row) with the transaction's other
 * commits right before that COMMIT (`writeCommittedRows`); a repeated commit in the same
 * transaction answers from the log. A packet not in memory is answered from its row as before
 * (`unknown` when there is none, e.g. reserved before a restart).
 */
const commitInMemory = (ctx: StepContext, memory: PendingTable, packet: PacketRef): CommitResult => {
  const found = memory.find(packet.packetId, ctx.nowMs)
  if (found._tag === "Released") return { outcome: "released" }
  if (found._tag === "Absent") {
    const done = memory.committedInTransaction(packet.packetId)
    // Committed earlier in this transaction, its row not written yet: answered as from the row.
    return done === undefined ? commitStep(ctx, packet) : committedAlready(ctx, packet.connectionKey, done.paymentKey)
  }
  const held = found.packet
  // The totals are read (a corrupt one throws) before anything changes.
  connectionTotal(ctx, packet.connectionKey)
  if (held.paymentKey !== undefined) committedPaymentTotal(ctx, held.paymentKey)
  ctx.cache.noteForget(held.forgetAtMs)
  memory.commit(packet.packetId, held)
  return { outcome: "committed", ...commitAmount(ctx, packet.connectionKey, held.paymentKey, held.amount) }
}

/**
 * Writes the committed rows of the commits logged in `memory`, inside the transaction that holds
 * them (once, by its owner), right before its COMMIT: up to `packetRowsPerStatementMax` rows
 * per statement instead of one INSERT per commit (docs/performance/local-delivery.md, "Capped
 * packets: the committed row").
 */
export const writeCommittedRows = (statements: Statements, memory: PendingTable): void => {
  const log = memory.log
  // Most batches of an uncapped receiver commit nothing held here.
  if (log.length === 0) return
  for (let start = 0; start < log.length; start += packetRowsPerStatementMax) {
    const end = Math.min(log.length, start + packetRowsPerStatementMax)
    if (end - start === 1) {
      // One row: its statement without an array of values.
      const { packetId, packet } = log[start]!
      statements.putPacket.run(packetId, PacketState.committed, packet.amount.toString(), packet.paymentKey ?? null, packet.lapseAtMs, packet.forgetAtMs)
      continue
    }
    const values: Array<string | number | null> = []
    for (let i = start; i < end; i++) {
      const { packetId, packet } = log[i]!
      values.push(packetId, PacketState.committed, packet.amount.toString(), packet.paymentKey ?? null, packet.lapseAtMs, packet.forgetAtMs)
    }
    statements.putPackets(end - start).run(...values)
  }
}

/** A release of a packet held in memory: a tombstone in memory; a committed row answers `committed`. No row is written. */
export const releaseInMemory = (ctx: StepContext, memory: PendingTable, packet: PacketRef): ReleaseOutcome => {
  const found = memory.find(packet.packetId, ctx.nowMs)
  if (found._tag === "Released") return "released"
  if (found._tag === "Packet") {
    memory.release(packet.packetId, found.packet, ctx.nowMs, ctx.settleGraceMs)
    return "released"
  }
  if (memory.committedInTransaction(packet.packetId) !== undefined) return "committed"
  const stored = readPacket(ctx, packet.packetId)
  if (stored?.state === PacketState.committed) return "committed"
  memory.release(packet.packetId, undefined, ctx.nowMs, ctx.settleGraceMs)
  return "released"
}

export const step = (ctx: StepContext, write: Write): WriteResult => {
  const memory = ctx.memory
  switch (write.kind) {
    case "add":
      return addStep(ctx, write.request)
    case "reserve":
      return memory === undefined ? reserveStep(ctx, write.request) : reserveInMemory(ctx, memory, write.request)
    case "commit":
      return memory === undefined ? commitStep(ctx, write.packet) : commitInMemory(ctx, memory, write.packet)
    case "release":
      return memory === undefined ? releaseStep(ctx, write.packet) : releaseInMemory(ctx, memory, write.packet)
  }
}
