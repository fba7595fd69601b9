/**
 * Node metrics in Prometheus text format (SPEC §10, issue 11), served on the admin port:
 *
 * - `ilp_packets_total{source,peer,outcome}`: packets answered, by source (a peer, or `local` for
 *   this node's own payment services, aggregated) and outcome (`fulfill` or the reject code);
 * - `ilp_peer_amount_in_total{peer}` / `ilp_peer_amount_out_total{peer}`: fulfilled amounts received
 *   from / sent to each peer, in the peer's asset's smallest unit;
 * - `ilp_packets_in_flight`: packets in the pipeline now;
 * - one histogram per latency, in seconds, with buckets fitted to what it measures:
 *   `ilp_packet_duration_seconds` (up to the 30 s hold time), `ilp_ledger_request_duration_seconds
 *   {operation}` (TigerBeetle's request bound is 2 s), `ilp_redis_command_duration_seconds{store,
 *   command}` (commands are bounded by 1 s);
 * - gauges read at scrape time (liquidity per peer and asset, dependency health) are rendered by
 *   the caller and passed to `render`.
 *
 * Cost on the packet path: per packet a Map lookup by the source's prebuilt key, a Map lookup by
 * the outcome string the reject already carries, and integer increments — no string is built per
 * packet. Per-peer counters are made once per peer.
 *
 * Bounded: outcomes are ILP codes (anything else counts as `other`), at most `peersTrackedMax`
 * peers get their own series (later ones count under `peer="_other"`), ledger operations and Redis
 * commands are the code's own names.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { SourceAccount } from "./Account.ts"

/** Bucket upper bounds, seconds. */
export const packetBucketsSeconds: ReadonlyArray<number> = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
]
export const ledgerBucketsSeconds: ReadonlyArray<number> = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2
]
export const redisBucketsSeconds: ReadonlyArray<number> = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1
]
/** Peers with their own series; beyond, `peer="_other"`. */
export const peersTrackedMax = 10_000

export class Histogram {
  readonly bucketsSeconds: ReadonlyArray<number>
  readonly counts: Array<number>
  sum = 0
  count = 0
  constructor(bucketsSeconds: ReadonlyArray<number>) {
    this.bucketsSeconds = bucketsSeconds
    this.counts = new Array<number>(bucketsSeconds.length + 1).fill(0)
  }
  observeMs(valueMs: number): void {
    const seconds = valueMs / 1000
    const buckets = this.bucketsSeconds
    let i = 0
    while (i < buckets.length && seconds > buckets[i]!) i++
    this.counts[i]!++
    this.sum += seconds
    this.count++
  }
  render(name: string, labels: string): Array<string> {
    const lines: Array<string> = []
    const prefix = labels === "" ? "" : `${labels},`
    let cumulative = 0
    for (let i = 0; i < this.bucketsSeconds.length; i++) {
      cumulative += this.counts[i]!
      lines.push(`${name}_bucket{${prefix}le="${this.bucketsSeconds[i]}"} ${cumulative}`)
    }
    lines.push(`${name}_bucket{${prefix}le="+Inf"} ${this.count}`)
    lines.push(`${name}_sum${labels === "" ? "" : `{${labels}}`} ${this.sum}`)
    lines.push(`${name}_count${labels === "" ? "" : `{${labels}}`} ${this.count}`)
    return lines
  }
}

/** One source's counters: packets by outcome, and (peers) fulfilled amounts in and out. */
interface SourceCounters {
  /** `source="peer",peer="alice"` or `source="local"`, escaped once. */
  readonly labels: string
  readonly outcomes: Map<string, number>
  amountIn: bigint
  amountOut: bigint
}

export interface MetricsShape {
  /** A packet was answered: `outcome` is `fulfill` or the reject code. */
  readonly recordPacket: (source: SourceAccount, outcome: string, durationMs: number) => void
  /** A packet was fulfilled: what came in from the source peer and went out to the next peer. */
  readonly recordFulfilled: (
    source: SourceAccount,
    amountIn: bigint,
    destinationPeerId: string | undefined,
    amountOut: bigint
  ) => void
  readonly packetStarted: () => void
  readonly packetEnded: () => void
  readonly recordLedger: (operation: string, durationMs: number) => void
  readonly recordRedis: (store: string, command: string, durationMs: number) => void
  /** The exposition text, with `gauges` (complete lines with HELP/TYPE) appended. */
  readonly render: (gauges?: ReadonlyArray<string>) => string
}

export class Metrics extends Context.Service<Metrics, MetricsShape>()("Connector/Metrics") {}

const outcomePattern = /^(fulfill|[FTR][0-9A-Z]{2})$/

/** A Prometheus label value: backslash, double quote and newline escaped. Pure. */
export const labelValue = (text: string): string =>
  text.replaceAll("\\", "\\\\").replaceAll("\"", "\\\"").replaceAll("\n", "\\n")

