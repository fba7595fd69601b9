/**
 * `@interledger/pay` (0.4.0-alpha.9) as Effects over the in-process plugin (SPEC §8).
 *
 * - `session` connects a plugin for one quote or one payment attempt and disconnects it when the
 *   scope closes. A disconnected plugin answers every packet with a final reject, so a Pay promise
 *   left behind by a timeout or an interruption ends at once instead of running on.
 * - Every call is bounded (`timeoutMs`); a timeout is a `PayFailed` with `error: "Timeout"`. A call
 *   that is interrupted or times out stops Pay and waits for it to account for its packets in flight.
 * - The session remembers the reject that ended the current Pay call (an F or R code other than F08,
 *   F99 and R01; see `observe`), so a failure names its cause ("F02 ... by test.b") rather than only
 *   Pay's error name, and never the answer to a packet Pay ignores.
 * - Rate probes: an F05 with STREAM data (Rafiki's receivers) reaches Pay as F99 (`probeReply`).
 * - Exchange rates cross the boundary as exact rationals (`Rational`), never as floats; the only
 *   floats are Pay's `prices` input (Pay's own API), which sets the quote's minimum rate.
 */
import type {
  PaymentProgress,
  PositiveInt,
  PositiveRatio,
  Quote as PayQuote,
  Ratio,
  ResolvedPayment
} from "@interledger/pay"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { Asset } from "../Config.ts"
import { decodePrepare, decodeReject, encodeReject, isDecodeFailure, PacketType } from "../Connector/Packet.ts"
import { drainMsMax, type IlpPlugin, type PluginOptions, type PluginsShape } from "../Connector/Plugin.ts"
import type { Rational } from "../Rates/Rational.ts"
import type { Destination } from "./Receivers.ts"

export type { PaymentProgress, ResolvedPayment }

/**
 * `@interledger/pay` is imported by the first quote or payment (every Pay call below runs after
 * `loadPay`), not at start: with its dependencies it costs ~4 MiB of V8 heap that a node that never
 * sends does not need (issue 13, memory).
 */
type PayModule = typeof import("@interledger/pay")
let payModule: PayModule | undefined
let payLoading: Promise<PayModule> | undefined
const loadPay = (): Promise<PayModule> =>
  (payLoading ??= import("@interledger/pay").then((module) => (payModule = module)))

export interface RejectSummary {
  readonly code: string
  readonly message: string
  /** The ILP address that made the reject (absent on summaries built elsewhere, e.g. in tests). */
  readonly triggeredBy?: string
}

/** Pay stopped with `error` (a Pay `PaymentError`, "Timeout" or "UnexpectedError"). */
export class PayFailed extends Data.TaggedError("PayFailed")<{
  readonly error: string
  readonly finalReject: RejectSummary | undefined
}> {}

/** The Pay call a session is in: its STREAM setup (asset probe), the rate probe, or a payment. */
export type Phase = "setup" | "quote" | "send"

export interface Session {
  readonly plugin: IlpPlugin
  /** The reject that ended the current phase, if a reject did (see `observe`). */
  readonly finalReject: () => RejectSummary | undefined
  /** Starts a phase towards `destinationAddress`: forgets the rejects of the one before. */
  readonly begin: (phase: Phase, destinationAddress: string) => void
}

/** Reject codes that make Pay end a payment (its `FailureController`). Pure. */
export const endsPayment = (code: string): boolean =>
  !(code.startsWith("T") || code === "F08" || code === "F99" || code === "R01")

/**
 * An unfulfillable probe's reject as Pay should see it. Receivers built on
 * `@interledger/stream-receiver` 0.3.3-alpha.4 (Rafiki's) answer a packet whose condition they
 * cannot fulfil with F05 carrying their STREAM reply (amount received, asset details), where older
 * ones answer F99; Pay 0.4.0-alpha.9 treats F05 as final and would end the quote. Our unfulfillable
 * packets carry a random condition, so an F05 with data is exactly the answer a probe expects: it
 * is handed to Pay as F99 with the message, `triggeredBy` and STREAM data unchanged (Pay reads the
 * amount and frames from that data). An F05 without data (no receiver reply) stays F05. Pure.
 */
