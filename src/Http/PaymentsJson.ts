/**
 * The JSON of the operator API's payment resources (wallet addresses, incoming payments, quotes,
 * outgoing payments): request and response schemas, and pure converters from the services' values.
 *
 * Conventions (as in the rest of the admin API): amounts are decimal strings (u64), an amount with
 * its asset is `{ value, assetCode, assetScale }` (Open Payments' shape), times are ISO 8601 strings,
 * rates are exact `"num/den"` strings. Shared secrets appear only in the credentials endpoint's
 * answer and in a quote request; never in any other answer.
 */
import * as Schema from "effect/Schema"
import type { Asset } from "../Config.ts"
import { isValidAddress, u64 } from "../Connector/Packet.ts"
import type { IncomingPayment } from "../Payments/IncomingPayments.ts"
import type { OutgoingPayment } from "../Payments/OutgoingPayments.ts"
import type { Amount, Quote } from "../Payments/Quotes.ts"
import type { Receiver, ReceiverRef } from "../Payments/Receivers.ts"
import type { WalletAddress } from "../Payments/WalletAddresses.ts"

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/** A positive u64 as decimal text. Pure. */
export const parseU64 = (text: string): bigint | undefined => {
  if (text.length > 20 || !/^[0-9]+$/.test(text)) return undefined
  const value = BigInt(text)
  return value > 0n && value <= u64.max ? value : undefined
}

const PositiveAmountText = Schema.String.check(
  Schema.makeFilter((text: string) => parseU64(text) !== undefined || "a positive integer below 2^64, as a decimal string")
).annotate({ description: "A positive integer below 2^64, as a decimal string", examples: ["1000"] })

const Id = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64))

const AssetJson = Schema.Struct({
  code: Schema.String.check(Schema.isPattern(/^[A-Z0-9]{1,12}$/)),
  scale: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 255 }))
})

const AmountJson = Schema.Struct({ value: Schema.String, assetCode: Schema.String, assetScale: Schema.Number })
type AmountJson = typeof AmountJson.Type

const IsoTime = Schema.String.annotate({ description: "ISO 8601 time" })

const amountJson = (value: bigint, asset: Asset): AmountJson => ({
  value: value.toString(),
  assetCode: asset.code,
  assetScale: asset.scale
})

const amountOf = (amount: Amount): AmountJson => amountJson(amount.value, amount.asset)

const iso = (epochMs: number): string => new Date(epochMs).toISOString()

const BalanceJson = Schema.Struct({
  available: Schema.String.annotate({ description: "credits posted - debits posted - debits pending" })
})

// ---------------------------------------------------------------------------------------------
// Wallet addresses
// ---------------------------------------------------------------------------------------------

export const CreateWalletAddressRequest = Schema.Struct({
  url: Schema.String.check(Schema.isMaxLength(2048)),
  asset: AssetJson,
  publicName: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(256)))
})

export const WalletAddressJson = Schema.Struct({
  id: Schema.String,
  url: Schema.String,
  asset: AssetJson,
  publicName: Schema.optionalKey(Schema.String),
  active: Schema.Boolean,
  createdAt: IsoTime,
  balance: BalanceJson
})
type WalletAddressJson = typeof WalletAddressJson.Type

export const walletAddressJson = (wallet: WalletAddress, available: bigint): WalletAddressJson => ({
  id: wallet.id,
  url: wallet.url,
  asset: wallet.asset,
  ...(wallet.publicName === undefined ? {} : { publicName: wallet.publicName }),
  active: wallet.active,
  createdAt: iso(wallet.createdAt),
  balance: { available: available.toString() }
})

export const WalletDepositRequest = Schema.Struct({
  amount: PositiveAmountText,
  transferId: Schema.optionalKey(
    Schema.String.check(Schema.isPattern(/^[0-9]{1,39}$/)).annotate({
      description: "Idempotency key: a decimal u128 transfer id; a fresh one is generated when absent"
    })
  )
})

export const WalletDepositResult = Schema.Struct({ transferId: Schema.String, balance: BalanceJson })

// ---------------------------------------------------------------------------------------------
// Incoming payments
// ---------------------------------------------------------------------------------------------

