/**
 * Incoming payments: money expected at a wallet address, optionally capped (`incomingAmount`) and
 * with an optional expiry. States: pending → processing (first money) → completed (the received
 * total reached `incomingAmount`, or the operator completed it) or expired (its expiry passed
 * before completion) or cancelled (by the operator). Completed, expired and cancelled payments take
 * no more money; what they received stays in their ledger account.
 *
 * The state is read from the store on every `get` (the embedded store, the file's only writer,
 * answers from the records it remembers), so a payment completed or cancelled through any instance
 * refuses money on every instance from then on; the cap itself is enforced by
 * `ReceiptTotals`, and expiry by the clock at read time.
 *
 * The received total is not stored here: it lives in `ReceiptTotals` (Redis in production), whose
 * atomic add-unless-over-cap is what guarantees a payment never receives more than its cap across
 * concurrent packets and instances. This module records the state transitions.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { ids, ledgerOf } from "../Accounting/Accounts.ts"
import { AccountCode, Ledger, type LedgerUnavailable } from "../Accounting/Ledger.ts"
import { type IncomingPaymentRecord, PaymentsStore } from "./Store.ts"
import { type WalletAddress, WalletAddresses, type WalletAddressNotFound } from "./WalletAddresses.ts"

export type IncomingPaymentState = "pending" | "processing" | "completed" | "expired" | "cancelled"

/** Whether the payment may still take money. Pure. */
export const isOpen = (payment: { readonly state: IncomingPaymentState }): boolean =>
  payment.state === "pending" || payment.state === "processing"

export interface IncomingPayment {
  readonly id: string
  readonly walletAddressId: string
  readonly incomingAmount: bigint | undefined
  readonly expiresAt: number | undefined
  readonly metadata: unknown
  readonly state: IncomingPaymentState
  readonly createdAt: number
  readonly completedAt: number | undefined
  readonly ledgerAccountId: bigint
}

export class IncomingPaymentNotFound extends Data.TaggedError("IncomingPaymentNotFound")<{ readonly id: string }> {}
/** Complete or cancel asked of a payment that is no longer open. */
export class IncomingPaymentNotOpen extends Data.TaggedError("IncomingPaymentNotOpen")<{
  readonly id: string
  readonly state: IncomingPaymentState
}> {}
export class InvalidIncomingPayment extends Data.TaggedError("InvalidIncomingPayment")<{ readonly message: string }> {}

export interface CreateIncomingPayment {
  readonly walletAddressId: string
  readonly incomingAmount?: bigint | undefined
  readonly expiresAt?: number | undefined
  readonly metadata?: unknown
}

/** Metadata is operator/ASE data echoed back; bounded so one payment cannot bloat the store. */
export const metadataBytesMax = 16 * 1024
export const listLimitMax = 500
const u64Max = (1n << 64n) - 1n

export interface IncomingPaymentsShape {
  readonly create: (
    input: CreateIncomingPayment
  ) => Effect.Effect<IncomingPayment, InvalidIncomingPayment | WalletAddressNotFound | LedgerUnavailable>
  /** The payment with its state as of now (an overdue pending/processing payment reads as expired). */
  readonly get: (id: string) => Effect.Effect<IncomingPayment, IncomingPaymentNotFound>
  readonly list: (
    walletAddressId: string,
    options: { readonly limit: number; readonly after?: string | undefined }
  ) => Effect.Effect<ReadonlyArray<IncomingPayment>>
  /** Records money arriving: pending → processing, and → completed when `total` reaches the cap. */
  readonly recordReceived: (id: string, total: bigint) => Effect.Effect<IncomingPayment, IncomingPaymentNotFound>
  readonly walletAddressOf: (payment: IncomingPayment) => Effect.Effect<WalletAddress, WalletAddressNotFound>
  /** Operator: no more money (state completed); what arrived stays. Only while open. */
  readonly complete: (id: string) => Effect.Effect<IncomingPayment, IncomingPaymentNotFound | IncomingPaymentNotOpen>
  /** Operator: no more money (state cancelled); what arrived stays. Only while open. */
  readonly cancel: (id: string) => Effect.Effect<IncomingPayment, IncomingPaymentNotFound | IncomingPaymentNotOpen>
}

export class IncomingPayments extends Context.Service<IncomingPayments, IncomingPaymentsShape>()(
  "Payments/IncomingPayments"
) {}

const fromRecord = (record: IncomingPaymentRecord, now: number): IncomingPayment => {
  const overdue = record.expiresAt !== null && record.expiresAt <= now &&
    (record.state === "pending" || record.state === "processing")
  return {
    id: record.id,
    walletAddressId: record.walletAddressId,
    incomingAmount: record.incomingAmount ?? undefined,
    expiresAt: record.expiresAt ?? undefined,
    metadata: record.metadata === null ? undefined : JSON.parse(record.metadata),
    state: overdue ? "expired" : record.state,
    createdAt: record.createdAt,
    completedAt: record.completedAt ?? undefined,
    ledgerAccountId: ids.incomingPayment(record.id)
  }
}

