/**
 * EXPERIMENT (issue 13): the embedded ledger's SQLite work in a worker thread fed in batches,
 * against the same work on the event loop. Both sides run the store exactly as the ledger's
 * writer does (`makeStore` + `runBatch`: every request waiting while a batch runs forms the next
 * batch), driven by `concurrency` packets that each reserve their transfers and then post them
 * (`packetTransfers`, as the ledger stage). Only the transport differs:
 *
 * - `inline`: the batch runs on the main thread (today's design);
 * - `worker`: the requests (transfer specs, ids: structured-cloned) go to a worker thread in one
 *   message per batch, the results come back in one message.
 *
 * The Effect layer on top (queue, deferreds) is the same in both designs and left out. Prints
 * packets/s, main-thread CPU µs per packet (`process.threadCpuUsage`) and whole-process CPU µs per
 * packet (`process.cpuUsage`, all threads), so what moves off the event loop and what it costs in
 * total are both visible.
 *
 * Usage: node bench/experiments/ledgerWorker.ts [inline|worker] [packets=60000] [concurrency=50]
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import { Exit } from "effect"
import { assetAccounts, ids, ledgerOf, packetTransfers } from "../../src/Accounting/Accounts.ts"
import { AccountCode, newTransferId, TransferCode, type TransferSpec } from "../../src/Accounting/Ledger.ts"
import { defaults } from "../../src/Accounting/LedgerSqlite.ts"
import type { Job } from "../../src/Accounting/LedgerSqliteJobs.ts"
import { openDatabase } from "../../src/Accounting/LedgerSqliteSchema.ts"
import { makeStore, type Store } from "../../src/Accounting/LedgerSqliteStore.ts"

type Request =
  | { readonly op: "reserve"; readonly transfers: ReadonlyArray<TransferSpec>; readonly timeoutSeconds: number }
  | { readonly op: "post"; readonly ids: ReadonlyArray<bigint> }
/** `undefined`: done; a string: the failure's tag. */
type Result = string | undefined

const asset = { code: "USD", scale: 2 }
const source = ids.peerLiquidity("a")
const destination = ids.peerLiquidity("b")

const jobOf = (request: Request): Job<unknown> =>
  request.op === "reserve" ?
    (tx) => tx.createTransfers(request.transfers, request.timeoutSeconds) :
    (tx) => tx.post(request.ids)

/** Runs one batch; answers one result per request. */
const runRequests = (store: Store, requests: ReadonlyArray<Request>): Array<Result> => {
  const result = store.runBatch(requests.map(jobOf), Date.now())
  if (result._tag === "Aborted") return requests.map(() => "Aborted")
  return result.exits.map((exit) => Exit.isSuccess(exit) ? undefined : String(exit.cause))
}

const openStore = (filename: string): Store => {
  const options = { ...defaults, filename }
  const store = makeStore(openDatabase(options), options)
  const ledger = ledgerOf(asset)
  const setup = store.runBatch<unknown>([
    (tx) =>
      tx.createAccounts([
        ...assetAccounts(asset),
        { id: source, ledger, code: AccountCode.peerLiquidity, flags: { debitsMustNotExceedCredits: true } },
        { id: destination, ledger, code: AccountCode.peerLiquidity, flags: { debitsMustNotExceedCredits: true } }
      ]),
    (tx) =>
      tx.createTransfers([{
        id: newTransferId(),
        debitAccountId: ids.settlement(asset),
        creditAccountId: source,
        amount: 10n ** 18n,
        ledger,
        code: TransferCode.deposit
      }], undefined)
  ], Date.now())
  if (setup._tag !== "Committed" || !setup.exits.every(Exit.isSuccess)) throw new Error("setup failed")
  return store
}

if (!isMainThread) {
  const store = openStore(workerData.filename as string)
  parentPort!.on("message", (requests: ReadonlyArray<Request>) => {
    parentPort!.postMessage(runRequests(store, requests))
  })
} else {
  const mode = process.argv[2] === "worker" ? "worker" : "inline"
  const packets = Number(process.argv[3] ?? 60_000)
  const concurrency = Number(process.argv[4] ?? 50)
  const dir = mkdtempSync(join(tmpdir(), "ledger-worker-"))
  const filename = join(dir, "ledger.sqlite")

  /** Submits requests; a batch is whatever waits while the previous batch runs. */
  const makeSubmit = (): { submit: (request: Request) => Promise<Result>; close: () => Promise<void> } => {
    let waiting: Array<{ request: Request; resolve: (result: Result) => void }> = []
    let running = false
    if (mode === "inline") {
      const store = openStore(filename)
      const flush = () => {
        const batch = waiting
        waiting = []
        const results = runRequests(store, batch.map((w) => w.request))
        batch.forEach((w, i) => w.resolve(results[i]))
        if (waiting.length > 0) setImmediate(flush)
        else running = false
      }
      return {
        submit: (request) =>
          new Promise((resolve) => {
            waiting.push({ request, resolve })
            if (!running) {
              running = true
              setImmediate(flush)
            }
          }),
        close: async () => {}
      }
    }
    const worker = new Worker(new URL(import.meta.url), { workerData: { filename } })
    let inFlight: typeof waiting = []
    const send = () => {
      inFlight = waiting
      waiting = []
      worker.postMessage(inFlight.map((w) => w.request))
    }
    worker.on("message", (results: Array<Result>) => {
      const batch = inFlight
      batch.forEach((w, i) => w.resolve(results[i]))
      if (waiting.length > 0) send()
      else running = false
    })
    return {
      submit: (request) =>
        new Promise((resolve) => {
          waiting.push({ request, resolve })
          if (!running) {
            running = true
            queueMicrotask(send)
          }
        }),
      close: () => worker.terminate().then(() => undefined)
    }
  }

  const { close, submit } = makeSubmit()
  let next = 0
  let failures = 0
  const onePacket = async () => {
    const transfers = packetTransfers(
      { accountId: source, asset, amount: 10n },
      { accountId: destination, asset, amount: 10n },
      newTransferId
    )
    if (await submit({ op: "reserve", transfers, timeoutSeconds: 40 }) !== undefined) failures++
    if (await submit({ op: "post", ids: transfers.map((t) => t.id) }) !== undefined) failures++
  }
  const loop = async (count: number) => {
    while (next++ < count) await onePacket()
  }
  const run = async (count: number) => {
    next = 0
    await Promise.all(Array.from({ length: concurrency }, () => loop(count)))
  }
  await run(10_000) // warm-up (the worker's start and JIT too)
  const threadBefore = process.threadCpuUsage()
  const processBefore = process.cpuUsage()
  const started = performance.now()
  await run(packets)
  const elapsedMs = performance.now() - started
  const thread = process.threadCpuUsage(threadBefore)
  const all = process.cpuUsage(processBefore)
  await close()
  rmSync(dir, { recursive: true, force: true })
  if (failures > 0) throw new Error(`${failures} ledger calls failed`)
  process.stdout.write(
    `${mode}: ${packets} packets (reserve + post), concurrency ${concurrency}: ${(packets / (elapsedMs / 1000)).toFixed(0)} packets/s, ` +
      `main thread ${((thread.user + thread.system) / packets).toFixed(1)} µs CPU/pkt, ` +
      `all threads ${((all.user + all.system) / packets).toFixed(1)} µs CPU/pkt\n`
  )
}
