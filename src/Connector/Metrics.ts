/**
 * Packet and ledger metrics in Prometheus text format (SPEC §10): packets by source kind and outcome
 * (`fulfill` or the reject code), a latency histogram of the whole packet path, and a latency
 * histogram of ledger calls. Recording is a few integer increments: cheap on the hot path.
 *
 * Bounded: outcomes are ILP codes (three characters) and source kinds are two, so the label sets
 * cannot grow without bound whatever peers send.
 */
import { Context, Layer } from "effect"

/** Histogram bucket upper bounds, milliseconds. */
export const latencyBucketsMs: ReadonlyArray<number> = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000]

class Histogram {
  readonly counts = new Array<number>(latencyBucketsMs.length + 1).fill(0)
  sum = 0
  count = 0
  observe(valueMs: number): void {
    let i = 0
    while (i < latencyBucketsMs.length && valueMs > latencyBucketsMs[i]!) i++
    this.counts[i]!++
    this.sum += valueMs
    this.count++
  }
  render(name: string, labels: string): Array<string> {
    const lines: Array<string> = []
    let cumulative = 0
    for (let i = 0; i < latencyBucketsMs.length; i++) {
      cumulative += this.counts[i]!
      lines.push(`${name}_bucket{${labels}${labels === "" ? "" : ","}le="${latencyBucketsMs[i]}"} ${cumulative}`)
    }
    lines.push(`${name}_bucket{${labels}${labels === "" ? "" : ","}le="+Inf"} ${this.count}`)
    lines.push(`${name}_sum{${labels}} ${this.sum}`)
    lines.push(`${name}_count{${labels}} ${this.count}`)
    return lines
  }
}

export interface MetricsShape {
  readonly recordPacket: (sourceKind: "peer" | "local", outcome: string, durationMs: number) => void
  readonly recordLedger: (operation: string, durationMs: number) => void
  /** The Prometheus exposition text. */
  readonly render: () => string
}

export class Metrics extends Context.Service<Metrics, MetricsShape>()("Connector/Metrics") {}

const outcomePattern = /^(fulfill|[FTR][0-9A-Z]{2})$/

export const make = (): MetricsShape => {
  const packets = new Map<string, number>()
  const packetLatency = new Histogram()
  const ledgerLatency = new Map<string, Histogram>()
  return {
    recordPacket: (sourceKind, outcome, durationMs) => {
      const key = `source="${sourceKind}",outcome="${outcomePattern.test(outcome) ? outcome : "other"}"`
      packets.set(key, (packets.get(key) ?? 0) + 1)
      packetLatency.observe(durationMs)
    },
    recordLedger: (operation, durationMs) => {
      let histogram = ledgerLatency.get(operation)
      if (histogram === undefined) {
        histogram = new Histogram()
        ledgerLatency.set(operation, histogram)
      }
      histogram.observe(durationMs)
    },
    render: () => {
      const lines = [
        "# HELP ilp_packets_total ILP packets processed, by source kind and outcome (fulfill or reject code).",
        "# TYPE ilp_packets_total counter",
        ...[...packets.entries()].map(([labels, value]) => `ilp_packets_total{${labels}} ${value}`),
        "# HELP ilp_packet_duration_ms Time from receiving a packet to answering it.",
        "# TYPE ilp_packet_duration_ms histogram",
        ...packetLatency.render("ilp_packet_duration_ms", ""),
        "# HELP ilp_ledger_duration_ms Latency of ledger calls on the packet path.",
        "# TYPE ilp_ledger_duration_ms histogram",
        ...[...ledgerLatency.entries()].flatMap(([operation, histogram]) =>
          histogram.render("ilp_ledger_duration_ms", `operation="${operation}"`)
        )
      ]
      return `${lines.join("\n")}\n`
    }
  }
}

export const layer: Layer.Layer<Metrics> = Layer.sync(Metrics, make)
