/**
 * Where quotes and outgoing payments send to (SPEC §8), resolved into STREAM credentials:
 *
 * - `incomingPayment`: an incoming payment on this node. Fresh credentials from `StreamCredentials`
 *   each time (a new STREAM connection), and what it may still receive (`incomingAmount` minus its
 *   received total) bounds delivery.
 * - `stream`: the STREAM credentials (ILP address, shared secret) of a receiver on another node,
 *   e.g. from its Open Payments API.
 * - `spsp`: an SPSP URL (RFC 9), queried here with `Accept: application/spsp4+json` (Pay itself
 *   refuses URLs with a port). Each resolution is a new query, so a new connection.
 * - `openPayments`: an Open Payments incoming payment URL, or a wallet address URL (an incoming
 *   payment is created there), resolved by `OpenPayments/Client.ts` as a client whose identity is
 *   the sending wallet address (`clientWalletAddressUrl`, filled in by `Quotes`).
 *
 * Failures say whether retrying can help: `ReceiverGone` (unknown, completed or expired incoming
 * payment; SPSP 404/410) and `InvalidReceiver` (malformed input or answer) are final;
 * `ReceiverUnavailable` (SPSP timeout, network error, other non-2xx) is temporary. Shared secrets
 * never appear in errors or logs.
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { isValidAddress } from "../Connector/Packet.ts"
import type { Asset } from "../Config.ts"
import { OpenPaymentsClient, type OpenPaymentsClientShape } from "../OpenPayments/Client.ts"
import { StreamCredentials, type StreamCredentialsShape } from "../Stream/Credentials.ts"
import { ReceiptTotals, type ReceiptTotalsShape } from "../Stream/ReceiptTotals.ts"
import { type IncomingPayment, IncomingPayments, type IncomingPaymentsShape } from "./IncomingPayments.ts"
import { isHttpUrl, readBounded } from "../Http/OutboundFetch.ts"

export type Receiver =
  | { readonly kind: "incomingPayment"; readonly incomingPaymentId: string }
  | { readonly kind: "stream"; readonly ilpAddress: string; readonly sharedSecret: Uint8Array }
  | { readonly kind: "spsp"; readonly url: string }
  | { readonly kind: "openPayments"; readonly url: string; readonly clientWalletAddressUrl?: string | undefined }

/** A receiver as shown to operators: never the shared secret. */
export type ReceiverRef =
  | { readonly kind: "incomingPayment"; readonly incomingPaymentId: string }
  | { readonly kind: "stream"; readonly ilpAddress: string }
  | { readonly kind: "spsp"; readonly url: string }
  | { readonly kind: "openPayments"; readonly url: string }

export interface Destination {
  readonly destinationAddress: string
  readonly sharedSecret: Uint8Array
  /** For an Open Payments receiver: the incoming payment paid (created for a wallet address URL). */
  readonly incomingPaymentUrl?: string
  /** For an incoming payment of ours: its asset, expiry and what it may still receive. */
  readonly local?: {
    readonly asset: Asset
    readonly expiresAt: number | undefined
    /** `incomingAmount` minus the received total; undefined when the payment has no cap. */
    readonly receivable: bigint | undefined
  }
}

export class ReceiverGone extends Data.TaggedError("ReceiverGone")<{ readonly reason: string }> {}
export class ReceiverUnavailable extends Data.TaggedError("ReceiverUnavailable")<{ readonly reason: string }> {}
export class InvalidReceiver extends Data.TaggedError("InvalidReceiver")<{ readonly reason: string }> {}

export type ReceiverError = ReceiverGone | ReceiverUnavailable | InvalidReceiver

export const spspContentType = "application/spsp4+json"
/** STREAM shared secrets are 32 bytes. */
export const sharedSecretBytes = 32

export const refOf = (receiver: Receiver): ReceiverRef =>
  receiver.kind === "stream" ?
    { kind: "stream", ilpAddress: receiver.ilpAddress } :
    receiver.kind === "openPayments" ?
    { kind: "openPayments", url: receiver.url } :
    receiver

