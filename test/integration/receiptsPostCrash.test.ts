/**
 * The embedded profile killed (SIGKILL) right after the ledger committed a packet's post: after a
 * restart on the same data directory, the incoming payment's receipt total equals what the ledger
 * credited it — for an uncapped payment (whose amount is added when posted) and a capped one
 * (reserved first, committed when posted). On the embedded profile the receipt write for a posted
 * packet commits in the ledger's post transaction (`LedgerSqlite` `postWith`), so no kill can
 * land between the two; before, it was its own transaction one event-loop turn later, and this
 * test found the total one packet below the credit. (Redis keeps reserve → commit after the post:
 * test/integration/receiptsCrash.test.ts allows that packet there.)
 *
 * The child (test/support/postCrashChild.ts) runs the node's own services and injects the kill
 * after the ledger's COMMIT itself.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { randomBytes } from "node:crypto"
import { join, resolve } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import { servicesLayer } from "../../src/Node.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { postCrashConfig } from "../support/postCrashConfig.ts"
import { reapChild } from "../support/reaper.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const root = resolve(import.meta.dirname, "../..")
const nodeBinary = resolve(root, "node_modules/.bin/node")

const cleanups: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** Runs the child until it kills itself after its `killAtPost`-th post; answers its payment id. */
const runUntilKilled = async (dir: string, secret: string, killAtPost: number, cap?: bigint) => {
  const child = spawn(
    nodeBinary,
    ["test/support/postCrashChild.ts", dir, secret, String(killAtPost), ...(cap === undefined ? [] : [cap.toString()])],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] }
  )
  reapChild(child)
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const [code, signal] = await once(child, "exit") as [number | null, NodeJS.Signals | null]
  if (signal !== "SIGKILL") throw new Error(`child ended with code ${code}, signal ${signal}:\n${output}`)
  const line = output.split("\n").find((l) => l.startsWith("{"))
  if (line === undefined) throw new Error(`child printed no payment id:\n${output}`)
  return (JSON.parse(line) as { paymentId: string }).paymentId
}

/** Reopens the data directory (as a restarted node): the payment's ledger credit and receipt total. */
const booksAfterRestart = async (dir: string, secret: string, paymentId: string) => {
  const config = await postCrashConfig(dir, secret)
  const scope = Scope.makeUnsafe()
  try {
    const services = await Effect.runPromise(Scope.provide(scope)(Layer.build(servicesLayer(config))))
    return await Effect.runPromise(Effect.provideContext(
      Effect.gen(function*() {
        const [account] = yield* (yield* Ledger).balances([ids.incomingPayment(paymentId)])
        const received = yield* (yield* ReceiptTotals).paymentTotal(paymentId)
        return { credited: account!.creditsPosted, pending: account!.creditsPending, received }
      }),
      services as never
    ))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const scenario = async (cap?: bigint) => {
  const dir = makeTempDir("ilp-receipts-post-crash-")
  cleanups.push(() => removeTempDir(dir))
  const secret = randomBytes(32).toString("hex")
  const paymentId = await runUntilKilled(join(dir, "data"), secret, 3, cap)
  const books = await booksAfterRestart(join(dir, "data"), secret, paymentId)
  // Three packets of 10 were posted before the kill.
  expect(books.credited).toBe(30n)
  expect(books.pending).toBe(0n)
  expect(books.received).toBe(books.credited)
}

describe("a kill right after the ledger posted a local packet (embedded profile)", () => {
  it("uncapped incoming payment: the receipt total equals the ledger credit after restart", async () => {
    await scenario()
  }, 120_000)

  it("capped incoming payment: the receipt total equals the ledger credit after restart", async () => {
    await scenario(1_000_000n)
  }, 120_000)
})
