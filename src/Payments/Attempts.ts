/**
 * How one attempt of an outgoing payment ends and what the next one is asked to do: pure leaves of
 * the sending worker (`OutgoingPayments.ts`). Which Pay failures are worth retrying, the quote Pay
 * sends with for what is left, and the retry loop with its backoff.
 */
import * as Effect from "effect/Effect"
import { backoffMs, type SendingLimits } from "./Limits.ts"
import type * as Pay from "./Pay.ts"
import { describePayFailure, type Quote } from "./Quotes.ts"
import type { ReceiverError } from "./Receivers.ts"

/** How an attempt ended. */
export type AttemptResult =
  | { readonly kind: "done" }
  | { readonly kind: "final"; readonly reason: string }
  | { readonly kind: "temporary"; readonly reason: string }

export const done: AttemptResult = { kind: "done" }
export const final = (reason: string): AttemptResult => ({ kind: "final", reason })
export const temporary = (reason: string): AttemptResult => ({ kind: "temporary", reason })

/** Pay errors that a later attempt can get past (a new connection, rates that recovered, a path that recovered). */
const temporaryPayErrors = new Set([
  "IdleTimeout",
  "EstablishmentFailed",
  "RateProbeFailed",
  "InsufficientExchangeRate",
  "Timeout",
  "UnexpectedError"
])

/**
 * Whether a Pay failure is worth another attempt. An F-code reject on the way (unreachable, bad
 * packet, ...) is final whatever Pay made of it (`ConnectorError`, or `EstablishmentFailed` when
 * the receiver could not be reached at all); an R-code (timing) is temporary; otherwise Pay's
 * error decides. Pay's failure carries the reject as a readable reason. Pure.
 */
export const classify = (failure: Pay.PayFailed): AttemptResult => {
  const reason = describePayFailure(failure)
  const code = failure.finalReject?.code
  if (code !== undefined) return code.startsWith("F") ? final(reason) : temporary(reason)
  return temporaryPayErrors.has(failure.error) || failure.error === "ConnectorError" ? temporary(reason) : final(reason)
}

export const receiverResult = (error: ReceiverError): AttemptResult =>
  error._tag === "ReceiverUnavailable" ? temporary(error.reason) : final(error.reason)

/** Pay's `minDeliveryAmount` for a fixed send of `amount` at `minRate`: ceil((amount - 1) * rate). Pure. */
export const minDeliveryFor = (amount: bigint, minRate: { readonly num: bigint; readonly den: bigint }): bigint => {
  if (amount <= 1n) return 0n
  const product = (amount - 1n) * minRate.num
  return (product + minRate.den - 1n) / minRate.den
}

export const minOf = (a: bigint, b: bigint | undefined): bigint => (b === undefined || a < b ? a : b)

/** Where a payment stands before an attempt. */
export interface Left {
  /** Still in the payment's account: the most this attempt may send. */
  readonly source: bigint
  /** Sent by earlier attempts (the account's posted debits). */
  readonly sent: bigint
  /** Delivered by earlier attempts. */
  readonly delivered: bigint
  /** Still to deliver for a fixed delivery; undefined for a fixed send. */
  readonly delivery: bigint | undefined
}

/** The quote Pay sends with for what is left: the stored rates and max packet, the amounts reduced. Pure. */
export const sendQuoteFor = (quote: Quote, source: bigint, delivery: bigint | undefined): Pay.SendQuote => ({
  paymentType: quote.paymentType,
  maxSourceAmount: source,
  minDeliveryAmount: delivery ?? minDeliveryFor(source, quote.minExchangeRate),
  maxPacketAmount: quote.maxPacketAmount,
  minExchangeRate: quote.minExchangeRate,
  lowEstimatedExchangeRate: quote.lowEstimatedExchangeRate,
  highEstimatedExchangeRate: quote.highEstimatedExchangeRate
})

/**
 * Runs `attempt` until it is done or fails finally, waiting `backoffMs` between temporary failures;
 * after `attemptsMax` attempts a temporary failure is final. `onTemporary` records each one.
 */
export const retrying = <R>(
  limits: Pick<SendingLimits, "attemptsMax" | "backoffMsBase" | "backoffMsMax">,
  attempt: (n: number) => Effect.Effect<AttemptResult, never, R>,
  onTemporary: (reason: string) => Effect.Effect<void, never, R> = () => Effect.void
): Effect.Effect<Exclude<AttemptResult, { kind: "temporary" }>, never, R> => {
  const loop = (n: number): Effect.Effect<Exclude<AttemptResult, { kind: "temporary" }>, never, R> =>
    Effect.flatMap(attempt(n), (result) => {
      if (result.kind !== "temporary") return Effect.succeed(result)
      if (n >= limits.attemptsMax) return Effect.succeed({ kind: "final", reason: `${result.reason} (after ${n} attempts)` } as const)
      return onTemporary(result.reason).pipe(
        Effect.andThen(Effect.sleep(backoffMs(limits, n))),
        Effect.andThen(Effect.suspend(() => loop(n + 1)))
      )
    })
  return loop(1)
}
