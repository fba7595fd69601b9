/**
 * The payments resource store: wallet addresses, incoming payments, quotes and outgoing payments,
 * as repositories of async Effects. Two layers: embedded SQLite (`StoreSqlite.ts`, the default: one
 * file this process owns) and PostgreSQL (`StorePostgres.ts`, shared by every instance). Both pass
 * one contract suite (test/Payments/StoreContract.ts).
 *
 * Records carry money as bigint and times as epoch milliseconds; each layer converts at its edge
 * (SQLite: decimal TEXT; PostgreSQL: NUMERIC(39,0)) so an amount is never a float.
 *
 * A store failure (the database unreachable, a query timing out) is a defect here: the packet path
 * turns it into T00 and the operator API into a 500, with the cause in the log. Conflicts the
 * caller must handle (a URL or quote already taken) are answered as values.
 *
 * Writes that race across instances are conditional: a state moves only from the states named in
 * the call, an outcome is set once, a lease is taken only when free or lapsed. Each answers whether
 * it took effect.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"

export interface WalletAddressRecord {
  readonly id: string
  readonly url: string
  /** The URL's normalised path (what SPSP requests carry); unique. */
  readonly path: string
  readonly assetCode: string
  readonly assetScale: number
  readonly publicName: string | null
  readonly active: boolean
  readonly createdAt: number
}

export type IncomingPaymentState = "pending" | "processing" | "completed" | "expired" | "cancelled"

export interface IncomingPaymentRecord {
  readonly id: string
  readonly walletAddressId: string
  readonly incomingAmount: bigint | null
  readonly expiresAt: number | null
  /** JSON text. */
  readonly metadata: string | null
  readonly state: IncomingPaymentState
  readonly createdAt: number
  readonly completedAt: number | null
}

export type ReceiverKind = "incomingPayment" | "stream" | "spsp" | "openPayments"
export type PaymentType = "FixedSend" | "FixedDelivery"

export interface QuoteRecord {
  readonly id: string
  readonly walletAddressId: string
  readonly receiverKind: ReceiverKind
  readonly receiver: string
  /** Base64; kept only for `stream` receivers, whose secret cannot be fetched again. */
  readonly sharedSecret: string | null
  readonly paymentType: PaymentType
  readonly debitAmount: bigint
  readonly debitAssetCode: string
  readonly debitAssetScale: number
  readonly receiveAmount: bigint
  readonly receiveAssetCode: string
  readonly receiveAssetScale: number
  readonly maxPacketAmount: bigint
  /** Exact rationals as "num/den". */
  readonly minExchangeRate: string
  readonly lowEstimatedExchangeRate: string
  readonly highEstimatedExchangeRate: string
  readonly expiresAt: number
  readonly createdAt: number
}

export type OutgoingPaymentState = "funding" | "sending" | "completed" | "failed"
export type OutgoingPaymentOutcome = "completed" | "failed"

export interface OutgoingPaymentRecord {
  readonly id: string
  readonly quoteId: string
  readonly walletAddressId: string
  readonly state: OutgoingPaymentState
  /** Decided before the refund; `state` follows once the refund is done. */
  readonly outcome: OutgoingPaymentOutcome | null
  readonly sentAmount: bigint
  readonly deliveredAmount: bigint
  readonly error: string | null
  readonly attempts: number
  readonly createdAt: number
  readonly updatedAt: number
  /** The instance driving the payment, and until when (epoch ms); null when nobody holds it. */
  readonly leaseOwner: string | null
  readonly leaseExpiresAt: number | null
}

export interface Page {
  readonly limit: number
  /** Keyset cursor: rows with an id greater than this. */
  readonly after: string
}

export interface WalletAddressRepository {
  readonly insert: (record: WalletAddressRecord) => Effect.Effect<"inserted" | "conflict">
  readonly byId: (id: string) => Effect.Effect<WalletAddressRecord | undefined>
  readonly byPath: (path: string) => Effect.Effect<WalletAddressRecord | undefined>
  readonly page: (page: Page) => Effect.Effect<ReadonlyArray<WalletAddressRecord>>
  readonly setActive: (id: string, active: boolean) => Effect.Effect<boolean>
}

export interface IncomingPaymentRepository {
  readonly insert: (record: IncomingPaymentRecord) => Effect.Effect<void>
  readonly byId: (id: string) => Effect.Effect<IncomingPaymentRecord | undefined>
  readonly page: (walletAddressId: string, page: Page) => Effect.Effect<ReadonlyArray<IncomingPaymentRecord>>
  /** Moves the state to `to` only from one of `from`; true when it moved (and its event, if any, written). */
  readonly transition: (
    id: string,
    change: {
      readonly from: ReadonlyArray<IncomingPaymentState>
      readonly to: IncomingPaymentState
      readonly completedAt: number | null
    }
  ) => Effect.Effect<boolean>
  /** Open (pending/processing) payments whose expiry is at or before `now`, at most `limit` (expiry sweep). */
  readonly overdue: (now: number, limit: number) => Effect.Effect<ReadonlyArray<string>>
}

