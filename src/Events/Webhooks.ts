/**
 * Webhook delivery of the events outbox (the events themselves are written by the payments store in
 * the transaction of the change that caused them: see `Payments/Store.ts`).
 *
 * Each instance runs one delivery loop: every `pollIntervalMs` it takes at most `batchMax` due
 * events (the in-memory backlog bound), and delivers them with at most `concurrencyMax` at once.
 * An event is claimed with a lease in the store first (as outgoing payments are), so with several
 * instances one event is delivered by one instance at a time; a lease an instance lost (it
 * stopped, it hung) lapses and another instance delivers the event. Delivery is at least once:
 * receivers dedupe on the event id (`Webhook-Id` / `Idempotency-Key` headers, and `id` in the body).
 *
 * One attempt POSTs the JSON body to every configured URL (each bounded by `requestTimeoutMs`, the
 * answer's body is not read); the event is delivered when every URL answered 2xx. Otherwise it is
 * retried after min(backoffMsBase × 2^(attempts−1), backoffMsMax), and after `attemptsMax` attempts
 * it is marked failed: kept, listed, and replayable through the operator API.
 *
 * Signature: `Webhook-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the
 * configured secret>`. The body carries the event's `createdAt`, so a receiver can refuse stale
 * replays of a captured request.
 *
 * The same loop sweeps overdue incoming payments to `expired` (conditionally: one instance wins,
 * which writes the `incoming_payment.expired` event) and deletes delivered events older than
 * `deliveredRetentionDays` (pending and failed ones stay). `LiquidityWatch.ts` writes liquidity events.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto"
import type { WebhooksConfig } from "../Config.ts"
import { NodeConfigService } from "../Config.ts"
import { type EventRecord, PaymentsStore, type PaymentsStoreShape } from "../Payments/Store.ts"

export const signatureHeader = "webhook-signature"
export const idHeader = "webhook-id"

/** `sha256=<hex>` of `body` keyed with `secret`. Pure. */
export const sign = (secret: string, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`

/** Whether `signature` is `body`'s signature under `secret` (constant time). Pure. */
export const verify = (secret: string, body: string, signature: string): boolean => {
  const expected = Buffer.from(sign(secret, body))
  const given = Buffer.from(signature)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

/** The JSON body of an event's webhook. Pure. */
export const body = (event: EventRecord): string =>
  JSON.stringify({ id: event.id, type: event.type, createdAt: event.createdAt, data: JSON.parse(event.data) })

/** The wait before the attempt after the `attempts`-th failure. Pure. */
export const backoffMs = (config: Pick<WebhooksConfig, "backoffMsBase" | "backoffMsMax">, attempts: number): number =>
  Math.min(config.backoffMsBase * 2 ** Math.min(Math.max(attempts - 1, 0), 30), config.backoffMsMax)

/** Overdue incoming payments moved to expired per sweep. */
export const expirySweepMax = 100
/** Delivered events past their retention deleted per poll. */
export const pruneMax = 1_000
const dayMs = 24 * 60 * 60 * 1_000

export interface WebhooksShape {
  /** Delivers what is due now, once (the loop calls it every poll; tests may too). Answers how many were delivered. */
  readonly deliverDue: Effect.Effect<number>
  /** Moves overdue incoming payments to expired (writing their events). Answers how many moved. */
  readonly sweepExpired: Effect.Effect<number>
  /** Deletes delivered events older than the retention (at most `pruneMax`). Answers how many. */
  readonly prune: Effect.Effect<number>
}

export class Webhooks extends Context.Service<Webhooks, WebhooksShape>()("Events/Webhooks") {}

type AttemptResult = { readonly ok: true } | { readonly ok: false; readonly error: string }

/**
 * How a URL is named in errors (stored on the event, shown by the API, logged): its position and
 * origin only, since a webhook URL may carry a secret in its path or query. Pure.
 */
export const urlLabel = (url: string, index: number): string => {
  try {
    return `url ${index + 1} (${new URL(url).origin})`
  } catch {
    return `url ${index + 1}`
  }
}

/** POSTs `text` to `url`; 2xx is success; anything else (status, timeout, refused) an error text. */
const post = (url: string, label: string, text: string, headers: Record<string, string>, timeoutMs: number): Effect.Effect<AttemptResult> =>
  Effect.promise(async (): Promise<AttemptResult> => {
    try {
      const response = await fetch(url, {
        method: "POST",
        body: text,
        headers,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs)
      })
      await response.body?.cancel().catch(() => undefined)
      return response.status >= 200 && response.status < 300 ?
        { ok: true } :
        { ok: false, error: `${label}: HTTP ${response.status}` }
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      return { ok: false, error: `${label}: ${cause?.code ?? (error as Error).name ?? "request failed"}` }
    }
  })

export const make = (store: PaymentsStoreShape, config: WebhooksConfig, instanceId: string = randomUUID()) => {
  const events = store.events
  // A claim outlives one attempt (every URL in turn, each bounded) with a margin.
  const leaseMs = config.requestTimeoutMs * Math.max(config.urls.length, 1) + 10_000

  const deliver = (id: string) =>
    Effect.gen(function*() {
      const claimedAt = yield* Clock.currentTimeMillis
      if (!(yield* events.claim(id, instanceId, claimedAt, claimedAt + leaseMs))) return false
      const event = yield* events.byId(id)
      if (event === undefined) return false
      const text = body(event)
      const headers = {
        "content-type": "application/json",
        [signatureHeader]: sign(Redacted.value(config.secret!), text),
        [idHeader]: event.id,
        "idempotency-key": event.id,
        "user-agent": "ilp-connector-webhooks"
      }
      const results = yield* Effect.forEach(
        config.urls,
        (url, index) => post(url, urlLabel(url, index), text, headers, config.requestTimeoutMs)
      )
      const errors = results.flatMap((result) => (result.ok ? [] : [result.error]))
      const at = yield* Clock.currentTimeMillis
      const attempts = event.attempts + 1
      if (errors.length === 0) {
        yield* events.attempted(id, instanceId, { _tag: "delivered", at })
        return true
      }
      const error = errors.join("; ")
      if (attempts >= config.attemptsMax) {
        yield* events.attempted(id, instanceId, { _tag: "failed", at, error })
        yield* Effect.logWarning(`webhook: event ${id} (${event.type}) failed after ${attempts} attempts: ${error}`)
      } else {
        yield* events.attempted(id, instanceId, { _tag: "retry", at, error, nextAttemptAt: at + backoffMs(config, attempts) })
      }
      return false
    })

  const deliverDue = Effect.gen(function*() {
    if (config.urls.length === 0 || config.secret === undefined) return 0
    const now = yield* Clock.currentTimeMillis
    const due = yield* events.due(now, config.batchMax)
    const delivered = yield* Effect.forEach(due, deliver, { concurrency: config.concurrencyMax })
    return delivered.filter((ok) => ok).length
  }).pipe(Effect.withSpan("Webhooks.deliverDue"))

  const sweepExpired = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const overdue = yield* store.incomingPayments.overdue(now, expirySweepMax)
    let moved = 0
    for (const id of overdue) {
      const changed = yield* store.incomingPayments.transition(id, { from: ["pending", "processing"], to: "expired", completedAt: null })
      if (changed) moved++
    }
    return moved
  }).pipe(Effect.withSpan("Webhooks.sweepExpired"))

  const prune = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    events.prune(now - config.deliveredRetentionDays * dayMs, pruneMax))

  return { deliverDue, sweepExpired, prune }
}

/**
 * The service, with its loop running in the layer's scope (stopped with it). A failing round (the
 * store unreachable) is logged and the loop carries on at the next poll: the outbox keeps the events.
 */
export const layer = Layer.effect(
  Webhooks,
  Effect.gen(function*() {
    const store = yield* PaymentsStore
    const config = (yield* NodeConfigService).webhooks
    const service = make(store, config)
    const round = Effect.gen(function*() {
      yield* service.sweepExpired
      yield* service.deliverDue
      yield* service.prune
    }).pipe(
      Effect.catchCause((cause) => Effect.logWarning("webhook delivery round failed; retrying at the next poll", cause))
    )
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(round, Effect.sleep(config.pollIntervalMs))))
    return Webhooks.of(service)
  })
)