/** The state after `total` has been received. Pure. */
export const stateAfter = (
  payment: Pick<IncomingPayment, "state" | "incomingAmount">,
  total: bigint
): IncomingPaymentState => {
  if (!isOpen(payment)) return payment.state
  if (payment.incomingAmount !== undefined && total >= payment.incomingAmount) return "completed"
  return total > 0n ? "processing" : payment.state
}

const validate = (input: CreateIncomingPayment, now: number): string | undefined => {
  if (input.incomingAmount !== undefined && (input.incomingAmount <= 0n || input.incomingAmount > u64Max)) {
    return "incomingAmount must be a positive integer below 2^64"
  }
  if (input.expiresAt !== undefined && (!Number.isFinite(input.expiresAt) || input.expiresAt <= now)) {
    return "expiresAt must be in the future"
  }
  if (input.metadata !== undefined && JSON.stringify(input.metadata).length > metadataBytesMax) {
    return `metadata must be at most ${metadataBytesMax} bytes of JSON`
  }
  return undefined
}

export const make = Effect.gen(function*() {
  const store = (yield* PaymentsStore).incomingPayments
  const ledger = yield* Ledger
  const walletAddresses = yield* WalletAddresses

  // A record not overdue reads the same until it changes (records are immutable values): when the
  // store hands back the same record (the embedded store remembers them), so is its view, without
  // parsing its metadata again. An overdue one is computed afresh (its state depends on the clock).
  const views = new WeakMap<IncomingPaymentRecord, IncomingPayment>()
  const view = (record: IncomingPaymentRecord, now: number): IncomingPayment => {
    const current = record.expiresAt === null || record.expiresAt > now
    if (current) {
      const known = views.get(record)
      if (known !== undefined) return known
    }
    const payment = fromRecord(record, now)
    if (current) views.set(record, payment)
    return payment
  }
  const get = (id: string) =>
    Effect.flatMap(store.byId(id), (record) =>
      record === undefined ?
        Effect.fail(new IncomingPaymentNotFound({ id })) :
        Effect.map(Clock.currentTimeMillis, (now) => view(record, now)))

  const create = Effect.fn("IncomingPayments.create")(function*(input: CreateIncomingPayment) {
    const now = yield* Clock.currentTimeMillis
    const problem = validate(input, now)
    if (problem !== undefined) return yield* new InvalidIncomingPayment({ message: problem })
    const wallet = yield* walletAddresses.get(input.walletAddressId)
    if (!wallet.active) return yield* new InvalidIncomingPayment({ message: "wallet address is inactive" })
    const id = randomUUID()
    yield* ledger.createAccounts([{
      id: ids.incomingPayment(id),
      ledger: ledgerOf(wallet.asset),
      code: AccountCode.incomingPayment,
      // May not go below zero: withdrawals take only what was received (issue 11).
      flags: { debitsMustNotExceedCredits: true }
    }])
    yield* store.insert({
      id,
      walletAddressId: wallet.id,
      incomingAmount: input.incomingAmount ?? null,
      expiresAt: input.expiresAt ?? null,
      metadata: input.metadata === undefined ? null : JSON.stringify(input.metadata),
      state: "pending",
      createdAt: now,
      completedAt: null
    })
    return yield* Effect.orDie(get(id))
  })

  const recordReceived = (id: string, total: bigint) =>
    Effect.flatMap(get(id), (payment) => {
      const next = stateAfter(payment, total)
      if (next === payment.state) return Effect.succeed(payment)
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.andThen(
          store.transition(id, {
            from: next === "completed" ? ["pending", "processing"] : ["pending"],
            to: next,
            completedAt: next === "completed" ? now : null
          }),
          get(id)
        ))
    })

  /** Closes an open payment (the conditional update decides a race with the last packet or another instance). */
  const close = (id: string, to: "completed" | "cancelled") =>
    Effect.gen(function*() {
      const payment = yield* get(id)
      if (!isOpen(payment)) return yield* new IncomingPaymentNotOpen({ id, state: payment.state })
      const now = yield* Clock.currentTimeMillis
      const moved = yield* store.transition(id, { from: ["pending", "processing"], to, completedAt: now })
      const after = yield* get(id)
      if (!moved) return yield* new IncomingPaymentNotOpen({ id, state: after.state })
      yield* Effect.logInfo(`incoming payment ${id} ${to} by the operator`)
      return after
    })

  return IncomingPayments.of({
    create,
    get,
    list: (walletAddressId, { limit, after }) =>
      Effect.map(
        Effect.zip(
          store.page(walletAddressId, { after: after ?? "", limit: Math.min(Math.max(1, limit), listLimitMax) }),
          Clock.currentTimeMillis
        ),
        ([records, now]) => records.map((record) => fromRecord(record, now))
      ),
    recordReceived,
    walletAddressOf: (payment) => walletAddresses.get(payment.walletAddressId),
    complete: Effect.fn("IncomingPayments.complete")((id: string) => close(id, "completed")),
    cancel: Effect.fn("IncomingPayments.cancel")((id: string) => close(id, "cancelled"))
  })
})

export const layer = Layer.effect(IncomingPayments, make)
