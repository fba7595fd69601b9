// Prometheus text (GET /metrics) → samples, and packet rates between two scrapes. Pure.

/**
 * @typedef {{ name: string, labels: Record<string, string>, value: number, text: string }} Sample
 * `text` is the value as written, so integer counters above 2^53 (amounts) stay exact.
 */

const linePattern = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/
const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/**
 * Every sample in an exposition text; comments and malformed lines are skipped.
 * @param {string} text
 * @returns {Sample[]}
 */
export const parseMetrics = (text) => {
  /** @type {Sample[]} */
  const samples = []
  for (const line of String(text).split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = linePattern.exec(line.trim())
    if (match === null) continue
    /** @type {Record<string, string>} */
    const labels = {}
    for (const label of (match[2] ?? "").matchAll(labelPattern)) {
      labels[label[1]] = label[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c))
    }
    const value = Number(match[3])
    if (!Number.isNaN(value)) samples.push({ name: match[1], labels, value, text: match[3] })
  }
  return samples
}

/**
 * Packet counters summed by outcome ("fulfill" or a reject code), over every source and peer; and by
 * peer and outcome where the series carry a `peer` label.
 * @param {Sample[]} samples
 */
export const packetTotals = (samples) => {
  /** @type {Record<string, number>} */
  const byOutcome = {}
  /** @type {Record<string, Record<string, number>>} */
  const byPeer = {}
  for (const sample of samples) {
    if (sample.name !== "ilp_packets_total") continue
    const outcome = sample.labels.outcome ?? "other"
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + sample.value
    const peer = sample.labels.peer
    if (peer !== undefined) {
      const counts = (byPeer[peer] ??= {})
      counts[outcome] = (counts[outcome] ?? 0) + sample.value
    }
  }
  return { byOutcome, byPeer }
}

/**
 * Fulfilled amounts received from and sent to each peer (`ilp_peer_amount_in_total` and
 * `_out_total`), as exact integer strings in the peer's asset's smallest unit.
 * @param {Sample[]} samples
 * @returns {Record<string, { in?: string, out?: string }>}
 */
export const peerAmounts = (samples) => {
  /** @type {Record<string, { in?: string, out?: string }>} */
  const byPeer = {}
  for (const sample of samples) {
    const direction = sample.name === "ilp_peer_amount_in_total" ? "in" : sample.name === "ilp_peer_amount_out_total" ? "out" : undefined
    const peer = sample.labels.peer
    if (direction === undefined || peer === undefined || !/^[0-9]+$/.test(sample.text)) continue
    const entry = (byPeer[peer] ??= {})
    entry[direction] = (BigInt(entry[direction] ?? "0") + BigInt(sample.text)).toString()
  }
  return byPeer
}

/**
 * Packets per second between two scrapes, fulfilled and rejected; a counter that went down (the
 * node restarted) counts from zero.
 * @param {{ atMs: number, byOutcome: Record<string, number> }} before
 * @param {{ atMs: number, byOutcome: Record<string, number> }} after
 */
export const packetRates = (before, after) => {
  const seconds = Math.max((after.atMs - before.atMs) / 1000, 0.001)
  let fulfilled = 0
  let rejected = 0
  for (const [outcome, count] of Object.entries(after.byOutcome)) {
    const previous = before.byOutcome[outcome] ?? 0
    const delta = count >= previous ? count - previous : count
    if (outcome === "fulfill") fulfilled += delta
    else rejected += delta
  }
  return { atMs: after.atMs, fulfilled: fulfilled / seconds, rejected: rejected / seconds }
}
