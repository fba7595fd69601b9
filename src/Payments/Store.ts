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
import { Context, type Effect } from "effect"

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
  /** Moves the state to `to` only from one of `from`; true when it moved. */
  readonly transition: (
    id: string,
    change: {
      readonly from: ReadonlyArray<IncomingPaymentState>
      readonly to: IncomingPaymentState
      readonly completedAt: number | null
    }
  ) => Effect.Effect<boolean>
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
}

export class PaymentsStore extends Context.Service<PaymentsStore, PaymentsStoreShape>()("Payments/PaymentsStore") {}
