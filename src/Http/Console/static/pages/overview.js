// Overview: the node, its dependencies' health, packets per second by outcome, liquidity per asset.
import { useState } from "preact/hooks"
import { formatIn } from "../amounts.js"
import { packetRates, packetTotals, parseMetrics } from "../metrics.js"
import { html, LoadError, Table, usePoll } from "../ui.js"

/** Scrape interval of the chart and how many points it keeps: 60 × 5 s = the last 5 minutes. */
const scrapeMs = 5_000
const pointsMax = 60

// Kept while the tab lives, so leaving the page and coming back keeps the chart's history.
const history = { last: undefined, points: [] }

/** Stacked bars, one per scrape, newest at the right: fulfilled at the bottom, rejected on top. */
const Chart = ({ points }) => {
  const width = 600
  const height = 160
  const slot = width / pointsMax
  const peak = Math.max(0, ...points.map((point) => point.fulfilled + point.rejected))
  // At least 1 packet/s full height, so a trickle does not look like a flood.
  const scale = (value) => (value / Math.max(peak, 1)) * (height - 8)
  const latest = points[points.length - 1]
  const summary = latest === undefined ?
    "no samples yet (one every few seconds)" :
    `now ${latest.fulfilled.toFixed(1)} fulfilled/s and ${latest.rejected.toFixed(1)} rejected/s; peak ${peak.toFixed(1)}/s`
  return html`
    <figure class="chart">
      <svg viewBox=${`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label=${`Packets per second: ${summary}`}>
        <line x1="0" y1=${height - 0.5} x2=${width} y2=${height - 0.5} class="axis" />
        ${points.map((point, i) => {
          const x = width - (points.length - i) * slot + 1
          const fulfilled = scale(point.fulfilled)
          const rejected = scale(point.rejected)
          return html`
            <rect x=${x} width=${slot - 2} y=${height - fulfilled} height=${fulfilled} class="series-fulfilled" />
            <rect x=${x} width=${slot - 2} y=${height - fulfilled - rejected} height=${rejected} class="series-rejected" />`
        })}
      </svg>
      <figcaption>
        <span class="key key-fulfilled">fulfilled/s</span> <span class="key key-rejected">rejected/s</span>
        <span class="muted"> · last ${Math.round((pointsMax * scrapeMs) / 60_000)} min, every ${scrapeMs / 1000} s · ${summary}</span>
      </figcaption>
    </figure>`
}

const Packets = ({ app }) => {
  const [points, setPoints] = useState(history.points)
  const metrics = usePoll(async () => {
    const totals = packetTotals(parseMetrics(await app.api.get("/metrics")))
    const sample = { atMs: Date.now(), byOutcome: totals.byOutcome }
    if (history.last !== undefined) {
      history.points = [...history.points, packetRates(history.last, sample)].slice(-pointsMax)
      setPoints(history.points)
    }
    history.last = sample
    return totals
  }, scrapeMs)
  const outcomes = Object.entries(metrics.data?.byOutcome ?? {}).sort(([a], [b]) => a.localeCompare(b))
  return html`
    <section aria-labelledby="packets-title" class="card wide">
      <h2 id="packets-title">Packets</h2>
      <${LoadError} error=${metrics.error} />
      <${Chart} points=${points} />
      <${Table} label="Packets by outcome since the node started" head=${["Outcome", "Packets since the node started"]} keep=${true}
        empty="no packets yet"
        rows=${outcomes.map(([outcome, count]) => html`<tr><td>${outcome}</td><td class="num">${count}</td></tr>`)} />
    </section>`
}

const Health = ({ app }) => {
  const health = usePoll(() => app.api.get("/healthz"))
  // A 503 still carries the report: which dependency does not answer.
  const data = health.error?.data?.checks !== undefined ? health.error.data : health.data
  const checks = Object.entries(data?.checks ?? {})
  return html`
    <section aria-labelledby="health-title" class="card">
      <h2 id="health-title">Health</h2>
      ${health.error && data === undefined ? html`<p class="error" role="status">unreachable: ${health.error.message}</p>` : null}
      ${data ? html`<p>Node: <span class=${`badge badge-${data.status}`} data-testid="health">${data.status}</span>${
        data.message ? html` <small class="error">${data.message}</small>` : null
      }</p>` : null}
      ${checks.length > 0 ?
        html`<ul class="plain">${checks.map(([name, status]) => html`
          <li>${name}: <span class=${`badge badge-${status}`}>${status}</span></li>`)}</ul>` :
        data ? html`<p class="muted">This node reports no per-dependency health.</p>` : null}
    </section>`
}

const NodeCard = ({ node }) => html`
  <section aria-labelledby="node-title" class="card">
    <h2 id="node-title">Node</h2>
    ${node === undefined ? html`<p class="muted">loading…</p>` : html`
      <dl class="facts">
        <dt>ILP address</dt><dd><code data-testid="node-address">${node.ilpAddress}</code></dd>
        <dt>Profile</dt><dd>${node.profile}</dd>
        <dt>Ledger</dt><dd>${node.ledger}</dd>
        <dt>Receipt totals</dt><dd>${node.receiptTotals}</dd>
      </dl>`}
  </section>`

const Liquidity = ({ app }) => {
  const balances = usePoll(() => app.api.get("/balances"))
  const assets = balances.data?.assets ?? []
  return html`
    <section aria-labelledby="liquidity-title" class="card wide">
      <h2 id="liquidity-title">Liquidity per asset</h2>
      <${LoadError} error=${balances.error} />
      <${Table} label="Liquidity per asset" head=${["Asset", "Available liquidity", "Pending out", "Settlement account"]}
        rows=${assets.map((row) => html`
          <tr data-asset=${row.asset.code}>
            <td>${row.asset.code} <small class="muted">scale ${row.asset.scale}</small></td>
            <td class="num">${formatIn(row.liquidity.available, row.asset)}</td>
            <td class="num">${formatIn(row.liquidity.debitsPending, row.asset)}</td>
            <td class="num">${formatIn(row.settlement.available, row.asset)}</td>
          </tr>`)} />
    </section>`
}

export const Overview = ({ app }) => html`
    <div class="grid">
      <${NodeCard} node=${app.node} />
      <${Health} app=${app} />
      <${Packets} app=${app} />
      <${Liquidity} app=${app} />
    </div>`