export const probeReply = (reply: Uint8Array): Uint8Array => {
  if (reply[0] !== PacketType.Reject) return reply
  const reject = decodeReject(reply)
  if (isDecodeFailure(reject) || reject.code !== "F05" || reject.data.length === 0) return reply
  return encodeReject({ ...reject, code: "F99" })
}

/**
 * A plugin that remembers, per phase, the reject that ended it (what a failure reports):
 *
 * - quote and send: the first reject whose code makes Pay's `FailureController` end the payment;
 * - setup: the last such reject of a packet to the receiver's own address. Pay's asset probe also
 *   sends one packet to a made-up neighbour of that address and ignores its answer (usually F02), so
 *   that answer never names a failure.
 *
 * With `unfulfillable`, replies pass through `probeReply` first.
 */
const observe = (plugin: IlpPlugin, unfulfillable: boolean): Session => {
  let phase: Phase = "setup"
  let destination = ""
  let ended: RejectSummary | undefined
  const record = (prepare: Uint8Array, reply: Uint8Array) => {
    if (reply[0] !== PacketType.Reject) return
    const reject = decodeReject(reply)
    if (isDecodeFailure(reject) || !endsPayment(reject.code)) return
    const summary = { code: reject.code, message: reject.message, triggeredBy: reject.triggeredBy }
    if (phase !== "setup") {
      ended ??= summary
      return
    }
    const sent = decodePrepare(prepare)
    if (!isDecodeFailure(sent) && sent.destination === destination) ended = summary
  }
  return {
    finalReject: () => ended,
    begin: (next, destinationAddress) => {
      phase = next
      destination = destinationAddress
      ended = undefined
    },
    plugin: {
      connect: () => plugin.connect(),
      disconnect: () => plugin.disconnect(),
      isConnected: () => plugin.isConnected(),
      registerDataHandler: (handler) => plugin.registerDataHandler(handler),
      deregisterDataHandler: () => plugin.deregisterDataHandler(),
      sendData: async (data) => {
        const answer = await plugin.sendData(data)
        const rewritten = unfulfillable ? probeReply(answer) : answer
        const reply = rewritten === answer ? answer : Buffer.from(rewritten)
        record(data, reply)
        return reply
      }
    }
  }
}

/** A connected plugin for the scope's lifetime. */
export const session = (plugins: PluginsShape, options: PluginOptions) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const observed = observe(plugins.makeIlpPlugin(options), options.unfulfillable)
      await observed.plugin.connect()
      return observed
    }),
    (observed) => Effect.promise(() => observed.plugin.disconnect())
  )

const failed = (session: Session, error: unknown) =>
  new PayFailed({
    error: payModule !== undefined && payModule.isPaymentError(error) ? error : "UnexpectedError",
    finalReject: session.finalReject()
  })

/**
 * Runs a Pay call for at most `timeoutMs`. Interrupted (timeout, shutdown), it disconnects the
 * plugin and waits (at most `drainMsMax`) for Pay to stop: Pay then accounts for its packets in
 * flight (progress handlers run) before anything it uses is closed.
 */
const bounded = <A>(session: Session, timeoutMs: number, run: () => Promise<A>): Effect.Effect<A, PayFailed> =>
  Effect.suspend(() => {
    const running = Promise.resolve().then(run)
    const stop = Effect.promise(async () => {
      await session.plugin.disconnect()
      await running.catch(() => undefined)
    })
    return Effect.tryPromise({ try: () => running, catch: (error) => failed(session, error) }).pipe(
      Effect.onInterrupt(() => Effect.asVoid(Effect.timeoutOption(stop, drainMsMax))),
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () => Effect.fail(new PayFailed({ error: "Timeout", finalReject: session.finalReject() }))
      })
    )
  })

/** Pay's STREAM setup (asset probe) towards `destination`. */
export const setup = (session: Session, destination: Destination, timeoutMs: number) =>
  bounded(session, timeoutMs, async () => {
    const { setupPayment } = await loadPay()
    session.begin("setup", destination.destinationAddress)
    return setupPayment({
      plugin: session.plugin,
      destinationAddress: destination.destinationAddress,
      sharedSecret: Buffer.from(destination.sharedSecret)
    })
  })

export type Target =
  | { readonly kind: "send"; readonly amount: bigint }
  | { readonly kind: "deliver"; readonly amount: bigint }

/**
 * Pay's quote: rate probes (unfulfillable when the session's plugin is) for `target`, with the
 * minimum rate `rate * (1 - slippage)` (undefined `rate`: same asset code, Pay uses 1).
 */
