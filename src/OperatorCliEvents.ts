/**
 * Operator commands for events and webhooks: `events list` and `events replay ID`. Parsing and
 * rendering only, both pure; `OperatorCli.ts` sends the request. `--json` prints the API's JSON.
 */
import { parseArgs } from "node:util"

export class EventsUsageError extends Error {
  override readonly name = "EventsUsageError"
}

export const eventsUsage = `events: what happened (payments, liquidity) and its webhook delivery

  events list [--state pending|delivered|failed] [--limit N] [--before SEQ] [--json]
                                           newest first; --before pages on (the last seq shown)
  events replay ID [--json]                deliver the event to the webhook URL(s) again, now

Event types: incoming_payment.created, .completed, .expired; outgoing_payment.created (funded),
.completed, .failed; liquidity.peer_low, liquidity.asset_low (below liquidityThresholds).
--state pending lists the webhook backlog; failed ones have used every attempt and wait for a replay.
Receivers get the same id again on a replay (and on a retry) and dedupe on it.
`

export interface EventsRequest {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly render: (body: any) => string
}

const time = (ms: number | null | undefined): string => (ms === null || ms === undefined ? "-" : new Date(ms).toISOString())

/** One line per event. Pure. */
export const eventLine = (event: any): string => {
  const delivery = event.deliveryState === "pending" && event.attempts > 0 ?
    `pending (attempt ${event.attempts + 1} at ${time(event.nextAttemptAt)})` :
    event.deliveryState
  const error = event.lastError === null || event.lastError === undefined || event.deliveryState === "delivered" ?
    "" :
    `  last error: ${event.lastError}`
  return `${event.seq}  ${time(event.createdAt)}  ${event.type}  ${event.resourceId}  ${delivery}  ${event.id}${error}`
}

export const eventsListText = (events: ReadonlyArray<any>): string =>
  events.length === 0 ? "no events" : ["seq  time  type  resource  delivery  id", ...events.map(eventLine)].join("\n")

/** The API request of an `events` command. Throws `EventsUsageError` for bad arguments. */
export const eventsRequest = (args: ReadonlyArray<string>): EventsRequest => {
  const plain = args.filter((arg) => arg !== "--json")
  const [action, ...rest] = plain
  switch (action) {
    case undefined:
    case "list": {
      let values: { state?: string | undefined; limit?: string | undefined; before?: string | undefined }
      try {
        values = parseArgs({
          args: rest,
          options: { state: { type: "string" }, limit: { type: "string" }, before: { type: "string" } },
          strict: true,
          allowPositionals: false
        }).values
      } catch (error) {
        throw new EventsUsageError((error as Error).message)
      }
      const query = new URLSearchParams()
      if (values.state !== undefined) {
        if (!["pending", "delivered", "failed"].includes(values.state)) {
          throw new EventsUsageError("--state: pending, delivered or failed")
        }
        query.set("state", values.state)
      }
      if (values.limit !== undefined) {
        if (!/^[0-9]{1,3}$/.test(values.limit) || Number(values.limit) < 1 || Number(values.limit) > 500) {
          throw new EventsUsageError("--limit: an integer from 1 to 500")
        }
        query.set("limit", values.limit)
      }
      if (values.before !== undefined) {
        if (!/^[0-9]{1,15}$/.test(values.before)) throw new EventsUsageError("--before: a seq (a non-negative integer)")
        query.set("before", values.before)
      }
      const text = query.toString()
      return { method: "GET", path: `/events${text === "" ? "" : `?${text}`}`, render: eventsListText }
    }
    case "replay":
      if (rest.length !== 1 || !/^[A-Za-z0-9-]{1,64}$/.test(rest[0]!)) throw new EventsUsageError("events replay takes one event id")
      return {
        method: "POST",
        path: `/events/${rest[0]}/replay`,
        render: (event) => `event ${event.id} (${event.type}) queued for delivery again`
      }
    default:
      throw new EventsUsageError(`events: unknown action "${action}" (list or replay)`)
  }
}