export interface QuoteRepository {
  readonly insert: (record: QuoteRecord) => Effect.Effect<void>
  readonly byId: (id: string) => Effect.Effect<QuoteRecord | undefined>
}

export interface OutgoingPaymentPatch {
  readonly state?: OutgoingPaymentState
  readonly sentAmount?: bigint
  readonly deliveredAmount?: bigint
  /** The last attempt's reason; ignored once an outcome is decided (its reason stays). */
  readonly error?: string | null
}

export interface OutgoingPaymentRepository {
  /** A new payment in `funding`, with no lease; "quoteUsed" when the quote already has a payment. */
  readonly insert: (
    record: { readonly id: string; readonly quoteId: string; readonly walletAddressId: string; readonly createdAt: number }
  ) => Effect.Effect<"inserted" | "quoteUsed">
  readonly byId: (id: string) => Effect.Effect<OutgoingPaymentRecord | undefined>
  readonly byQuote: (quoteId: string) => Effect.Effect<OutgoingPaymentRecord | undefined>
  /** Deletes a payment still in `funding` (its funding was refused). */
  readonly removeFunding: (id: string) => Effect.Effect<void>
  readonly page: (walletAddressId: string, page: Page) => Effect.Effect<ReadonlyArray<OutgoingPaymentRecord>>
  /**
   * Unfinished payments (`funding`/`sending`) nobody holds a live lease on at `now`, oldest first,
   * after the (createdAt, id) cursor.
   */
  readonly unleased: (
    now: number,
    cursor: { readonly createdAt: number; readonly id: string },
    limit: number
  ) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly createdAt: number }>>
  readonly update: (id: string, patch: OutgoingPaymentPatch, at: number) => Effect.Effect<void>
  /**
   * Records sending progress, only while `owner` holds the lease: an instance that lost it (and
   * whose payment another instance drives now) never overwrites the newer figures. True when written.
   */
  readonly recordProgress: (
    id: string,
    owner: string,
    progress: { readonly sentAmount: bigint; readonly deliveredAmount: bigint },
    at: number
  ) => Effect.Effect<boolean>
  readonly addAttempt: (id: string, at: number) => Effect.Effect<void>
  /** Sets the outcome (and error, sent amount) unless one is set; true when this call set it. */
  readonly decide: (
    id: string,
    decision: { readonly outcome: OutgoingPaymentOutcome; readonly error: string | null; readonly sentAmount: bigint | null },
    at: number
  ) => Effect.Effect<boolean>
  /**
   * Takes or renews the lease for `owner` until `until`: only while the payment is unfinished and
   * the lease is free, lapsed (expires at or before `now`) or already `owner`'s. True when held.
   */
  readonly lease: (id: string, owner: string, now: number, until: number) => Effect.Effect<boolean>
  /** Gives the lease up if `owner` holds it. */
  readonly release: (id: string, owner: string) => Effect.Effect<void>
}

export interface PaymentsStoreShape {
  readonly walletAddresses: WalletAddressRepository
  readonly incomingPayments: IncomingPaymentRepository
  readonly quotes: QuoteRepository
  readonly outgoingPayments: OutgoingPaymentRepository
  readonly events: EventRepository
}

export class PaymentsStore extends Context.Service<PaymentsStore, PaymentsStoreShape>()("Payments/PaymentsStore") {}

// ---------------------------------------------------------------------------------------------
// Events: the transactional outbox (src/Events/). The store writes an event IN THE SAME
// TRANSACTION as the state change that causes it, so an event exists exactly when its change does:
//   incomingPayments.insert                          → incoming_payment.created
//   incomingPayments.transition to completed/expired → incoming_payment.completed / .expired
//   outgoingPayments.update, state funding → sending → outgoing_payment.created (funded, sending)
//   outgoingPayments.update, state → completed/failed → outgoing_payment.completed / .failed
//   events.liquidityLow, first time below            → liquidity.peer_low / liquidity.asset_low
// A transition that does not take effect (already in that state, lost a race) writes nothing.
// ---------------------------------------------------------------------------------------------

export const eventTypes = [
  "incoming_payment.created",
  "incoming_payment.completed",
  "incoming_payment.expired",
  "outgoing_payment.created",
  "outgoing_payment.completed",
  "outgoing_payment.failed",
  "liquidity.peer_low",
  "liquidity.asset_low"
] as const
export type EventType = typeof eventTypes[number]

/** pending: to deliver (again); delivered: every webhook URL answered 2xx; failed: attempts exhausted (replayable). */
export type EventDeliveryState = "pending" | "delivered" | "failed"

