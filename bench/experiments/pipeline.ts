/**
 * EXPERIMENT: the packet pipeline alone, in-process, without HTTP: `Pipeline.process` with the real
 * stages, limits, metrics and embedded ledger (a temp file, as the node runs it), and a peer client
 * that answers every Prepare at once with a Fulfill. Each packet runs as its own fiber of the
 * runtime, as the ILP-over-HTTP handler runs it (`Effect.runForkWith` + an observer). Prints µs of
 * CPU per packet, so Effect, allocation and ledger changes on the hot path can be measured below
 * the noise of the end-to-end bench.
 *
 * Usage: node bench/experiments/pipeline.ts [packets=100000] [concurrency=50]
 * With `PIPELINE_ALLOC_PROFILE=FILE.heapprofile`, the measured run also records V8's sampling heap
 * profile, collected objects included, into FILE (read it with `bench/experiments/allocReport.ts`):
 * the pipeline's allocations per packet by site.
 */
import { Context, Effect, Exit, Layer, References } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ensureConfiguredAccounts } from "../../src/Accounting/Accounts.ts"
import { newTransferId } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { deposit } from "../../src/Accounting/Liquidity.ts"
import * as Config from "../../src/Config.ts"
import * as LocalReceivers from "../../src/Connector/LocalReceivers.ts"
import * as Metrics from "../../src/Connector/Metrics.ts"
import { decodePrepare, encodeFulfill, encodePrepare, isDecodeFailure, PacketType, sha256 } from "../../src/Connector/Packet.ts"
import { PeerClient } from "../../src/Connector/PeerClient.ts"
import * as Peers from "../../src/Connector/Peers.ts"
import * as Pipeline from "../../src/Connector/Pipeline.ts"
import * as RateLimiter from "../../src/Connector/RateLimiter.ts"
import * as Rates from "../../src/Rates/Rates.ts"

const packets = Number(process.argv[2] ?? 100_000)
const concurrency = Number(process.argv[3] ?? 50)
const usd = { code: "USD", scale: 2 }
const dir = mkdtempSync(join(tmpdir(), "pipeline-bench-"))

const configFile = {
  ilpAddress: "test.node",
  dataDir: dir,
  peers: [
    // The limiter runs (as in the node) but never refuses: the default 10 000/s would.
    { id: "alice", asset: usd, incomingTokens: ["alice-token-0000000000001"], staticIlpAddress: "test.alice", rateLimit: { packetsPerSecond: 1e9, burst: 1e9 }, outgoing: { url: "http://127.0.0.1:9/", token: "alice-out-token-000000001" } },
    { id: "bob", asset: usd, incomingTokens: ["bob-token-00000000000000001"], staticIlpAddress: "test.bob", outgoing: { url: "http://127.0.0.1:9/", token: "bob-out-token-00000000001" } }
  ]
}

const fulfillment = new Uint8Array(32).fill(7)
/** The fulfilling peer: the first 32 bytes of the data are the fulfillment (as bench/peer.ts). */
const peerClient = Layer.succeed(PeerClient, PeerClient.of({
  send: (_peer, bytes) =>
    Effect.sync(() => {
      const prepare = decodePrepare(bytes)
      if (isDecodeFailure(prepare)) throw new Error("bad prepare")
      return encodeFulfill({ fulfillment: prepare.data.subarray(0, 32), data: new Uint8Array(0) })
    })
}))

const program = Effect.gen(function*() {
  const config = yield* Config.decodeConfig(configFile, {})
  const layer = Pipeline.layer.pipe(Layer.provideMerge(Layer.mergeAll(
    LedgerSqlite.layer({ filename: join(dir, "ledger.sqlite") }),
    Peers.layer,
    RateLimiter.layerMemory,
    Rates.layerStatic({}),
    LocalReceivers.layerNone,
    Metrics.layer,
    peerClient
  ).pipe(Layer.provideMerge(Config.layer(config)))))
  const context = yield* Layer.build(layer)
  yield* Effect.provideContext(ensureConfiguredAccounts(config), context)
  yield* Effect.provideContext(deposit(config, { kind: "peer", peerId: "alice" }, 10n ** 15n, newTransferId()), context)
  const pipeline = Context.get(context, Pipeline.Pipeline)
  const source = Context.get(context, Peers.Peers).byId("alice")!.account
  const run = Effect.runForkWith(yield* Effect.context<never>())
  const bytes = encodePrepare({
    amount: 10n,
    expiresAt: Date.now() + 3_600_000,
    executionCondition: sha256(fulfillment),
    destination: "test.bob.x",
    data: fulfillment
  })
  const measure = (count: number) =>
    Effect.callback<{ readonly cpuUs: number; readonly ms: number; readonly failed: number }>((resume) => {
      let started = 0
      let done = 0
      let failed = 0
      const cpuBefore = process.cpuUsage()
      const t0 = performance.now()
      const launch = () => {
        started++
        const fiber = run(pipeline.process({ bytes, source, unfulfillable: false }))
        fiber.addObserver((exit) => {
          if (!Exit.isSuccess(exit) || exit.value.type !== PacketType.Fulfill) {
            if (failed++ === 0) process.stderr.write(`not fulfilled: ${Exit.isSuccess(exit) ? JSON.stringify(exit.value, (_, v) => typeof v === "bigint" ? String(v) : v) : String(exit.cause)}\n`)
          }
          done++
          if (started < count) launch()
          else if (done === count) {
            const cpu = process.cpuUsage(cpuBefore)
            resume(Effect.succeed({ cpuUs: cpu.user + cpu.system, ms: performance.now() - t0, failed }))
          }
        })
      }
      for (let i = 0; i < Math.min(concurrency, count); i++) launch()
    })
  yield* measure(Math.min(20_000, packets)) // warm-up
  const allocFile = process.env["PIPELINE_ALLOC_PROFILE"]
  const session = allocFile === undefined ? undefined : new Session()
  session?.connect()
  session?.post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true
  })
  const { cpuUs, failed, ms } = yield* measure(packets)
  session?.post("HeapProfiler.getSamplingProfile", (error, result) => {
    if (error !== null) throw error
    writeFileSync(allocFile!, JSON.stringify(result.profile))
    writeFileSync(allocFile!.replace(/\.heapprofile$/, "") + ".json", JSON.stringify({ packets }))
  })
  if (failed > 0) process.stderr.write(`${failed} packets not fulfilled\n`)
  process.stdout.write(
    `${packets} packets through Pipeline.process at concurrency ${concurrency}: ` +
      `${(packets / (ms / 1000)).toFixed(0)} packets/s, ${(cpuUs / packets).toFixed(1)} µs CPU per packet\n`
  )
})

await Effect.runPromise(Effect.scoped(program).pipe(Effect.provideService(References.MinimumLogLevel, "None")))
rmSync(dir, { recursive: true, force: true })
