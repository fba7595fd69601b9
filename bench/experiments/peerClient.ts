/**
 * EXPERIMENT: the peer client alone, in-process, as the deliver stage calls it: `concurrency`
 * fibers each `send` a Prepare to the bench's fulfilling peer (bench/peer.ts, its own process)
 * through `src/Http/PeerClient.ts` of THIS checkout. Prints packets/s and this process's CPU µs
 * per packet, so the client can be measured without the node's pipeline around it.
 *
 * To compare two clients, run this same file from two checkouts, alternating (the file resolves
 * `src/` next to itself): copy it into the other checkout's bench/experiments/ first.
 *
 * With `https` as the fifth argument the peer is bench/experiments/httpsPeer.ts (set PEER_TLS_KEY,
 * PEER_TLS_CERT, and NODE_EXTRA_CA_CERTS to the certificate so this process trusts it).
 *
 * Usage: node bench/experiments/peerClient.ts [packets=40000] [concurrency=50] [rounds=1] [http|https]
 */
import { createHash } from "node:crypto"
import { Effect, Redacted } from "effect"
import type { PeerConfig } from "../../src/Config.ts"
import { encodePrepare } from "../../src/Connector/Packet.ts"
import * as PeerClient from "../../src/Http/PeerClient.ts"
import { killAll, startServerProcess } from "../common.ts"

const packets = Number(process.argv[2] ?? 40_000)
const concurrency = Number(process.argv[3] ?? 50)
const rounds = Number(process.argv[4] ?? 1)
const https = process.argv[5] === "https"

const main = async () => {
  const peerProcess = await startServerProcess(new URL(https ? "./httpsPeer.ts" : "../peer.ts", import.meta.url).pathname, [])
  const peer = {
    id: "bench",
    outgoing: { url: `${https ? "https" : "http"}://127.0.0.1:${peerProcess.port}/ilp`, token: Redacted.make("bench-token-0123456789") }
  } as unknown as PeerConfig
  const data = Buffer.alloc(64, 7)
  const prepare = encodePrepare({
    amount: 10n,
    expiresAt: Date.now() + 3_600_000,
    executionCondition: createHash("sha256").update(data.subarray(0, 32)).digest(),
    destination: "test.bench.peer",
    data
  })
  const results = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const client = yield* PeerClient.make({ connectionsMax: 64, keepAliveTimeoutMs: 30_000 })
    const run = (count: number) =>
      Effect.forEach(
        Array.from({ length: count }),
        () => Effect.flatMap(client.send(peer, prepare, Date.now() + 30_000), (reply) => reply[0] === 13 ? Effect.void : Effect.die("not a fulfill")),
        { concurrency, discard: true }
      )
    yield* run(Math.min(5_000, packets))
    const lines: Array<string> = []
    for (let round = 0; round < rounds; round++) {
      const cpu = process.cpuUsage()
      const started = performance.now()
      yield* run(packets)
      const ms = performance.now() - started
      const used = process.cpuUsage(cpu)
      lines.push(JSON.stringify({
        packetsPerSecond: Math.round(packets / (ms / 1000)),
        cpuMicrosPerPacket: Number(((used.user + used.system) / packets).toFixed(1))
      }))
    }
    return lines
  })))
  for (const line of results) process.stdout.write(`${line}\n`)
  killAll()
}

main().catch((error) => {
  killAll()
  process.stderr.write(`${error}\n`)
  process.exit(1)
})
