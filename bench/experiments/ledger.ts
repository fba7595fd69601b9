/**
 * EXPERIMENT: the embedded ledger alone, in-process, as the packet path drives it: `concurrency`
 * fibers each reserve a packet's transfers (peer → peer, same asset) and post them, through the
 * ledger stage's own code path (`packetTransfers`, `reserve`, `post`). Prints µs of CPU per packet
 * (reserve + post) and the mean batch size, so ledger changes can be measured without HTTP noise.
 *
 * Usage: node bench/experiments/ledger.ts [packets=40000] [concurrency=50] [synchronous=normal|full]
 *   [extraAccounts=0] [accountCacheSizeMax=default]
 * `extraAccounts` more accounts (as a node with that many wallet addresses has) are created first.
 */
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assetAccounts, ids, packetTransfers } from "../../src/Accounting/Accounts.ts"
import { AccountCode, Ledger, newTransferId, TransferCode } from "../../src/Accounting/Ledger.ts"
import { ledgerOf } from "../../src/Accounting/Accounts.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"

const packets = Number(process.argv[2] ?? 40_000)
const concurrency = Number(process.argv[3] ?? 50)
const synchronous = process.argv[4] === "full" ? "full" : "normal"
const extraAccounts = Number(process.argv[5] ?? 0)
const accountCacheSizeMax = process.argv[6] === undefined ? undefined : Number(process.argv[6])
const asset = { code: "USD", scale: 2 }
const dir = mkdtempSync(join(tmpdir(), "ledger-bench-"))

const program = Effect.gen(function*() {
  const ledger = yield* Ledger
  const ledgerNumber = ledgerOf(asset)
  const source = ids.peerLiquidity("a")
  const destination = ids.peerLiquidity("b")
  yield* ledger.createAccounts([
    ...assetAccounts(asset),
    { id: source, ledger: ledgerNumber, code: AccountCode.peerLiquidity, flags: { debitsMustNotExceedCredits: true } },
    { id: destination, ledger: ledgerNumber, code: AccountCode.peerLiquidity, flags: { debitsMustNotExceedCredits: true } }
  ])
  yield* ledger.transfer([{
    id: newTransferId(),
    debitAccountId: ids.settlement(asset),
    creditAccountId: source,
    amount: 10n ** 18n,
    ledger: ledgerNumber,
    code: TransferCode.deposit
  }])
  for (let i = 0; i < extraAccounts; i += 1_000) {
    yield* ledger.createAccounts(Array.from({ length: Math.min(1_000, extraAccounts - i) }, (_, j) => ({
      id: ids.peerLiquidity(`extra-${i + j}`),
      ledger: ledgerNumber,
      code: AccountCode.peerLiquidity,
      flags: { debitsMustNotExceedCredits: true }
    })))
  }
  ;(globalThis as { gc?: () => void }).gc?.()
  let next = 0
  const onePacket = Effect.suspend(() => {
    const transfers = packetTransfers(
      { accountId: source, asset, amount: 10n },
      { accountId: ids.peerLiquidity("b"), asset, amount: 10n },
      newTransferId
    )
    return Effect.andThen(ledger.reserve(transfers, 40), ledger.post(transfers.map((t) => t.id)))
  })
  const worker = Effect.whileLoop({
    while: () => next++ < packets,
    body: () => onePacket,
    step: () => undefined
  })
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  yield* Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
  const elapsedMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  process.stdout.write(
    `${packets} packets (reserve + post) at concurrency ${concurrency}, synchronous=${synchronous}, ` +
      `${extraAccounts} more accounts, account cache ${accountCacheSizeMax ?? "default"}: ` +
      `heap used ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB, ${(packets / (elapsedMs / 1000)).toFixed(0)} packets/s, ` +
      `${((cpu.user + cpu.system) / packets).toFixed(1)} µs CPU per packet\n`
  )
})

await Effect.runPromise(program.pipe(Effect.provide(Layer.fresh(LedgerSqlite.layer({
  filename: join(dir, "ledger.sqlite"),
  synchronous,
  ...(accountCacheSizeMax === undefined ? {} : { accountCacheSizeMax })
})))))
rmSync(dir, { recursive: true, force: true })
