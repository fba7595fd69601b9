/**
 * Quotes (SPEC §8): what sending from a local wallet address to a receiver costs, for a debit amount
 * (what leaves the wallet, in its asset) or a receive amount (what arrives, in the receiver's asset).
 *
 * `create` resolves the receiver (see `Receivers.ts`), then runs `@interledger/pay`'s setup and rate
 * probe through the in-process plugin with `unfulfillable: true`: the probes cross this node and the
 * next ones like any packet, but no ledger anywhere on the path creates a transfer for them (our
 * ledger stage skips unfulfillable packets; a receiving node skips packets its receiver cannot
 * fulfill). The quote stores the amounts, the probed rates, the path's max packet amount and its
 * expiry (`quoteLifetimeMs`, never past the incoming payment's own expiry).
 *
 * The minimum exchange rate is this node's rate for the pair (the `Rates` service) less `slippage`;
 * a pair without a rate cannot be quoted (same asset code: rate 1). For an incoming payment of ours
 * with an `incomingAmount`, no amount means "what it may still receive", and a receive amount may
 * not exceed that.
 *
 * Amounts are u64 (`debitAmount` is Pay's `maxSourceAmount`, `receiveAmount` its
 * `minDeliveryAmount`); rates are exact rationals stored as "num/den".
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import type { Asset } from "../Config.ts"
import { NodeConfigService } from "../Config.ts"
import { u64 } from "../Connector/Packet.ts"
import { localAccount, Plugins } from "../Connector/Plugin.ts"
import { Rates } from "../Rates/Rates.ts"
import type { Rational } from "../Rates/Rational.ts"
import { PaymentsStore, type QuoteRecord } from "./Store.ts"
import { defaultSendingLimits, limitsProblem, type SendingLimits } from "./Limits.ts"
import * as Pay from "./Pay.ts"
import {
  type Destination,
  type Receiver,
  type ReceiverError,
  type ReceiverRef,
  resolve,
  resolveServices
} from "./Receivers.ts"
import { WalletAddresses, type WalletAddressNotFound } from "./WalletAddresses.ts"

export interface Amount {
  readonly value: bigint
  readonly asset: Asset
}

export type PaymentType = "FixedSend" | "FixedDelivery"

export interface Quote {
  readonly id: string
  readonly walletAddressId: string
  readonly receiver: ReceiverRef
  readonly paymentType: PaymentType
  /** The most that leaves the wallet address (Pay's `maxSourceAmount`). */
  readonly debitAmount: Amount
  /** The least that arrives (Pay's `minDeliveryAmount`). */
  readonly receiveAmount: Amount
  /** The largest packet the path takes, in the wallet's asset (from the probes' F08 data). */
  readonly maxPacketAmount: bigint
  readonly minExchangeRate: Rational
  readonly lowEstimatedExchangeRate: Rational
  readonly highEstimatedExchangeRate: Rational
  readonly expiresAt: number
  readonly createdAt: number
}

export interface CreateQuote {
  readonly walletAddressId: string
  readonly receiver: Receiver
  readonly debitAmount?: bigint | undefined
  readonly receiveAmount?: bigint | undefined
}

export class InvalidQuoteRequest extends Data.TaggedError("InvalidQuoteRequest")<{ readonly message: string }> {}
export class QuoteNotFound extends Data.TaggedError("QuoteNotFound")<{ readonly id: string }> {}
/** Pay could not quote (rate probe failed, no rate, rate too low, ...); `retryable` when temporary. */
export class QuoteFailed extends Data.TaggedError("QuoteFailed")<{
  readonly reason: string
  readonly retryable: boolean
}> {}

export type CreateQuoteError = InvalidQuoteRequest | WalletAddressNotFound | ReceiverError | QuoteFailed

export interface QuotesShape {
  readonly create: (input: CreateQuote) => Effect.Effect<Quote, CreateQuoteError>
  readonly get: (id: string) => Effect.Effect<Quote, QuoteNotFound>
  /** The receiver with its credentials (a `stream` receiver's shared secret): for sending only. */
  readonly receiverOf: (quote: Quote) => Effect.Effect<Receiver>
}

export class Quotes extends Context.Service<Quotes, QuotesShape>()("Payments/Quotes") {}

// ---------------------------------------------------------------------------------------------
// Pure leaves
// ---------------------------------------------------------------------------------------------

export const formatRational = (rate: Rational): string => `${rate.num}/${rate.den}`

export const parseRational = (text: string): Rational => {
  const [num, den] = text.split("/")
  return { num: BigInt(num!), den: BigInt(den!) }
}

const amountProblem = (field: string, amount: bigint | undefined): string | undefined =>
  amount === undefined || (amount > 0n && amount <= u64.max) ? undefined : `${field}: a positive integer below 2^64`

