/**
 * EXPERIMENT: capped packets at steady state on the embedded ledger's connection, where every
 * committed row is also forgotten and deleted within the run (a bench sitting is shorter than a
 * row's forget time, ~150 s, so it never deletes one). `layerInLedger` with `settleGraceMs` 50 and
 * packets reserved for 20 ms, on a WAL file in a temp directory: per round, `concurrency` packets
 * at a time are reserved in the ledger, reserved against the cap, and posted with their receipt
 * commit in the post's transaction. Prints µs of CPU per packet and the rows left at the end.
 *
 * Usage: node bench/experiments/cappedSteady.ts [packets=20000] [concurrency=50] [rounds=3]
 */
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { layerInLedger } from "../../src/Stream/ReceiptTotalsSqliteInLedger.ts"
import { createAccounts, dmnec, fund, noFlags, transferSpec } from "../../test/support/ledgerFixtures.ts"

const packets = Number(process.argv[2] ?? 20_000)
const concurrency = Number(process.argv[3] ?? 50)
const rounds = Number(process.argv[4] ?? 3)
const L = 11
const dir = mkdtempSync(join(tmpdir(), "capped-steady-"))

const program = Effect.gen(function*() {
  const ledger = yield* Ledger
  const totals = yield* ReceiptTotals
  const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
  yield* fund(L, source!, from!, 10n ** 15n)
  const payment = { key: "https://wallet.example/incoming-payments/0b7f0b9e-6e1d-4b4f-9d0e-1b2c3d4e5f60", cap: 10n ** 15n }
  const one = Effect.gen(function*() {
    const spec = transferSpec(L, from!, to!, 10n)
    yield* ledger.reserve([spec], 30)
    const packetId = spec.id.toString()
    const reserved = yield* totals.reserve({ connectionKey: "conn", amount: 10n, payment, packetId, pendingMs: 20 })
    if (!reserved.accepted) return yield* Effect.die(new Error("refused"))
    const write = totals.alongsidePost!({ kind: "commit", packet: { packetId, connectionKey: "conn", paymentKey: payment.key } })
    yield* ledger.post([spec.id], write)
    const outcome = write.outcome()
    if (outcome?._tag !== "Done" || (outcome.result as { outcome: string }).outcome !== "committed") {
      return yield* Effect.die(new Error(`not committed: ${JSON.stringify(outcome)}`))
    }
  })
  const run = (n: number) => Effect.forEach(Array.from({ length: n }), () => one, { concurrency, discard: true })
  // Warm-up long enough that rows from it are forgotten during the rounds.
  yield* run(5_000)
  for (let r = 1; r <= rounds; r++) {
    const cpu = process.cpuUsage()
    const started = performance.now()
    yield* run(packets)
    const used = process.cpuUsage(cpu)
    const ms = performance.now() - started
    console.log(`round ${r}: ${packets} packets, ${(packets / ms * 1000).toFixed(0)} packets/s, ${((used.user + used.system) / packets).toFixed(1)} µs CPU per packet`)
  }
  const { db } = yield* LedgerSqlite.LedgerConnection
  const left = db.prepare("SELECT count(*) AS n FROM receipt_packets").get() as { n: number }
  console.log(`receipt packet rows left: ${left.n} (of ${5_000 + packets * rounds} committed)`)
})

const ledgerLayer = LedgerSqlite.layerWithConnection({ filename: join(dir, "ledger.sqlite") }).pipe(Layer.orDie)
const layer = Layer.merge(layerInLedger({ settleGraceMs: 50 }).pipe(Layer.provide(ledgerLayer)), ledgerLayer)
try {
  await Effect.runPromise(program.pipe(Effect.provide(layer), Effect.scoped))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