export const CreateIncomingPaymentRequest = Schema.Struct({
  walletAddressId: Id,
  incomingAmount: Schema.optionalKey(PositiveAmountText),
  expiresAt: Schema.optionalKey(
    IsoTime.check(Schema.makeFilter((text: string) => Number.isFinite(Date.parse(text)) || "an ISO 8601 time"))
  ),
  metadata: Schema.optionalKey(Schema.Unknown)
})

export const IncomingPaymentJson = Schema.Struct({
  id: Schema.String,
  walletAddressId: Schema.String,
  state: Schema.Literals(["pending", "processing", "completed", "expired", "cancelled"]),
  incomingAmount: Schema.optionalKey(AmountJson),
  receivedAmount: AmountJson,
  expiresAt: Schema.optionalKey(IsoTime),
  metadata: Schema.optionalKey(Schema.Unknown),
  createdAt: IsoTime,
  completedAt: Schema.optionalKey(IsoTime)
})
type IncomingPaymentJson = typeof IncomingPaymentJson.Type

export const incomingPaymentJson = (payment: IncomingPayment, asset: Asset, received: bigint): IncomingPaymentJson => ({
  id: payment.id,
  walletAddressId: payment.walletAddressId,
  state: payment.state,
  ...(payment.incomingAmount === undefined ? {} : { incomingAmount: amountJson(payment.incomingAmount, asset) }),
  receivedAmount: amountJson(received, asset),
  ...(payment.expiresAt === undefined ? {} : { expiresAt: iso(payment.expiresAt) }),
  ...(payment.metadata === undefined ? {} : { metadata: payment.metadata }),
  createdAt: iso(payment.createdAt),
  ...(payment.completedAt === undefined ? {} : { completedAt: iso(payment.completedAt) })
})

export const CredentialsJson = Schema.Struct({
  ilpAddress: Schema.String,
  sharedSecret: Schema.String.annotate({ description: "32 bytes, base64" })
})

// ---------------------------------------------------------------------------------------------
// Quotes
// ---------------------------------------------------------------------------------------------

const ReceiverJson = Schema.Struct({
  incomingPaymentId: Schema.optionalKey(Id.annotate({ description: "An incoming payment on this node" })),
  ilpAddress: Schema.optionalKey(
    Schema.String.check(Schema.makeFilter((text: string) => isValidAddress(text) || "an ILP address"))
  ),
  sharedSecret: Schema.optionalKey(Schema.String.annotate({ description: "STREAM shared secret, 32 bytes, base64" })),
  spspUrl: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(2048))),
  openPaymentsUrl: Schema.optionalKey(
    Schema.String.check(Schema.isMaxLength(2048)).annotate({
      description: "An Open Payments incoming payment URL, or a wallet address URL (an incoming payment is created there)"
    })
  )
}).check(Schema.makeFilter((receiver) => receiverOf(receiver) !== undefined ||
  "give one of incomingPaymentId, ilpAddress with sharedSecret (32 bytes, base64), spspUrl or openPaymentsUrl"
))
type ReceiverJson = typeof ReceiverJson.Type

/** The receiver a request names, or undefined when it names none or several. Pure. */
export const receiverOf = (json: ReceiverJson): Receiver | undefined => {
  const given = [json.incomingPaymentId, json.ilpAddress ?? json.sharedSecret, json.spspUrl, json.openPaymentsUrl]
    .filter((value) => value !== undefined).length
  if (given !== 1) return undefined
  if (json.incomingPaymentId !== undefined) return { kind: "incomingPayment", incomingPaymentId: json.incomingPaymentId }
  if (json.spspUrl !== undefined) return { kind: "spsp", url: json.spspUrl }
  if (json.openPaymentsUrl !== undefined) return { kind: "openPayments", url: json.openPaymentsUrl }
  if (json.ilpAddress === undefined || json.sharedSecret === undefined) return undefined
  const sharedSecret = Buffer.from(json.sharedSecret, "base64")
  return sharedSecret.length === 32 ? { kind: "stream", ilpAddress: json.ilpAddress, sharedSecret } : undefined
}