export const quote = (
  session: Session,
  resolved: ResolvedPayment,
  options: {
    readonly target: Target
    readonly sourceAsset: Asset
    readonly rate: Rational | undefined
    readonly slippage: number
    readonly timeoutMs: number
  }
) =>
  bounded(session, options.timeoutMs, async () => {
    const { startQuote } = await loadPay()
    session.begin("quote", resolved.destinationAddress)
    return startQuote({
      plugin: session.plugin,
      destination: resolved,
      sourceAsset: options.sourceAsset,
      ...(options.target.kind === "send" ?
        { amountToSend: options.target.amount } :
        { amountToDeliver: options.target.amount }),
      ...(options.rate === undefined ? {} : {
        prices: {
          [options.sourceAsset.code]: Number(options.rate.num) / Number(options.rate.den),
          [resolved.destinationAsset.code]: 1
        }
      }),
      slippage: options.slippage
    })
  })

/** The stored parts of a quote Pay sends with. */
export interface SendQuote {
  readonly paymentType: "FixedSend" | "FixedDelivery"
  readonly maxSourceAmount: bigint
  readonly minDeliveryAmount: bigint
  readonly maxPacketAmount: bigint
  readonly minExchangeRate: Rational
  readonly lowEstimatedExchangeRate: Rational
  readonly highEstimatedExchangeRate: Rational
}

export const toRational = (ratio: { readonly a: { readonly value: bigint }; readonly b: { readonly value: bigint } }): Rational => ({
  num: ratio.a.value,
  den: ratio.b.value
})

/** Stored rates are valid by construction: anything else is a defect (a throw). */
const positiveInt = ({ Int }: PayModule, n: bigint): PositiveInt => {
  const value = Int.from(n)
  if (value === undefined || !value.isPositive()) throw new RangeError(`expected a positive integer, got ${n}`)
  return value
}

const toRatio = (pay: PayModule, rational: Rational): Ratio => {
  const num = pay.Int.from(rational.num)
  if (num === undefined) throw new RangeError(`invalid rate numerator ${rational.num}`)
  return pay.Ratio.of(num, positiveInt(pay, rational.den))
}

const toPositiveRatio = (pay: PayModule, rational: Rational): PositiveRatio =>
  pay.Ratio.of(positiveInt(pay, rational.num), positiveInt(pay, rational.den))

/** Pay's quote object from stored values. Pure (throws on invalid stored rates: a defect). */
export const toPayQuote = (pay: PayModule, quote: SendQuote): PayQuote => ({
  paymentType: quote.paymentType === "FixedSend" ? pay.PaymentType.FixedSend : pay.PaymentType.FixedDelivery,
  maxSourceAmount: quote.maxSourceAmount,
  minDeliveryAmount: quote.minDeliveryAmount,
  maxPacketAmount: quote.maxPacketAmount,
  minExchangeRate: toRatio(pay, quote.minExchangeRate),
  lowEstimatedExchangeRate: toRatio(pay, quote.lowEstimatedExchangeRate),
  highEstimatedExchangeRate: toPositiveRatio(pay, quote.highEstimatedExchangeRate)
})

/**
 * One Pay payment. Answers its progress, and the failure that ended it, if any (Pay reports partial
 * progress with its error, so a failure is a value here, not the error channel).
 */
export const send = (
  session: Session,
  resolved: ResolvedPayment,
  quote: SendQuote,
  options: { readonly onProgress: (progress: PaymentProgress) => void; readonly timeoutMs: number }
): Effect.Effect<{ readonly progress: PaymentProgress | undefined; readonly failure: PayFailed | undefined }> =>
  bounded(session, options.timeoutMs, async () => {
    const payLibrary = await loadPay()
    session.begin("send", resolved.destinationAddress)
    return payLibrary.pay({
      plugin: session.plugin,
      destination: resolved,
      quote: toPayQuote(payLibrary, quote),
      progressHandler: options.onProgress
    })
  }).pipe(
      Effect.map((progress) => ({
        progress,
        failure: progress.error === undefined ? undefined : new PayFailed({ error: progress.error, finalReject: session.finalReject() })
      })),
      Effect.catchTag("PayFailed", (failure) => Effect.succeed({ progress: undefined, failure }))
    )
