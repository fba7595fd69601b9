/**
 * Store rows -> records, shared by the SQLite and PostgreSQL stores (same column names). Money
 * columns arrive as decimal text (SQLite TEXT, PostgreSQL NUMERIC), times as integers or their text;
 * only booleans differ per backend, so each store passes how it reads one.
 */
import type {
  EventRecord,
  EventType,
  IncomingPaymentRecord,
  OutgoingPaymentRecord,
  QuoteRecord,
  WalletAddressRecord
} from "./Store.ts"

export type Row = Record<string, unknown>

export const big = (value: unknown): bigint => BigInt(value as string | bigint)
export const num = (value: unknown): number => Number(value as string | bigint | number)
export const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : num(value))
export const strOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value))

/** The record readers; `bool` reads a boolean column as the backend stores it. */
export const rowReaders = (bool: (value: unknown) => boolean) => {
  const walletFromRow = (row: Row): WalletAddressRecord => ({
    id: String(row.id),
    url: String(row.url),
    path: String(row.path),
    assetCode: String(row.asset_code),
    assetScale: num(row.asset_scale),
    publicName: strOrNull(row.public_name),
    active: bool(row.active),
    createdAt: num(row.created_at)
  })

  const incomingFromRow = (row: Row): IncomingPaymentRecord => ({
    id: String(row.id),
    walletAddressId: String(row.wallet_address_id),
    incomingAmount: row.incoming_amount === null ? null : big(row.incoming_amount),
    expiresAt: numOrNull(row.expires_at),
    metadata: strOrNull(row.metadata),
    state: String(row.state) as IncomingPaymentRecord["state"],
    createdAt: num(row.created_at),
    completedAt: numOrNull(row.completed_at)
  })

  const quoteFromRow = (row: Row): QuoteRecord => ({
    id: String(row.id),
    walletAddressId: String(row.wallet_address_id),
    receiverKind: String(row.receiver_kind) as QuoteRecord["receiverKind"],
    receiver: String(row.receiver),
    sharedSecret: strOrNull(row.shared_secret),
    paymentType: String(row.payment_type) as QuoteRecord["paymentType"],
    debitAmount: big(row.debit_amount),
    debitAssetCode: String(row.debit_asset_code),
    debitAssetScale: num(row.debit_asset_scale),
    receiveAmount: big(row.receive_amount),
    receiveAssetCode: String(row.receive_asset_code),
    receiveAssetScale: num(row.receive_asset_scale),
    maxPacketAmount: big(row.max_packet_amount),
    minExchangeRate: String(row.min_exchange_rate),
    lowEstimatedExchangeRate: String(row.low_estimated_exchange_rate),
    highEstimatedExchangeRate: String(row.high_estimated_exchange_rate),
    expiresAt: num(row.expires_at),
    createdAt: num(row.created_at)
  })

  const outgoingFromRow = (row: Row): OutgoingPaymentRecord => ({
    id: String(row.id),
    quoteId: String(row.quote_id),
    walletAddressId: String(row.wallet_address_id),
    state: String(row.state) as OutgoingPaymentRecord["state"],
    outcome: strOrNull(row.outcome) as OutgoingPaymentRecord["outcome"],
    sentAmount: big(row.sent_amount),
    deliveredAmount: big(row.delivered_amount),
    error: strOrNull(row.error),
    attempts: num(row.attempts),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    leaseOwner: strOrNull(row.lease_owner),
    leaseExpiresAt: numOrNull(row.lease_expires_at)
  })

  const eventFromRow = (row: Row): EventRecord => ({
    id: String(row.id),
    seq: num(row.seq),
    type: String(row.type) as EventType,
    resourceId: String(row.resource_id),
    data: String(row.data),
    createdAt: num(row.created_at),
    state: String(row.state) as EventRecord["state"],
    attempts: num(row.attempts),
    nextAttemptAt: num(row.next_attempt_at),
    lastAttemptAt: numOrNull(row.last_attempt_at),
    lastError: strOrNull(row.last_error),
    deliveredAt: numOrNull(row.delivered_at),
    leaseOwner: strOrNull(row.lease_owner),
    leaseExpiresAt: numOrNull(row.lease_expires_at)
  })
  return { walletFromRow, incomingFromRow, quoteFromRow, outgoingFromRow, eventFromRow }
}
