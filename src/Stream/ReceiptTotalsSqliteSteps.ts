/**
 * The embedded receipt totals' synchronous steps: what one write (add, reserve, commit, release)
 * does inside a batch transaction (see `ReceiptTotalsSqlite.ts`).
 */
import { Effect } from "effect"
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
import {
  PacketState,
  lapsedPerWriteMax,
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
}

interface StoredPacket {
  readonly state: number
  readonly amount: bigint
  readonly paymentKey: string | undefined
}

const readPacket = (ctx: StepContext, packetId: string): StoredPacket | undefined => {
  const row = ctx.statements.packet.get(packetId, ctx.nowMs) as Record<string, unknown> | undefined
  if (row === undefined) return undefined
  return {
    state: Number(row["state"]),
    amount: parseTotal(row["amount"]),
    paymentKey: typeof row["payment_key"] === "string" ? row["payment_key"] : undefined
  }
}

/** The payment's pending sum and count (0 when absent). */
const readPending = (ctx: StepContext, paymentKey: string): { readonly total: bigint; readonly count: number } => {
  const row = ctx.statements.pendingTotal.get(paymentKey) as Record<string, unknown> | undefined
  return row === undefined ? { total: 0n, count: 0 } : { total: parseTotal(row["total"]), count: Number(row["count"]) }
}

/** Adds `amount` (negative: takes away) and `count` to the payment's pending sum. */
const adjustPending = (ctx: StepContext, paymentKey: string, amount: bigint, count: number): void => {
  const pending = readPending(ctx, paymentKey)
  const total = pending.total + amount
  const left = pending.count + count
  if (total < 0n || left < 0) throw new CorruptTotal("pending receipt total went below zero")
  if (left === 0) ctx.statements.deletePendingTotal.run(paymentKey)
  else ctx.statements.putPendingTotal.run(paymentKey, total.toString(), left)
}

/** Lapses at most `lapsedPerWriteMax` of the payment's due pending packets. */
const lapseDue = (ctx: StepContext, paymentKey: string): void => {
  const due = ctx.statements.duePending.all(paymentKey, ctx.nowMs, lapsedPerWriteMax) as Array<Record<string, unknown>>
  for (const row of due) {
    ctx.statements.setPacketState.run(PacketState.lapsed, String(row["packet_id"]))
    adjustPending(ctx, paymentKey, -parseTotal(row["amount"]), -1)
  }
}

/** Committed + pending (after lapsing what is due); the pending count for the bound. */
export const countedTotal = (ctx: StepContext, paymentKey: string): { readonly total: bigint; readonly count: number } => {
  lapseDue(ctx, paymentKey)
  const pending = readPending(ctx, paymentKey)
  return { total: readTotal(ctx.statements.payment, paymentKey) + pending.total, count: pending.count }
}

export const decide = (ctx: StepContext, request: AddRequest): AddResult =>
  decideAdd({
    connectionTotal: readTotal(ctx.statements.connection, request.connectionKey, ctx.nowMs),
    paymentTotal: request.payment === undefined ? 0n : countedTotal(ctx, request.payment.key).total
  }, request)

/** Adds `amount` to the committed totals; answers the new ones. */
export const commitAmount = (ctx: StepContext, connectionKey: string, paymentKey: string | undefined, amount: bigint) => {
  const connectionTotal = readTotal(ctx.statements.connection, connectionKey, ctx.nowMs) + amount
  ctx.statements.putConnection.run(connectionKey, connectionTotal.toString(), ctx.nowMs + ctx.connectionTtlMs)
  if (paymentKey === undefined) return { connectionTotal }
  const paymentTotal = readTotal(ctx.statements.payment, paymentKey) + amount
  ctx.statements.putPayment.run(paymentKey, paymentTotal.toString())
  return { connectionTotal, paymentTotal }
}

const addStep = (ctx: StepContext, request: AddRequest): AddResult => {
  const result = decide(ctx, request)
  if (result.accepted) commitAmount(ctx, request.connectionKey, request.payment?.key, request.amount)
  return result
}

const reserveStep = (ctx: StepContext, request: ReserveRequest): AddResult => {
  const existing = readPacket(ctx, request.packetId)
  if (existing?.state === PacketState.released) {
    return releasedRefusal(request.payment === undefined ? 0n : countedTotal(ctx, request.payment.key).total)
  }
  if (existing !== undefined) throw new WriteRefused(Effect.die(new Error("ReceiptTotals: packet id reserved twice")))
  const result = decide(ctx, request)
  if (!result.accepted) return result
  if (request.payment !== undefined) {
    // `decide` lapsed what was due: the count is current.
    if (readPending(ctx, request.payment.key).count >= totalsDefaults.pendingPerPaymentMax) {
      throw new WriteRefused(Effect.fail(new ReceiptStoreUnavailable({ message: "too many packets pending for one payment" })))
    }
    adjustPending(ctx, request.payment.key, request.amount, 1)
  }
  const lapseAtMs = ctx.nowMs + request.pendingMs
  ctx.statements.putPacket.run(
    request.packetId,
    PacketState.pending,
    request.amount.toString(),
    request.payment?.key ?? null,
    lapseAtMs,
    lapseAtMs + ctx.settleGraceMs
  )
  return result
}

const commitStep = (ctx: StepContext, packet: PacketRef): CommitResult => {
  const stored = readPacket(ctx, packet.packetId)
  if (stored === undefined) return { outcome: "unknown" }
  if (stored.state === PacketState.released) return { outcome: "released" }
  if (stored.state === PacketState.committed) {
    const connectionTotal = readTotal(ctx.statements.connection, packet.connectionKey, ctx.nowMs)
    return stored.paymentKey === undefined
      ? { outcome: "committed", connectionTotal }
      : { outcome: "committed", connectionTotal, paymentTotal: readTotal(ctx.statements.payment, stored.paymentKey) }
  }
  if (stored.state === PacketState.pending && stored.paymentKey !== undefined) {
    adjustPending(ctx, stored.paymentKey, -stored.amount, -1)
  }
  ctx.statements.setPacketState.run(PacketState.committed, packet.packetId)
  return { outcome: "committed", ...commitAmount(ctx, packet.connectionKey, stored.paymentKey, stored.amount) }
}

const releaseStep = (ctx: StepContext, packet: PacketRef): ReleaseOutcome => {
  const stored = readPacket(ctx, packet.packetId)
  if (stored?.state === PacketState.committed) return "committed"
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
  } else if (stored.state === PacketState.pending || stored.state === PacketState.lapsed) {
    if (stored.state === PacketState.pending && stored.paymentKey !== undefined) {
      adjustPending(ctx, stored.paymentKey, -stored.amount, -1)
    }
    ctx.statements.setPacketState.run(PacketState.released, packet.packetId)
  }
  return "released"
}

export const step = (ctx: StepContext, write: Write): WriteResult => {
  switch (write.kind) {
    case "add":
      return addStep(ctx, write.request)
    case "reserve":
      return reserveStep(ctx, write.request)
    case "commit":
      return commitStep(ctx, write.packet)
    case "release":
      return releaseStep(ctx, write.packet)
  }
}