/** Why a receiver given by a client is malformed, or undefined. Pure. */
export const receiverProblem = (receiver: Receiver): string | undefined => {
  switch (receiver.kind) {
    case "incomingPayment":
      return receiver.incomingPaymentId === "" ? "incomingPaymentId: must not be empty" : undefined
    case "stream":
      if (!isValidAddress(receiver.ilpAddress)) return "ilpAddress: not an ILP address"
      return receiver.sharedSecret.length === sharedSecretBytes ? undefined : "sharedSecret: must be 32 bytes"
    case "spsp":
      return isHttpUrl(receiver.url) ? undefined : "spspUrl: must be an http(s) URL"
    case "openPayments":
      return isHttpUrl(receiver.url) ? undefined : "openPaymentsUrl: must be an http(s) URL"
  }
}

// ---------------------------------------------------------------------------------------------
// SPSP
// ---------------------------------------------------------------------------------------------

/** The STREAM credentials in an SPSP answer body, or what is wrong with it. Pure. */
export const parseSpspAnswer = (body: string): { readonly ilpAddress: string; readonly sharedSecret: Uint8Array } | string => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return "the SPSP answer is not JSON"
  }
  const { destination_account: address, shared_secret: secret } = (json ?? {}) as Record<string, unknown>
  if (typeof address !== "string" || !isValidAddress(address)) return "the SPSP answer has no valid destination_account"
  const sharedSecret = typeof secret === "string" ? Buffer.from(secret, "base64") : Buffer.alloc(0)
  if (sharedSecret.length !== sharedSecretBytes) return "the SPSP answer has no 32-byte shared_secret"
  return { ilpAddress: address, sharedSecret }
}

type SpspOutcome =
  | { readonly ok: true; readonly status: number; readonly body: string | undefined }
  | { readonly ok: false; readonly reason: string }

const spspRequest = (url: string, timeoutMs: number, bodyBytesMax: number): Promise<SpspOutcome> =>
  fetch(url, { headers: { accept: spspContentType }, redirect: "error", signal: AbortSignal.timeout(timeoutMs) })
    .then(async (response): Promise<SpspOutcome> => {
      if (response.status !== 200) {
        await response.body?.cancel()
        return { ok: true, status: response.status, body: undefined }
      }
      return { ok: true, status: 200, body: await readBounded(response, bodyBytesMax) }
    })
    .catch((error: unknown): SpspOutcome => ({
      ok: false,
      reason: error instanceof Error && error.name === "TimeoutError" ? "timed out" : "network error"
    }))

/** Queries an SPSP URL for STREAM credentials, bounded by `timeoutMs` and `bodyBytesMax`. */
export const querySpsp = (url: string, limits: { readonly timeoutMs: number; readonly bodyBytesMax: number }) =>
  Effect.flatMap(
    Effect.promise(() => spspRequest(url, limits.timeoutMs, limits.bodyBytesMax)),
    (outcome): Effect.Effect<{ readonly ilpAddress: string; readonly sharedSecret: Uint8Array }, ReceiverError> => {
      if (!outcome.ok) return Effect.fail(new ReceiverUnavailable({ reason: `SPSP query ${outcome.reason}` }))
      if (outcome.status === 404 || outcome.status === 410) {
        return Effect.fail(new ReceiverGone({ reason: `SPSP answered ${outcome.status}: no such receiver` }))
      }
      if (outcome.status !== 200) return Effect.fail(new ReceiverUnavailable({ reason: `SPSP answered ${outcome.status}` }))
      if (outcome.body === undefined) return Effect.fail(new InvalidReceiver({ reason: "the SPSP answer is too large" }))
      const parsed = parseSpspAnswer(outcome.body)
      return typeof parsed === "string" ? Effect.fail(new InvalidReceiver({ reason: parsed })) : Effect.succeed(parsed)
    }
  )

// ---------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------

export interface ResolveServices {
  readonly incomingPayments: IncomingPaymentsShape
  readonly credentials: StreamCredentialsShape
  readonly totals: ReceiptTotalsShape
  readonly spsp: { readonly timeoutMs: number; readonly bodyBytesMax: number }
  readonly openPayments: OpenPaymentsClientShape
}

