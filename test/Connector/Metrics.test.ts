/**
 * The metrics registry on its own: per-peer series without per-packet strings, the bound on
 * tracked peers, local sources aggregated, label escaping, histogram bucket boundaries (a value
 * equal to a bound counts in that bucket), in-flight gauge and gauges appended by the caller.
 */
import { describe, expect, it } from "vitest"
import type { SourceAccount } from "../../src/Connector/Account.ts"
import { Histogram, labelValue, make, packetBucketsSeconds, peersTrackedMax } from "../../src/Connector/Metrics.ts"

const usd = { code: "USD", scale: 2 }
const source = (kind: "peer" | "local", id: string): SourceAccount => ({
  key: `${kind}:${id}`,
  kind,
  id,
  asset: usd,
  ilpAddress: `test.${id}`,
  maxPacketAmount: undefined,
  rateLimit: undefined,
  throughputLimit: undefined,
  ledgerAccountId: 1n
})

const lines = (text: string, prefix: string) => text.split("\n").filter((line) => line.startsWith(prefix))

describe("Metrics", () => {
  it("counts packets per peer and outcome, local sources together, odd outcomes as other", () => {
    const metrics = make()
    metrics.recordPacket(source("peer", "alice"), "fulfill", 1)
    metrics.recordPacket(source("peer", "alice"), "fulfill", 1)
    metrics.recordPacket(source("peer", "alice"), "T04", 1)
    metrics.recordPacket(source("local", "wallet-1"), "F02", 1)
    metrics.recordPacket(source("local", "wallet-2"), "F02", 1)
    metrics.recordPacket(source("peer", "bob"), "not-a-code", 1)
    expect(lines(metrics.render(), "ilp_packets_total{").sort()).toEqual([
      `ilp_packets_total{source="local",outcome="F02"} 2`,
      `ilp_packets_total{source="peer",peer="alice",outcome="T04"} 1`,
      `ilp_packets_total{source="peer",peer="alice",outcome="fulfill"} 2`,
      `ilp_packets_total{source="peer",peer="bob",outcome="other"} 1`
    ])
  })

  it("sums fulfilled amounts in from the source peer and out to the next peer, exactly", () => {
    const metrics = make()
    const big = (1n << 64n) - 1n
    metrics.recordFulfilled(source("peer", "alice"), big, "bob", 5n)
    metrics.recordFulfilled(source("peer", "alice"), 1n, undefined, 0n) // to a local receiver
    metrics.recordFulfilled(source("local", "w"), 7n, "bob", 6n) // our own payment: nothing in from a peer
    const text = metrics.render()
    expect(lines(text, "ilp_peer_amount_in_total{")).toEqual([`ilp_peer_amount_in_total{peer="alice"} ${big + 1n}`])
    expect(lines(text, "ilp_peer_amount_out_total{")).toEqual([`ilp_peer_amount_out_total{peer="bob"} 11`])
  })

  it(`tracks at most ${peersTrackedMax} peers; later ones count under peer="_other"`, () => {
    const metrics = make()
    for (let i = 0; i < peersTrackedMax + 5; i++) metrics.recordPacket(source("peer", `p${i}`), "fulfill", 1)
    const text = metrics.render()
    expect(lines(text, "ilp_packets_total{").length).toBe(peersTrackedMax + 1)
    expect(text).toContain(`ilp_packets_total{source="peer",peer="_other",outcome="fulfill"} 5`)
  })

  it("escapes label values", () => {
    expect(labelValue(`a"b\\c\nd`)).toBe(`a\\"b\\\\c\\nd`)
    const metrics = make()
    metrics.recordPacket(source("peer", `we"ird`), "fulfill", 1)
    expect(metrics.render()).toContain(`peer="we\\"ird"`)
  })

  it("puts a value equal to a bucket bound in that bucket, and beyond the last in +Inf only", () => {
    const histogram = new Histogram([0.001, 0.01])
    histogram.observeMs(1) // = 0.001 s
    histogram.observeMs(1.0001)
    histogram.observeMs(10_000)
    expect(histogram.render("h", "")).toEqual([
      `h_bucket{le="0.001"} 1`,
      `h_bucket{le="0.01"} 2`,
      `h_bucket{le="+Inf"} 3`,
      `h_sum ${0.001 + 0.0010001 + 10}`,
      `h_count 3`
    ])
    expect(packetBucketsSeconds.at(-1)).toBe(30) // the longest hold time
  })

  it("reports packets in flight and appends the caller's gauges", () => {
    const metrics = make()
    metrics.packetStarted()
    metrics.packetStarted()
    metrics.packetEnded()
    const text = metrics.render(["# TYPE g gauge", "g 7"])
    expect(text).toContain("\nilp_packets_in_flight 1\n")
    expect(text.endsWith("g 7\n")).toBe(true)
  })
})
