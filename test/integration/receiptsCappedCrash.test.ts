/**
 * A capped incoming payment on the embedded profile, whose pending receipt amounts live only in
 * memory (`ReceiptTotalsSqlitePending.ts`), killed (SIGKILL) with several packets in flight:
 * (a) right before a posting transaction changes its first transfer (the packets' receipt reserves
 * are done, their posts are not), and (b) right after a posting transaction's COMMIT. After a
 * restart on the same data directory the payment's counted total equals its ledger credit, nothing
 * is pending in the ledger, and the cap holds exactly: the rest of `incomingAmount` can be
 * reserved, and not one unit more (no pending amount of the dead process holds any of it).
 *
 * The child (test/support/postCrashChild.ts) runs the node's own services and kills itself at the
 * injected point.
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

const cap = 1_000n
const parallel = 4

const runUntilKilled = async (dir: string, secret: string, killAtPost: number, when: "beforePost" | "afterCommit") => {
  const child = spawn(
    nodeBinary,
    ["test/support/postCrashChild.ts", dir, secret, String(killAtPost), cap.toString(), when, String(parallel)],
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

/** Reopens the data directory (as a restarted node): the books, then how much of the cap is still free. */
const afterRestart = async (dir: string, secret: string, paymentId: string) => {
  const config = await postCrashConfig(dir, secret)
  const scope = Scope.makeUnsafe()
  try {
    const services = await Effect.runPromise(Scope.provide(scope)(Layer.build(servicesLayer(config))))
    return await Effect.runPromise(Effect.provideContext(
      Effect.gen(function*() {
        const [account] = yield* (yield* Ledger).balances([ids.incomingPayment(paymentId)])
        const totals = yield* ReceiptTotals
        const received = yield* totals.paymentTotal(paymentId)
        const reserve = (packetId: string, amount: bigint) =>
          totals.reserve({ connectionKey: "after-restart", amount, payment: { key: paymentId, cap }, packetId, pendingMs: 30_000 })
        const rest = yield* reserve("after-restart-1", cap - received)
        const oneMore = yield* reserve("after-restart-2", 1n)
        return { credited: account!.creditsPosted, pending: account!.creditsPending, received, rest, oneMore }
      }),
      services as never
    ))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const scenario = async (killAtPost: number, when: "beforePost" | "afterCommit") => {
  const dir = makeTempDir("ilp-receipts-capped-crash-")
  cleanups.push(() => removeTempDir(dir))
  const secret = randomBytes(32).toString("hex")
  const paymentId = await runUntilKilled(join(dir, "data"), secret, killAtPost, when)
  const books = await afterRestart(join(dir, "data"), secret, paymentId)
  expect(books.credited).toBeGreaterThan(0n)
  expect(books.credited % 10n).toBe(0n)
  expect(books.pending).toBe(0n)
  expect(books.received).toBe(books.credited)
  expect(books.rest).toMatchObject({ accepted: true, paymentTotal: cap })
  expect(books.oneMore).toEqual({ accepted: false, paymentTotal: cap, remaining: 0n })
  return books
}

describe("a capped payment killed with packets in flight (embedded profile, pending amounts in memory)", () => {
  it("(a) killed after the packets' reserves, before their post: total = credit, the rest of the cap is payable exactly", async () => {
    await scenario(2, "beforePost")
  }, 120_000)

  it("(b) killed right after a post's COMMIT: total = credit, the cap holds exactly", async () => {
    await scenario(2, "afterCommit")
  }, 120_000)
})