/** The services `resolve` needs, taken from the context, with the SPSP bounds given. */
export const resolveServices = (spsp: ResolveServices["spsp"]) =>
  Effect.gen(function*() {
    const services: ResolveServices = {
      incomingPayments: yield* IncomingPayments,
      credentials: yield* StreamCredentials,
      totals: yield* ReceiptTotals,
      spsp,
      openPayments: yield* OpenPaymentsClient
    }
    return services
  })

const openState = (payment: IncomingPayment, now: number): string | undefined => {
  if (payment.state === "completed") return "the incoming payment is completed"
  if (payment.state === "expired" || (payment.expiresAt !== undefined && payment.expiresAt <= now)) {
    return "the incoming payment has expired"
  }
  return undefined
}

const resolveIncoming = (services: ResolveServices, id: string) =>
  Effect.gen(function*() {
    const payment = yield* services.incomingPayments.get(id).pipe(
      Effect.catchTag("IncomingPaymentNotFound", () => Effect.fail(new ReceiverGone({ reason: "no such incoming payment" })))
    )
    const closed = openState(payment, yield* Clock.currentTimeMillis)
    if (closed !== undefined) return yield* new ReceiverGone({ reason: closed })
    const wallet = yield* services.incomingPayments.walletAddressOf(payment).pipe(
      Effect.catchTag("WalletAddressNotFound", () => Effect.fail(new ReceiverGone({ reason: "the wallet address is gone" })))
    )
    const received = yield* services.totals.paymentTotal(payment.id).pipe(
      Effect.catchTag("ReceiptStoreUnavailable", () =>
        Effect.fail(new ReceiverUnavailable({ reason: "receipt store unavailable" })))
    )
    const receivable = payment.incomingAmount === undefined ? undefined : payment.incomingAmount - received
    if (receivable !== undefined && receivable <= 0n) return yield* new ReceiverGone({ reason: "the incoming payment is paid" })
    const { ilpAddress, sharedSecret } = services.credentials.generate({ kind: "incoming", id: payment.id }, wallet.asset)
    return {
      destinationAddress: ilpAddress,
      sharedSecret,
      local: { asset: wallet.asset, expiresAt: payment.expiresAt, receivable }
    } satisfies Destination
  })

const resolveOpenPayments = (services: ResolveServices, url: string, client: string | undefined) =>
  client === undefined ?
    Effect.fail(new InvalidReceiver({ reason: "no client wallet address to request the grant as" })) :
    services.openPayments.resolve(url, client).pipe(
      Effect.map((resolved): Destination => ({
        destinationAddress: resolved.ilpAddress,
        sharedSecret: resolved.sharedSecret,
        incomingPaymentUrl: resolved.incomingPaymentUrl
      })),
      Effect.mapError((failure): ReceiverError =>
        failure.kind === "gone" ?
          new ReceiverGone({ reason: failure.reason }) :
          failure.kind === "unavailable" ?
          new ReceiverUnavailable({ reason: failure.reason }) :
          new InvalidReceiver({ reason: failure.reason })
      )
    )

/** STREAM credentials for `receiver`, now. */
export const resolve = (services: ResolveServices, receiver: Receiver): Effect.Effect<Destination, ReceiverError> => {
  const problem = receiverProblem(receiver)
  if (problem !== undefined) return Effect.fail(new InvalidReceiver({ reason: problem }))
  switch (receiver.kind) {
    case "incomingPayment":
      return resolveIncoming(services, receiver.incomingPaymentId)
    case "stream":
      return Effect.succeed({ destinationAddress: receiver.ilpAddress, sharedSecret: receiver.sharedSecret })
    case "spsp":
      return Effect.map(querySpsp(receiver.url, services.spsp), (answer) => ({
        destinationAddress: answer.ilpAddress,
        sharedSecret: answer.sharedSecret
      }))
    case "openPayments":
      return resolveOpenPayments(services, receiver.url, receiver.clientWalletAddressUrl)
  }
}
