/**
 * EXPERIMENT: local STREAM delivery in-process, without HTTP: the node's own services
 * (`Node.servicesLayer`, embedded profile, files in a temp data directory), one wallet address and
 * one incoming payment (uncapped unless `capped`), and `concurrency` fibers each running `Pipeline.process` on
 * pre-built STREAM Prepares (as bench/loadgen.ts builds them, receipts on). Prints µs of CPU per
 * packet for the pipeline + local receiver, and checks that every packet was fulfilled and that
 * the payment received exactly that. For changes to the receiver path whose effect is below the
 * end-to-end noise.
 *
 * Usage: node bench/experiments/localPipeline.ts [packets=20000] [concurrency=50] [rounds=3] [capped]
 * (`capped`: the payment has an incomingAmount far above what the run sends, so packets take the
 * capped path: reserve, then commit.)
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ensureConfiguredAccounts } from "../../src/Accounting/Accounts.ts"
import { newTransferId } from "../../src/Accounting/Ledger.ts"
import { deposit } from "../../src/Accounting/Liquidity.ts"
import * as Config from "../../src/Config.ts"
import * as Peers from "../../src/Connector/Peers.ts"
import * as Pipeline from "../../src/Connector/Pipeline.ts"
import { servicesLayer } from "../../src/Node.ts"
import * as IncomingPayments from "../../src/Payments/IncomingPayments.ts"
import * as WalletAddresses from "../../src/Payments/WalletAddresses.ts"
import * as StreamCredentials from "../../src/Stream/Credentials.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { streamMoneyPrepares } from "../../test/support/streamPrepares.ts"

const packets = Number(process.argv[2] ?? 20_000)
const concurrency = Number(process.argv[3] ?? 50)
const rounds = Number(process.argv[4] ?? 3)
const capped = process.argv[5] === "capped"
const asset = { code: "USD", scale: 2 }
const dir = mkdtempSync(join(tmpdir(), "local-pipeline-"))

const config = await Effect.runPromise(Config.decodeConfig({
  ilpAddress: "test.bench",
  dataDir: dir,
  streamSecret: randomBytes(32).toString("hex"),
  // The rate limit out of the way, as bench/nodeProcess.ts does (the default 10 000/s refuses packets here).
  peers: [{
    id: "sender",
    asset,
    incomingTokens: ["bench-sender-token-0000001"],
    staticIlpAddress: "test.sender",
    rateLimit: { packetsPerSecond: 1_000_000, burst: 1_000_000 }
  }]
}, {}))
const scope = Scope.makeUnsafe()
const services = await Effect.runPromise(Scope.provide(scope)(Layer.build(servicesLayer(config))))
const run = <A, E>(effect: Effect.Effect<A, E, any>) => Effect.runPromise(Effect.provideContext(effect, services as any) as Effect.Effect<A, E>)

await run(ensureConfiguredAccounts(config))
await run(deposit(config, { kind: "peer", peerId: "sender" }, 10n ** 15n, newTransferId()))
const payment = await run(Effect.gen(function*() {
  const wallet = yield* (yield* WalletAddresses.WalletAddresses).create({ url: "https://bench.example/alice", asset })
  return yield* (yield* IncomingPayments.IncomingPayments).create({
    walletAddressId: wallet.id,
    ...(capped ? { incomingAmount: 10n ** 18n } : {})
  })
}))
const credentials = await run(Effect.map(StreamCredentials.StreamCredentials, (c) =>
  c.generate({ kind: "incoming", id: payment.id }, asset, { nonce: randomBytes(16), secret: randomBytes(32) })))
const build = streamMoneyPrepares(credentials, { amount: 10n, expiresInMs: 600_000 })

const pipeline = Context.get(services as Context.Context<Pipeline.Pipeline>, Pipeline.Pipeline)
const source = Context.get(services as Context.Context<Peers.Peers>, Peers.Peers).byId("sender")!.account
let fulfilledTotal = 0
for (let round = 0; round <= rounds; round++) {
  const count = round === 0 ? Math.min(5_000, packets) : packets
  const prepared = Array.from({ length: count }, build)
  let next = 0
  let fulfilled = 0
  const worker = Effect.whileLoop({
    while: () => next < count,
    body: () => Effect.map(pipeline.process({ bytes: prepared[next++]!, source, unfulfillable: false }), (reply) => {
      if (reply.type === 13) fulfilled++
    }),
    step: () => undefined
  })
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await Effect.runPromise(Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true }))
  const elapsedMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  fulfilledTotal += fulfilled
  if (fulfilled !== count) throw new Error(`only ${fulfilled} of ${count} packets fulfilled`)
  process.stdout.write(
    `${round === 0 ? "warm-up" : `round ${round}`}: ${count} packets at concurrency ${concurrency}: ` +
      `${(count / (elapsedMs / 1000)).toFixed(0)} packets/s, ${((cpu.user + cpu.system) / count).toFixed(1)} µs CPU per packet\n`
  )
}
const received = await run(Effect.flatMap(ReceiptTotals, (totals) => totals.paymentTotal(payment.id)))
if (received !== BigInt(fulfilledTotal) * 10n) throw new Error(`payment received ${received}, expected ${fulfilledTotal * 10}`)
process.stdout.write(`payment received ${received} = 10 x ${fulfilledTotal} fulfilled\n`)
await Effect.runPromise(Scope.close(scope, Exit.void))
rmSync(dir, { recursive: true, force: true })
