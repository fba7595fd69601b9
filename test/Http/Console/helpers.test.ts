/** The console's pure helpers: API errors onto form fields, transfer ids, Prometheus text and packet rates. */
import { describe, expect, it } from "vitest"
import { fieldErrors, newTransferId } from "../../../src/Http/Console/static/forms.js"
import { packetRates, packetTotals, parseMetrics, peerAmounts } from "../../../src/Http/Console/static/metrics.js"

describe("fieldErrors", () => {
  const fields = { amount: "amount", "receiver.ilpAddress": "ilpAddress", receiver: "receiver", peerId: "peer" }

  it("puts each part of the API's message next to the field it names", () => {
    expect(fieldErrors("amount: exceeds the available balance", fields)).toEqual({ amount: "exceeds the available balance" })
    expect(fieldErrors("receiver.ilpAddress: an ILP address; amount: a positive integer", fields)).toEqual({
      ilpAddress: "an ILP address",
      amount: "a positive integer"
    })
    // The longest known prefix of the path wins; unknown deeper segments fall back to the parent.
    expect(fieldErrors("receiver.spspUrl: too long", fields)).toEqual({ receiver: "too long" })
  })

  it("keeps what names no known field for the form as a whole", () => {
    expect(fieldErrors("ledger unavailable; retry", fields)).toEqual({ _form: "ledger unavailable; retry" })
    expect(fieldErrors("transferId: already used", fields)).toEqual({ _form: "transferId: already used" })
    expect(fieldErrors("body: invalid; amount: too big", fields)).toEqual({ _form: "body: invalid", amount: "too big" })
  })

  it("keeps a message that itself contains '; ' with its field", () => {
    expect(fieldErrors('peerId: a peer "c" exists; update it with PATCH', fields)).toEqual({
      peer: 'a peer "c" exists; update it with PATCH'
    })
    expect(fieldErrors("transferId: used; use a fresh id; amount: too big", fields)).toEqual({
      _form: "transferId: used; use a fresh id",
      amount: "too big"
    })
  })
})

describe("newTransferId", () => {
  it("is 128 random bits as decimal text, never the ledger's reserved 0 or 2^128-1", () => {
    const sequence = [new Uint8Array(16), new Uint8Array(16).fill(255), new Uint8Array(16).fill(1)]
    let call = 0
    const id = newTransferId((bytes) => {
      bytes.set(sequence[call++]!)
      return bytes
    })
    expect(call).toBe(3)
    expect(id).toBe(BigInt(`0x${"01".repeat(16)}`).toString())
    const random = newTransferId((bytes) => crypto.getRandomValues(bytes))
    expect(random).toMatch(/^[0-9]{1,39}$/)
    expect(BigInt(random) < 1n << 128n).toBe(true)
  })
})

describe("metrics", () => {
  const text = [
    "# HELP ilp_packets_total ILP packets processed.",
    "# TYPE ilp_packets_total counter",
    'ilp_packets_total{source="peer",outcome="fulfill"} 10',
    'ilp_packets_total{source="local",outcome="fulfill"} 5',
    'ilp_packets_total{source="peer",outcome="F02"} 2',
    'ilp_packets_total{source="peer",peer="bob",outcome="T04"} 3',
    'ilp_packets_total{source="peer",peer="bob",outcome="fulfill"} 7',
    'ilp_packet_duration_ms_bucket{le="0.5"} 3',
    'weird{label="with \\"quote\\""} 1',
    "not a sample line",
    ""
  ].join("\n")

  it("parses samples and their labels, skipping comments and junk", () => {
    const samples = parseMetrics(text)
    expect(samples).toHaveLength(7)
    expect(samples[0]).toEqual({ name: "ilp_packets_total", labels: { source: "peer", outcome: "fulfill" }, value: 10, text: "10" })
    expect(samples[6]).toEqual({ name: "weird", labels: { label: 'with "quote"' }, value: 1, text: "1" })
  })

  it("sums packets by outcome, and by peer where series carry a peer label", () => {
    expect(packetTotals(parseMetrics(text))).toEqual({
      byOutcome: { fulfill: 22, F02: 2, T04: 3 },
      byPeer: { bob: { T04: 3, fulfill: 7 } }
    })
  })

  it("reads fulfilled amounts per peer exactly, past 2^53", () => {
    const amounts = parseMetrics([
      'ilp_peer_amount_in_total{peer="bob"} 18446744073709551615',
      'ilp_peer_amount_out_total{peer="bob"} 9007199254740993',
      'ilp_peer_amount_in_total{peer="carol"} 5',
      'ilp_peer_amount_in_total{peer="dave"} 1e+21'
    ].join("\n"))
    expect(peerAmounts(amounts)).toEqual({
      bob: { in: "18446744073709551615", out: "9007199254740993" },
      carol: { in: "5" }
    })
  })

  it("turns two scrapes into fulfilled and rejected packets per second; a reset counts from zero", () => {
    const before = { atMs: 0, byOutcome: { fulfill: 10, F02: 4 } }
    expect(packetRates(before, { atMs: 2_000, byOutcome: { fulfill: 30, F02: 6, T04: 2 } })).toEqual({
      atMs: 2_000,
      fulfilled: 10,
      rejected: 2
    })
    expect(packetRates(before, { atMs: 1_000, byOutcome: { fulfill: 3, F02: 4 } })).toEqual({ atMs: 1_000, fulfilled: 3, rejected: 0 })
  })
})
