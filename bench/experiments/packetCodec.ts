/**
 * EXPERIMENT: the Prepare codec alone — one `decodePrepare` and one `encodePrepare` per packet, as
 * a forwarded packet does (decode what arrives, encode what goes on). Prints ns of CPU per round
 * trip, three passes after a warm-up.
 *
 * Usage: node bench/experiments/packetCodec.ts [iterations=1000000]
 */
import { decodePrepare, encodePrepare, isDecodeFailure, sha256 } from "../../src/Connector/Packet.ts"

const iterations = Number(process.argv[2] ?? 1_000_000)
const fulfillment = new Uint8Array(32).fill(7)
const bytes = Buffer.from(encodePrepare({
  amount: 123_456_789n,
  expiresAt: Date.now() + 30_000,
  executionCondition: sha256(fulfillment),
  destination: "test.bob.wallet.7f3a9c21",
  data: new Uint8Array(64).fill(3)
}))

let sink = 0
const round = (n: number): number => {
  const t0 = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const prepare = decodePrepare(bytes)
    if (isDecodeFailure(prepare)) throw new Error(prepare.reason)
    const out = encodePrepare({ ...prepare, amount: prepare.amount - 1n, expiresAt: prepare.expiresAt - 1000 })
    sink += out.length
  }
  const cpu = process.cpuUsage(t0)
  return ((cpu.user + cpu.system) * 1000) / n
}
round(200_000) // warm-up
const results = [round(iterations), round(iterations), round(iterations)]
process.stdout.write(`decodePrepare + encodePrepare: ${results.map((ns) => ns.toFixed(0)).join(" / ")} ns CPU per round trip (${sink > 0 ? "ok" : ""})\n`)