export interface EventRecord {
  /** The idempotency id receivers dedupe on (a UUID). */
  readonly id: string
  /** Insertion order (keyset cursor of listings). */
  readonly seq: number
  readonly type: EventType
  /** The payment, peer or asset the event is about. */
  readonly resourceId: string
  /** JSON text of the resource as of the change (amounts as decimal strings). */
  readonly data: string
  readonly createdAt: number
  readonly state: EventDeliveryState
  readonly attempts: number
  readonly nextAttemptAt: number
  readonly lastAttemptAt: number | null
  readonly lastError: string | null
  readonly deliveredAt: number | null
  readonly leaseOwner: string | null
  readonly leaseExpiresAt: number | null
}

/** A new event as the store writes it (pending, due at once). */
export interface NewEvent {
  readonly id: string
  readonly type: EventType
  readonly resourceId: string
  readonly data: string
  readonly createdAt: number
}

export interface LiquidityLow {
  readonly kind: "peer" | "asset"
  /** Peer id, or "CODE/scale" for an asset. */
  readonly id: string
  readonly balance: bigint
  readonly threshold: bigint
  readonly assetCode: string
  readonly assetScale: number
}

export interface EventRepository {
  readonly byId: (id: string) => Effect.Effect<EventRecord | undefined>
  /** Newest first, with `seq` below `before` (0 = from the newest); optionally only one state. */
  readonly list: (
    options: { readonly limit: number; readonly before: number; readonly state?: EventDeliveryState | undefined }
  ) => Effect.Effect<ReadonlyArray<EventRecord>>
  /** Pending events due at `now` that nobody holds a live lease on, oldest first. */
  readonly due: (now: number, limit: number) => Effect.Effect<ReadonlyArray<string>>
  /** Takes or renews the delivery lease: only while pending and the lease is free, lapsed or `owner`'s. */
  readonly claim: (id: string, owner: string, now: number, until: number) => Effect.Effect<boolean>
  /** An attempt's result, only while `owner` holds the lease; releases it. True when recorded. */
  readonly attempted: (
    id: string,
    owner: string,
    result:
      | { readonly _tag: "delivered"; readonly at: number }
      | { readonly _tag: "retry"; readonly at: number; readonly error: string; readonly nextAttemptAt: number }
      | { readonly _tag: "failed"; readonly at: number; readonly error: string }
  ) => Effect.Effect<boolean>
  /** Queues an event for delivery again (attempts restart at 0); undefined when unknown. */
  readonly replay: (id: string, now: number) => Effect.Effect<EventRecord | undefined>
  /** Events pending delivery (the webhook backlog). */
  readonly backlog: () => Effect.Effect<number>
  /** Deletes at most `limit` events delivered before `deliveredBefore` (retention); answers how many. */
  readonly prune: (deliveredBefore: number, limit: number) => Effect.Effect<number>
  /**
   * Records whether an account's liquidity is below its threshold; writes a liquidity event (same
   * transaction) only when it goes below from not below, so one dip is one event. True when written.
   */
  readonly liquidityLow: (low: LiquidityLow, below: boolean, event: { readonly id: string; readonly at: number }) => Effect.Effect<boolean>
}

const big = (value: bigint | null): string | null => (value === null ? null : value.toString())

/** The event payload of an incoming payment. Pure. */
export const incomingEventData = (r: IncomingPaymentRecord): string =>
  JSON.stringify({
    id: r.id,
    walletAddressId: r.walletAddressId,
    incomingAmount: big(r.incomingAmount),
    expiresAt: r.expiresAt,
    metadata: r.metadata === null ? null : JSON.parse(r.metadata),
    state: r.state,
    createdAt: r.createdAt,
    completedAt: r.completedAt
  })

/** The event payload of an outgoing payment. Pure. */
export const outgoingEventData = (r: OutgoingPaymentRecord): string =>
  JSON.stringify({
    id: r.id,
    quoteId: r.quoteId,
    walletAddressId: r.walletAddressId,
    state: r.state,
    sentAmount: r.sentAmount.toString(),
    deliveredAmount: r.deliveredAmount.toString(),
    error: r.error,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt
  })

export const liquidityEventData = (low: LiquidityLow): string =>
  JSON.stringify({
    kind: low.kind,
    id: low.id,
    asset: { code: low.assetCode, scale: low.assetScale },
    balance: low.balance.toString(),
    threshold: low.threshold.toString()
  })

/** The event an incoming payment's transition to `to` causes, if any. Pure. */
export const incomingEventType = (to: IncomingPaymentState): EventType | undefined =>
  to === "completed" ? "incoming_payment.completed" : to === "expired" ? "incoming_payment.expired" : undefined

/** The event an outgoing payment's state change causes, if any. Pure. */
export const outgoingEventType = (from: OutgoingPaymentState, to: OutgoingPaymentState): EventType | undefined => {
  if (from === to) return undefined
  if (to === "sending" && from === "funding") return "outgoing_payment.created"
  if (to === "completed") return "outgoing_payment.completed"
  if (to === "failed") return "outgoing_payment.failed"
  return undefined
}

/** Longest error text kept on an event (a receiver's answer is not the store's to keep whole). */
export const eventErrorCharsMax = 500
