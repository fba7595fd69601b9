/**
 * Events and their webhook deliveries (`/events`, `/webhook-deliveries`, `/events/:id/replay`).
 * Events are written by the payments store with the change that caused them (`Payments/Store.ts`)
 * and delivered by `Events/Webhooks.ts`; listings are newest first, keyset-paged by `seq`.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { type EventRecord, eventTypes, PaymentsStore } from "../../Payments/Store.ts"
import type { AdminApi } from "./Api.ts"
import { AdminAuth, doc, idParam, NotFound, pageSizeDefault } from "./Common.ts"

const DeliveryState = Schema.Literals(["pending", "delivered", "failed"])

export const EventJson = Schema.Struct({
  id: Schema.String.annotate({ description: "Idempotency id: receivers dedupe webhooks on it" }),
  seq: Schema.Number.annotate({ description: "Insertion order; pass as `before` for the next (older) page" }),
  type: Schema.Literals(eventTypes),
  resourceId: Schema.String.annotate({ description: "The payment id, peer id, or asset (CODE/scale) the event is about" }),
  createdAt: Schema.Number.annotate({ description: "Epoch milliseconds" }),
  data: Schema.Unknown.annotate({ description: "The resource as of the change (amounts as decimal strings)" }),
  deliveryState: DeliveryState,
  attempts: Schema.Number,
  nextAttemptAt: Schema.Number,
  lastAttemptAt: Schema.NullOr(Schema.Number),
  lastError: Schema.NullOr(Schema.String),
  deliveredAt: Schema.NullOr(Schema.Number)
})

export const DeliveryJson = Schema.Struct({
  eventId: Schema.String,
  type: Schema.Literals(eventTypes),
  state: DeliveryState,
  attempts: Schema.Number,
  createdAt: Schema.Number,
  lastAttemptAt: Schema.NullOr(Schema.Number),
  nextAttemptAt: Schema.NullOr(Schema.Number).annotate({ description: "null unless pending" }),
  lastError: Schema.NullOr(Schema.String),
  deliveredAt: Schema.NullOr(Schema.Number)
})

const listQuery = {
  limit: Schema.optionalKey(Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 500 }))),
  before: Schema.optionalKey(Schema.NumberFromString.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
  state: Schema.optionalKey(DeliveryState)
}

export const eventJson = (event: EventRecord): typeof EventJson.Type => ({
  id: event.id,
  seq: event.seq,
  type: event.type,
  resourceId: event.resourceId,
  createdAt: event.createdAt,
  data: JSON.parse(event.data),
  deliveryState: event.state,
  attempts: event.attempts,
  nextAttemptAt: event.nextAttemptAt,
  lastAttemptAt: event.lastAttemptAt,
  lastError: event.lastError,
  deliveredAt: event.deliveredAt
})

const deliveryJson = (event: EventRecord): typeof DeliveryJson.Type => ({
  eventId: event.id,
  type: event.type,
  state: event.state,
  attempts: event.attempts,
  createdAt: event.createdAt,
  lastAttemptAt: event.lastAttemptAt,
  nextAttemptAt: event.state === "pending" ? event.nextAttemptAt : null,
  lastError: event.lastError,
  deliveredAt: event.deliveredAt
})

const eventIdParam = { id: idParam.id }

export class EventsGroup extends HttpApiGroup.make("events").add(
  HttpApiEndpoint.get("list", "/events", { query: listQuery, success: Schema.Array(EventJson) }).annotateMerge(doc(
    "List events",
    "Events newest first (incoming payment created/completed/expired, outgoing payment created/completed/failed, " +
      "peer and asset liquidity below threshold), each with its webhook delivery state. `limit` 1..500 (default 100); " +
      "`before` a `seq` for the next page; `state` pending, delivered or failed."
  )),
  HttpApiEndpoint.get("get", "/events/:id", { params: eventIdParam, success: EventJson, error: NotFound }).annotateMerge(doc(
    "Read an event",
    "One event with its payload and delivery state. 404 when unknown."
  )),
  HttpApiEndpoint.post("replay", "/events/:id/replay", { params: eventIdParam, success: EventJson, error: NotFound })
    .annotateMerge(doc(
      "Replay an event",
      "Queues the event for webhook delivery again, now, with its attempts counted from zero (a delivered or " +
        "failed event too). Receivers see the same id again and dedupe on it. 404 when unknown."
    )),
  HttpApiEndpoint.get("deliveries", "/webhook-deliveries", { query: listQuery, success: Schema.Array(DeliveryJson) })
    .annotateMerge(doc(
      "List webhook deliveries",
      "The delivery state of each event, newest first: attempts, last attempt and error, next attempt (pending), " +
        "delivery time. Same paging and `state` filter as `GET /events`; `state=pending` is the webhook backlog."
    ))
).middleware(AdminAuth) {}

export const eventsHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "events", (handlers) =>
    Effect.gen(function*() {
      const events = (yield* PaymentsStore).events
      const list = (query: { readonly limit?: number; readonly before?: number; readonly state?: typeof DeliveryState.Type }) =>
        events.list({ limit: query.limit ?? pageSizeDefault, before: query.before ?? 0, state: query.state })
      return handlers
        .handle("list", ({ query }) => Effect.map(list(query), (rows) => rows.map(eventJson)))
        .handle("deliveries", ({ query }) => Effect.map(list(query), (rows) => rows.map(deliveryJson)))
        .handle("get", ({ params }) =>
          Effect.flatMap(events.byId(params.id), (event) =>
            event === undefined ? Effect.fail(new NotFound({ message: "event: not found" })) : Effect.succeed(eventJson(event))))
        .handle("replay", ({ params }) =>
          Effect.gen(function*() {
            const event = yield* events.replay(params.id, yield* Clock.currentTimeMillis)
            if (event === undefined) return yield* new NotFound({ message: "event: not found" })
            yield* Effect.logInfo(`event ${event.id} (${event.type}) queued for delivery again by the operator`)
            return eventJson(event)
          }))
    }))
