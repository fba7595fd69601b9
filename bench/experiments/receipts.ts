/**
 * EXPERIMENT: the embedded receipt totals alone, in-process, as local STREAM delivery drives them:
 * `concurrency` fibers each reserve a packet against one capped incoming payment (one STREAM
 * connection per fiber) and commit it, as `StreamReceiver` + `settle` do. Prints µs of CPU per
 * packet (reserve + commit), so receipt-store changes can be measured without HTTP noise.
 *
 * Usage: node bench/experiments/receipts.ts [packets=40000] [concurrency=50]
 */
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import * as ReceiptTotalsSqlite from "../../src/Stream/ReceiptTotalsSqlite.ts"

const packets = Number(process.argv[2] ?? 40_000)
const concurrency = Number(process.argv[3] ?? 50)
const dir = mkdtempSync(join(tmpdir(), "receipts-bench-"))

const program = Effect.gen(function*() {
  const totals = yield* ReceiptTotals
  let next = 0
  const payment = { key: "payment-1", cap: 10n ** 30n }
  const onePacket = (connectionKey: string) =>
    Effect.suspend(() => {
      const packetId = String(next)
      return Effect.flatMap(
        totals.reserve({ connectionKey, amount: 10n, payment, packetId, pendingMs: 30_000 }),
        (result) => {
          if (!result.accepted) return Effect.die(new Error("refused"))
          return totals.commit({ packetId, connectionKey, paymentKey: payment.key })
        }
      )
    })
  const worker = (i: number) =>
    Effect.whileLoop({
      while: () => next++ < packets,
      body: () => onePacket(`connection-${i}`),
      step: () => undefined
    })
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  yield* Effect.all(Array.from({ length: concurrency }, (_, i) => worker(i)), { concurrency: "unbounded", discard: true })
  const elapsedMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  const total = yield* totals.paymentTotal(payment.key)
  process.stdout.write(
    `${packets} packets (reserve + commit) at concurrency ${concurrency}: ${(packets / (elapsedMs / 1000)).toFixed(0)} packets/s, ` +
      `${((cpu.user + cpu.system) / packets).toFixed(1)} µs CPU per packet; payment total ${total}\n`
  )
})

await Effect.runPromise(
  program.pipe(Effect.provide(Layer.fresh(ReceiptTotalsSqlite.layerSqlite({ filename: join(dir, "receipts.sqlite") }))))
)
rmSync(dir, { recursive: true, force: true })
