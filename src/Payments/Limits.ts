/**
 * Every bound of sending (quotes and outgoing payments), in one place, units last. The layers of
 * `Quotes` and `OutgoingPayments` take a `SendingLimits` (tests shorten the waits); `validate`
 * fails start-up on nonsense.
 */
export interface SendingLimits {
  /** How long a quote may be turned into a payment. */
  readonly quoteLifetimeMs: number
  /** Slippage Pay allows below the node's exchange rate (0..1): the quote's minimum rate. */
  readonly slippage: number
  /** SPSP query: whole request, and the largest answer read. */
  readonly spspTimeoutMs: number
  readonly spspBodyBytesMax: number
  /** Pay's `setupPayment` (STREAM asset probe). */
  readonly setupTimeoutMs: number
  /** Pay's `startQuote` (rate probe; Pay gives up by itself after 10 s). */
  readonly quoteTimeoutMs: number
  /** One `pay` attempt (Pay also stops after 10 s without a fulfill). */
  readonly attemptDurationMsMax: number
  /** Attempts of one payment before a temporary failure becomes final. */
  readonly attemptsMax: number
  /** Backoff between attempts: base * 2^(attempt-1), at most `backoffMsMax`. */
  readonly backoffMsBase: number
  readonly backoffMsMax: number
  /** Longest wait for the payment's pending packet reservations to settle before the refund. */
  readonly settleWaitMsMax: number
  /** Payments sending at once; more wait for a slot. */
  readonly concurrentPaymentsMax: number
  /** Rows read per page when resuming at start-up. */
  readonly resumePageSize: number
  /**
   * An instance drives a payment while it holds the payment's lease: it lasts `leaseTtlMs` and is
   * renewed every third of that; a lease not renewed (the instance died or lost the store) lapses
   * and another instance takes the payment over.
   */
  readonly leaseTtlMs: number
  /** How often an instance looks for unfinished payments whose lease lapsed (and for cancellations). */
  readonly takeoverIntervalMs: number
}

export const defaultSendingLimits: SendingLimits = {
  quoteLifetimeMs: 5 * 60_000,
  slippage: 0.01,
  spspTimeoutMs: 5_000,
  spspBodyBytesMax: 16 * 1024,
  setupTimeoutMs: 15_000,
  quoteTimeoutMs: 20_000,
  attemptDurationMsMax: 10 * 60_000,
  attemptsMax: 5,
  backoffMsBase: 1_000,
  backoffMsMax: 60_000,
  // The longest hold of a packet (30 s by default) plus the ledger's settle margin (10 s).
  settleWaitMsMax: 45_000,
  concurrentPaymentsMax: 64,
  resumePageSize: 500,
  leaseTtlMs: 10_000,
  takeoverIntervalMs: 2_000
}

/** The first problem with `limits`, naming the field; undefined when they are usable. Pure. */
export const limitsProblem = (limits: SendingLimits): string | undefined => {
  const positive: ReadonlyArray<keyof SendingLimits> = [
    "quoteLifetimeMs",
    "spspTimeoutMs",
    "spspBodyBytesMax",
    "setupTimeoutMs",
    "quoteTimeoutMs",
    "attemptDurationMsMax",
    "attemptsMax",
    "backoffMsBase",
    "backoffMsMax",
    "settleWaitMsMax",
    "concurrentPaymentsMax",
    "resumePageSize",
    "leaseTtlMs",
    "takeoverIntervalMs"
  ]
  for (const field of positive) {
    const value = limits[field]
    if (!Number.isInteger(value) || value <= 0) return `${field}: a positive integer, got ${value}`
  }
  if (limits.leaseTtlMs < 300) return `leaseTtlMs: at least 300 (renewed every third), got ${limits.leaseTtlMs}`
  if (!(limits.slippage >= 0 && limits.slippage < 1)) return `slippage: between 0 (inclusive) and 1, got ${limits.slippage}`
  return undefined
}

/** Wait before attempt `attempt + 1` (attempt counts from 1). Pure. */
export const backoffMs = (limits: Pick<SendingLimits, "backoffMsBase" | "backoffMsMax">, attempt: number): number =>
  Math.min(limits.backoffMsMax, limits.backoffMsBase * 2 ** Math.max(0, attempt - 1))
