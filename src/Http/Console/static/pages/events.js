// Events (payments created, completed, failed; liquidity low) and webhook deliveries, where the
// node's API lists them; replay a delivery.
import { useState } from "preact/hooks"
import { Badge, html, LoadError, Table, useConfirm, usePoll } from "../ui.js"

const pageSize = 100

const time = (value) => (value === undefined || value === null ? "—" : new Date(value).toLocaleString())

const EventList = ({ app, confirm }) => {
  const events = usePoll(() => app.api.get(`/events?limit=${pageSize}`))
  const [message, setMessage] = useState(undefined)
  const canReplay = app.has("POST", "/events/{id}/replay")
  const replay = async (event) => {
    setMessage(undefined)
    if (!(await confirm(`Deliver event ${event.id} to the webhook again?`, "Replay"))) return
    try {
      await app.api.post(`/events/${encodeURIComponent(event.id)}/replay`)
      setMessage({ ok: true, text: `Event ${event.id} queued for delivery again.` })
      events.refresh()
    } catch (error) {
      setMessage({ ok: false, text: `${event.id}: ${error.message}` })
    }
  }
  return html`
    <${LoadError} error=${events.error} />
    ${message ? html`<p class=${message.ok ? "ok" : "error"} role="status">${message.text}</p>` : null}
    <${Table} label="Events" head=${["Time", "Type", "Resource", "Delivery", ""]}
      empty=${events.loading ? "loading…" : "no events"}
      rows=${(events.data?.events ?? events.data ?? []).map((event) => html`
        <tr data-event=${event.id}>
          <td>${time(event.createdAt)}</td>
          <td><code>${event.type}</code></td>
          <td><code>${event.resourceId ?? event.data?.id ?? "—"}</code></td>
          <td>${event.deliveryState ?? event.delivery?.state ? html`<${Badge} state=${event.deliveryState ?? event.delivery.state} />` : "—"}
            ${event.attempts === undefined ? null : html`<small class="muted"> ${event.attempts} attempt(s)</small>`}</td>
          <td class="row-actions">${canReplay ? html`<button type="button" class="secondary" onClick=${() => replay(event)}>Replay</button>` : null}</td>
        </tr>`)} />`
}

const Deliveries = ({ app }) => {
  const deliveries = usePoll(() => app.api.get(`/webhook-deliveries?limit=${pageSize}`))
  return html`
    <${LoadError} error=${deliveries.error} />
    <${Table} label="Webhook deliveries" head=${["Time", "Event", "Status", "Attempts", "Next attempt"]}
      empty=${deliveries.loading ? "loading…" : "no deliveries"}
      rows=${(deliveries.data ?? []).map((delivery) => html`
        <tr>
          <td>${time(delivery.createdAt ?? delivery.lastAttemptAt)}</td>
          <td><code>${delivery.eventId}</code></td>
          <td><${Badge} state=${delivery.state ?? delivery.status ?? "unknown"} /></td>
          <td class="num">${delivery.attempts ?? "—"}</td>
          <td>${time(delivery.nextAttemptAt)}</td>
        </tr>`)} />`
}

export const Events = ({ app }) => {
  const [dialog, confirm] = useConfirm()
  const hasEvents = app.has("GET", "/events")
  const hasDeliveries = app.has("GET", "/webhook-deliveries")
  if (!app.operationsKnown) return html`<p class="muted">loading…</p>`
  return html`
    ${dialog}
    <section aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      ${hasEvents ? html`<${EventList} app=${app} confirm=${confirm} />` :
        html`<p class="notice">This node's API has no <code>GET /events</code> yet: events and webhooks are not available on this node.</p>`}
    </section>
    <section aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Webhook deliveries</h2>
      ${hasDeliveries ? html`<${Deliveries} app=${app} />` :
        html`<p class="notice">This node's API has no <code>GET /webhook-deliveries</code> yet.</p>`}
    </section>`
}