const histogramsOf = <K>(map: Map<K, Histogram>, key: K, buckets: ReadonlyArray<number>): Histogram => {
  let histogram = map.get(key)
  if (histogram === undefined) {
    histogram = new Histogram(buckets)
    map.set(key, histogram)
  }
  return histogram
}

export const make = (): MetricsShape => {
  const bySource = new Map<string, SourceCounters>()
  const packetLatency = new Histogram(packetBucketsSeconds)
  const ledgerLatency = new Map<string, Histogram>()
  const redisLatency = new Map<string, Histogram>()
  let inFlight = 0
  let peersTracked = 0

  const newCounters = (labels: string): SourceCounters => ({ labels, outcomes: new Map(), amountIn: 0n, amountOut: 0n })
  const local = newCounters(`source="local"`)
  const otherPeers = newCounters(`source="peer",peer="_other"`)

  const peerCounters = (peerId: string): SourceCounters => {
    const key = `peer:${peerId}` // the same key as `SourceAccount.key`
    const known = bySource.get(key)
    if (known !== undefined) return known
    if (peersTracked >= peersTrackedMax) return otherPeers
    peersTracked++
    const made = newCounters(`source="peer",peer="${labelValue(peerId)}"`)
    bySource.set(key, made)
    return made
  }
  const countersOf = (source: SourceAccount): SourceCounters =>
    source.kind === "local" ? local : (bySource.get(source.key) ?? peerCounters(source.id))

  return {
    recordPacket: (source, outcome, durationMs) => {
      const outcomes = countersOf(source).outcomes
      const key = outcomePattern.test(outcome) ? outcome : "other"
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
      packetLatency.observeMs(durationMs)
    },
    recordFulfilled: (source, amountIn, destinationPeerId, amountOut) => {
      if (source.kind === "peer") countersOf(source).amountIn += amountIn
      if (destinationPeerId !== undefined) peerCounters(destinationPeerId).amountOut += amountOut
    },
    packetStarted: () => {
      inFlight++
    },
    packetEnded: () => {
      inFlight--
    },
    recordLedger: (operation, durationMs) => histogramsOf(ledgerLatency, operation, ledgerBucketsSeconds).observeMs(durationMs),
    recordRedis: (store, command, durationMs) =>
      histogramsOf(redisLatency, `store="${labelValue(store)}",command="${labelValue(command)}"`, redisBucketsSeconds)
        .observeMs(durationMs),
    render: (gauges = []) => {
      const sources = [local, ...bySource.values(), otherPeers]
      const peers = [...bySource.values(), otherPeers]
      const lines = [
        "# HELP ilp_packets_total ILP packets answered, by source (peer id, or local payments) and outcome (fulfill or reject code).",
        "# TYPE ilp_packets_total counter",
        ...sources.flatMap((counters) =>
          [...counters.outcomes.entries()].map(([outcome, value]) =>
            `ilp_packets_total{${counters.labels},outcome="${outcome}"} ${value}`
          )
        ),
        "# HELP ilp_peer_amount_in_total Amount of fulfilled packets received from each peer, in its asset's smallest unit.",
        "# TYPE ilp_peer_amount_in_total counter",
        ...peers.filter((c) => c.amountIn > 0n).map((c) => `ilp_peer_amount_in_total{${peerLabel(c)}} ${c.amountIn}`),
        "# HELP ilp_peer_amount_out_total Amount of fulfilled packets sent to each peer, in its asset's smallest unit.",
        "# TYPE ilp_peer_amount_out_total counter",
        ...peers.filter((c) => c.amountOut > 0n).map((c) => `ilp_peer_amount_out_total{${peerLabel(c)}} ${c.amountOut}`),
        "# HELP ilp_packets_in_flight Packets in the pipeline now.",
        "# TYPE ilp_packets_in_flight gauge",
        `ilp_packets_in_flight ${inFlight}`,
        "# HELP ilp_packet_duration_seconds Time from receiving a packet to answering it.",
        "# TYPE ilp_packet_duration_seconds histogram",
        ...packetLatency.render("ilp_packet_duration_seconds", ""),
        "# HELP ilp_ledger_request_duration_seconds Latency of ledger calls, by operation (reserve, post, void on the packet path).",
        "# TYPE ilp_ledger_request_duration_seconds histogram",
        ...[...ledgerLatency.entries()].flatMap(([operation, histogram]) =>
          histogram.render("ilp_ledger_request_duration_seconds", `operation="${labelValue(operation)}"`)
        ),
        "# HELP ilp_redis_command_duration_seconds Latency of Redis commands, by store and command.",
        "# TYPE ilp_redis_command_duration_seconds histogram",
        ...[...redisLatency.entries()].flatMap(([labels, histogram]) =>
          histogram.render("ilp_redis_command_duration_seconds", labels)
        ),
        ...gauges
      ]
      return `${lines.join("\n")}\n`
    }
  }
}

/** `peer="alice"` from a peer's `source="peer",peer="alice"`. */
const peerLabel = (counters: SourceCounters): string => counters.labels.slice(`source="peer",`.length)

export const layer: Layer.Layer<Metrics> = Layer.sync(Metrics, make)