/** What Pay should aim for, or what is wrong with the request. Pure. */
export const targetOf = (input: CreateQuote, destination: Destination): Pay.Target | string => {
  const problem = amountProblem("debitAmount", input.debitAmount) ?? amountProblem("receiveAmount", input.receiveAmount)
  if (problem !== undefined) return problem
  if (input.debitAmount !== undefined && input.receiveAmount !== undefined) return "give debitAmount or receiveAmount, not both"
  const receivable = destination.local?.receivable
  if (input.debitAmount !== undefined) return { kind: "send", amount: input.debitAmount }
  if (input.receiveAmount !== undefined) {
    return receivable !== undefined && input.receiveAmount > receivable ?
      `receiveAmount: the incoming payment may receive only ${receivable} more` :
      { kind: "deliver", amount: input.receiveAmount }
  }
  return receivable === undefined ? "give debitAmount or receiveAmount" : { kind: "deliver", amount: receivable }
}

/**
 * A readable reason for a Pay failure (never a secret: Pay's error name and the ILP reject that
 * ended it, with who made it). Pure.
 */
export const describePayFailure = (failure: Pay.PayFailed): string => {
  const reject = failure.finalReject
  if (reject === undefined) return failure.error
  const by = reject.triggeredBy === undefined || reject.triggeredBy === "" ? "" : ` (triggered by ${reject.triggeredBy})`
  return `${`${failure.error}: ${reject.code} ${reject.message}`.trim()}${by}`
}

/** Pay errors a later quote may not hit again. */
const temporaryQuoteErrors = new Set(["RateProbeFailed", "EstablishmentFailed", "Timeout", "UnexpectedError"])

const quoteFailed = (failure: Pay.PayFailed) =>
  new QuoteFailed({
    reason: describePayFailure(failure),
    retryable: failure.finalReject === undefined ?
      temporaryQuoteErrors.has(failure.error) || failure.error === "ConnectorError" :
      !failure.finalReject.code.startsWith("F")
  })

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

const receiverRefOf = (record: QuoteRecord): ReceiverRef => {
  switch (record.receiverKind) {
    case "incomingPayment":
      return { kind: "incomingPayment", incomingPaymentId: record.receiver }
    case "stream":
      return { kind: "stream", ilpAddress: record.receiver }
    case "spsp":
      return { kind: "spsp", url: record.receiver }
    case "openPayments":
      return { kind: "openPayments", url: record.receiver }
  }
}

const fromRecord = (record: QuoteRecord): Quote => ({
  id: record.id,
  walletAddressId: record.walletAddressId,
  receiver: receiverRefOf(record),
  paymentType: record.paymentType,
  debitAmount: { value: record.debitAmount, asset: { code: record.debitAssetCode, scale: record.debitAssetScale } },
  receiveAmount: { value: record.receiveAmount, asset: { code: record.receiveAssetCode, scale: record.receiveAssetScale } },
  maxPacketAmount: record.maxPacketAmount,
  minExchangeRate: parseRational(record.minExchangeRate),
  lowEstimatedExchangeRate: parseRational(record.lowEstimatedExchangeRate),
  highEstimatedExchangeRate: parseRational(record.highEstimatedExchangeRate),
  expiresAt: record.expiresAt,
  createdAt: record.createdAt
})

const receiverColumns = (receiver: Receiver): readonly [string, string | null] => {
  switch (receiver.kind) {
    case "incomingPayment":
      return [receiver.incomingPaymentId, null]
    case "stream":
      return [receiver.ilpAddress, Buffer.from(receiver.sharedSecret).toString("base64")]
    case "spsp":
    case "openPayments":
      return [receiver.url, null]
  }
}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

