/**
 * Incoming payments: money expected at a wallet address, optionally capped (`incomingAmount`) and
 * with an optional expiry. States: pending → processing (first money) → completed (the received
 * total reached `incomingAmount`) or expired (its expiry passed before completion).
 *
 * The received total is not stored here: it lives in `ReceiptTotals` (Redis in production), whose
 * atomic add-unless-over-cap is what guarantees a payment never receives more than its cap across
 * concurrent packets and instances. This module records the state transitions.
 */
import { Clock, Context, Data, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { ids, ledgerOf } from "../Accounting/Accounts.ts"
import { AccountCode, Ledger, type LedgerUnavailable } from "../Accounting/Ledger.ts"
import { PaymentsDb } from "./Database.ts"
import { type WalletAddress, WalletAddresses, type WalletAddressNotFound } from "./WalletAddresses.ts"

export type IncomingPaymentState = "pending" | "processing" | "completed" | "expired"

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
}

export class IncomingPayments extends Context.Service<IncomingPayments, IncomingPaymentsShape>()(
  "Payments/IncomingPayments"
) {}

interface Row {
  id: string
  wallet_address_id: string
  incoming_amount: string | null
  expires_at: number | null
  metadata: string | null
  state: IncomingPaymentState
  created_at: number
  completed_at: number | null
}

const fromRow = (row: Row, now: number): IncomingPayment => {
  const overdue = row.expires_at !== null && row.expires_at <= now &&
    (row.state === "pending" || row.state === "processing")
  return {
    id: row.id,
    walletAddressId: row.wallet_address_id,
    incomingAmount: row.incoming_amount === null ? undefined : BigInt(row.incoming_amount),
    expiresAt: row.expires_at ?? undefined,
    metadata: row.metadata === null ? undefined : JSON.parse(row.metadata),
    state: overdue ? "expired" : row.state,
    createdAt: row.created_at,
    completedAt: row.completed_at ?? undefined,
    ledgerAccountId: ids.incomingPayment(row.id)
  }
}

/** The state after `total` has been received. Pure. */
export const stateAfter = (payment: IncomingPayment, total: bigint): IncomingPaymentState => {
  if (payment.state === "completed" || payment.state === "expired") return payment.state
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
  const { db } = yield* PaymentsDb
  const ledger = yield* Ledger
  const walletAddresses = yield* WalletAddresses
  const insert = db.prepare(
    "INSERT INTO incoming_payments (id, wallet_address_id, incoming_amount, expires_at, metadata, state, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)"
  )
  const byId = db.prepare("SELECT * FROM incoming_payments WHERE id = ?")
  const page = db.prepare(
    "SELECT * FROM incoming_payments WHERE wallet_address_id = ? AND id > ? ORDER BY id LIMIT ?"
  )
  const setState = db.prepare("UPDATE incoming_payments SET state = ?, completed_at = ? WHERE id = ?")

  const get = (id: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const row = byId.get(id) as Row | undefined
      return row === undefined ? Effect.fail(new IncomingPaymentNotFound({ id })) : Effect.succeed(fromRow(row, now))
    })

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
    insert.run(
      id,
      wallet.id,
      input.incomingAmount === undefined ? null : input.incomingAmount.toString(),
      input.expiresAt ?? null,
      input.metadata === undefined ? null : JSON.stringify(input.metadata),
      now
    )
    return yield* Effect.orDie(get(id))
  })

  const recordReceived = (id: string, total: bigint) =>
    Effect.flatMap(get(id), (payment) => {
      const next = stateAfter(payment, total)
      if (next === payment.state) return Effect.succeed(payment)
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        setState.run(next, next === "completed" ? now : null, id)
        return get(id)
      })
    })

  return IncomingPayments.of({
    create,
    get,
    list: (walletAddressId, { limit, after }) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() =>
          (page.all(walletAddressId, after ?? "", Math.min(Math.max(1, limit), listLimitMax)) as unknown as Array<Row>)
            .map((row) => fromRow(row, now))
        )),
    recordReceived,
    walletAddressOf: (payment) => walletAddresses.get(payment.walletAddressId)
  })
})

export const layer = Layer.effect(IncomingPayments, make)