export const CreateQuoteRequest = Schema.Struct({
  walletAddressId: Id,
  receiver: ReceiverJson,
  debitAmount: Schema.optionalKey(PositiveAmountText),
  receiveAmount: Schema.optionalKey(PositiveAmountText)
}).check(Schema.makeFilter((body) =>
  !(body.debitAmount !== undefined && body.receiveAmount !== undefined) || "give debitAmount or receiveAmount, not both"
))

const ReceiverRefJson = Schema.Struct({
  incomingPaymentId: Schema.optionalKey(Schema.String),
  ilpAddress: Schema.optionalKey(Schema.String),
  spspUrl: Schema.optionalKey(Schema.String),
  openPaymentsUrl: Schema.optionalKey(Schema.String)
})

const receiverRefJson = (receiver: ReceiverRef): typeof ReceiverRefJson.Type => {
  switch (receiver.kind) {
    case "incomingPayment":
      return { incomingPaymentId: receiver.incomingPaymentId }
    case "stream":
      return { ilpAddress: receiver.ilpAddress }
    case "spsp":
      return { spspUrl: receiver.url }
    case "openPayments":
      return { openPaymentsUrl: receiver.url }
  }
}

const rate = (value: { readonly num: bigint; readonly den: bigint }): string => `${value.num}/${value.den}`

export const QuoteJson = Schema.Struct({
  id: Schema.String,
  walletAddressId: Schema.String,
  receiver: ReceiverRefJson,
  paymentType: Schema.Literals(["FixedSend", "FixedDelivery"]),
  debitAmount: AmountJson,
  receiveAmount: AmountJson,
  maxPacketAmount: Schema.String,
  minExchangeRate: Schema.String,
  lowEstimatedExchangeRate: Schema.String,
  highEstimatedExchangeRate: Schema.String,
  expiresAt: IsoTime,
  createdAt: IsoTime
})
type QuoteJson = typeof QuoteJson.Type

export const quoteJson = (quote: Quote): QuoteJson => ({
  id: quote.id,
  walletAddressId: quote.walletAddressId,
  receiver: receiverRefJson(quote.receiver),
  paymentType: quote.paymentType,
  debitAmount: amountOf(quote.debitAmount),
  receiveAmount: amountOf(quote.receiveAmount),
  maxPacketAmount: quote.maxPacketAmount.toString(),
  minExchangeRate: rate(quote.minExchangeRate),
  lowEstimatedExchangeRate: rate(quote.lowEstimatedExchangeRate),
  highEstimatedExchangeRate: rate(quote.highEstimatedExchangeRate),
  expiresAt: iso(quote.expiresAt),
  createdAt: iso(quote.createdAt)
})

// ---------------------------------------------------------------------------------------------
// Outgoing payments
// ---------------------------------------------------------------------------------------------

export const CreateOutgoingPaymentRequest = Schema.Struct({ quoteId: Id })

export const OutgoingPaymentJson = Schema.Struct({
  id: Schema.String,
  quoteId: Schema.String,
  walletAddressId: Schema.String,
  receiver: ReceiverRefJson,
  state: Schema.Literals(["funding", "sending", "completed", "failed"]),
  debitAmount: AmountJson,
  receiveAmount: AmountJson,
  sentAmount: AmountJson,
  deliveredAmount: AmountJson,
  error: Schema.optionalKey(Schema.String),
  attempts: Schema.Number,
  createdAt: IsoTime,
  updatedAt: IsoTime
})
type OutgoingPaymentJson = typeof OutgoingPaymentJson.Type

export const outgoingPaymentJson = (payment: OutgoingPayment): OutgoingPaymentJson => ({
  id: payment.id,
  quoteId: payment.quoteId,
  walletAddressId: payment.walletAddressId,
  receiver: receiverRefJson(payment.receiver),
  state: payment.state,
  debitAmount: amountOf(payment.debitAmount),
  receiveAmount: amountOf(payment.receiveAmount),
  sentAmount: amountJson(payment.sentAmount, payment.debitAmount.asset),
  deliveredAmount: amountJson(payment.deliveredAmount, payment.receiveAmount.asset),
  ...(payment.error === undefined ? {} : { error: payment.error }),
  attempts: payment.attempts,
  createdAt: iso(payment.createdAt),
  updatedAt: iso(payment.updatedAt)
})