export const make = (limits: SendingLimits = defaultSendingLimits) =>
  Effect.gen(function*() {
    const problem = limitsProblem(limits)
    if (problem !== undefined) return yield* Effect.die(new Error(`sending limits: ${problem}`))
    const store = (yield* PaymentsStore).quotes
    const config = yield* NodeConfigService
    const walletAddresses = yield* WalletAddresses
    const plugins = yield* Plugins
    const rates = yield* Rates
    const services = yield* resolveServices({ timeoutMs: limits.spspTimeoutMs, bodyBytesMax: limits.spspBodyBytesMax })
    const get = (id: string) =>
      Effect.flatMap(store.byId(id), (record) =>
        record === undefined ? Effect.fail(new QuoteNotFound({ id })) : Effect.succeed(fromRecord(record)))

    /** This node's rate for the pair; undefined for the same asset code (Pay then uses 1). */
    const rateFor = (source: Asset, destination: Asset) =>
      source.code === destination.code ? Effect.succeed(undefined) : rates.rate(source.code, destination.code).pipe(
        Effect.catchTags({
          RateMissing: () =>
            Effect.fail(new QuoteFailed({ reason: `no exchange rate from ${source.code} to ${destination.code}`, retryable: false })),
          RatesUnavailable: () => Effect.fail(new QuoteFailed({ reason: "exchange rates unavailable", retryable: true }))
        })
      )

    /** Pay's setup and rate probe, unfulfillable, from the wallet address. */
    const probe = (id: string, wallet: { readonly asset: Asset; readonly ledgerAccountId: bigint }, destination: Destination, target: Pay.Target) =>
      Effect.scoped(Effect.gen(function*() {
        const session = yield* Pay.session(plugins, {
          sourceAccount: localAccount({
            id: `quote-${id}`,
            asset: wallet.asset,
            ledgerAccountId: wallet.ledgerAccountId,
            ourAddress: config.ilpAddress
          }),
          unfulfillable: true
        })
        const resolved = yield* Pay.setup(session, destination, limits.setupTimeoutMs)
        const rate = yield* rateFor(wallet.asset, resolved.destinationAsset)
        const quote = yield* Pay.quote(session, resolved, {
          target,
          sourceAsset: wallet.asset,
          rate,
          slippage: limits.slippage,
          timeoutMs: limits.quoteTimeoutMs
        })
        return { quote, destinationAsset: resolved.destinationAsset }
      })).pipe(Effect.catchTag("PayFailed", (failure) => Effect.fail(quoteFailed(failure))))

    const create = Effect.fn("Quotes.create")(function*(input: CreateQuote) {
      const wallet = yield* walletAddresses.get(input.walletAddressId)
      if (!wallet.active) return yield* new InvalidQuoteRequest({ message: "walletAddressId: the wallet address is inactive" })
      // An Open Payments receiver is resolved as a client named by the sending wallet address.
      const receiverIn: Receiver = input.receiver.kind === "openPayments" ?
        { ...input.receiver, clientWalletAddressUrl: wallet.url } :
        input.receiver
      const destination = yield* resolve(services, receiverIn)
      const target = targetOf(input, destination)
      if (typeof target === "string") return yield* new InvalidQuoteRequest({ message: target })
      const id = randomUUID()
      const { quote, destinationAsset } = yield* probe(id, wallet, destination, target)
      if (quote.maxSourceAmount > u64.max) {
        return yield* new QuoteFailed({ reason: "the debit amount would exceed 2^64 - 1", retryable: false })
      }
      const now = yield* Clock.currentTimeMillis
      const expiresAt = Math.min(now + limits.quoteLifetimeMs, destination.local?.expiresAt ?? Number.MAX_SAFE_INTEGER)
      // For a wallet address URL, the quote keeps the incoming payment created there.
      const [receiver, sharedSecret] = receiverColumns(
        destination.incomingPaymentUrl === undefined ? input.receiver : { kind: "openPayments", url: destination.incomingPaymentUrl }
      )
      yield* store.insert({
        id,
        walletAddressId: wallet.id,
        receiverKind: input.receiver.kind,
        receiver,
        sharedSecret,
        paymentType: quote.paymentType,
        debitAmount: quote.maxSourceAmount,
        debitAssetCode: wallet.asset.code,
        debitAssetScale: wallet.asset.scale,
        receiveAmount: quote.minDeliveryAmount,
        receiveAssetCode: destinationAsset.code,
        receiveAssetScale: destinationAsset.scale,
        maxPacketAmount: quote.maxPacketAmount,
        minExchangeRate: formatRational(Pay.toRational(quote.minExchangeRate)),
        lowEstimatedExchangeRate: formatRational(Pay.toRational(quote.lowEstimatedExchangeRate)),
        highEstimatedExchangeRate: formatRational(Pay.toRational(quote.highEstimatedExchangeRate)),
        expiresAt,
        createdAt: now
      })
      return yield* Effect.orDie(get(id))
    })

    const receiverOf = (quote: Quote) =>
      Effect.gen(function*(): Effect.fn.Return<Receiver> {
        if (quote.receiver.kind === "openPayments") {
          const wallet = yield* Effect.orDie(walletAddresses.get(quote.walletAddressId))
          return { kind: "openPayments", url: quote.receiver.url, clientWalletAddressUrl: wallet.url } satisfies Receiver
        }
        if (quote.receiver.kind !== "stream") return quote.receiver
        const record = yield* store.byId(quote.id)
        return {
          kind: "stream",
          ilpAddress: (quote.receiver as { readonly ilpAddress: string }).ilpAddress,
          sharedSecret: Buffer.from(record?.sharedSecret ?? "", "base64")
        }
      })

    return Quotes.of({ create, get, receiverOf })
  })

export const layer = (limits: SendingLimits = defaultSendingLimits) => Layer.effect(Quotes, make(limits))
