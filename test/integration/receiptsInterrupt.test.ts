/**
 * Packets interrupted right after their receipt-total reserve (before the Fulfill is returned):
 * their ledger reservation is voided, and so is their receipt reservation. An `ilp-protocol-stream`
 * sender pays a capped incoming payment through the real pipeline, the real embedded ledger and the
 * real receipt store (SQLite files, or a real Redis); the first accepted reserves are each followed
 * by an interruption of the packet's fiber. The sender retries them, the payment completes at
 * exactly the cap, and the received total equals the ledger credit.
 *
 * In-process, so that the interruption lands exactly between the reserve and the Fulfill (the
 * store is wrapped: after an accepted reserve, the packet's fiber is interrupted). The same failure
 * through real processes and sockets is `receiptsRedisStall.test.ts`.
 */
import { Effect, Layer } from "effect"
import { createConnection } from "ilp-protocol-stream"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { newTransferId } from "../../src/Accounting/Ledger.ts"
import * as Config from "../../src/Config.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import * as ReceiptTotalsRedis from "../../src/Stream/ReceiptTotalsRedis.ts"
import * as ReceiptTotalsSqlite from "../../src/Stream/ReceiptTotalsSqlite.ts"
import { layerInLedger } from "../../src/Stream/ReceiptTotalsSqliteInLedger.ts"
import { type ReceiptsLayer, startPacketPath, usd } from "../support/packetPath.ts"
import { startRedis } from "../support/redis.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const cap = 5_000n
const interruptions = 5

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** The store, except that the first `count` accepted reserves interrupt their packet right after. */
const interruptingAfterReserve = (inner: ReceiptsLayer, count: number) => {
  const seen = { interrupted: 0 }
  const layer = Layer.effect(
    ReceiptTotals,
    Effect.map(ReceiptTotals, (totals) =>
      ReceiptTotals.of({
        ...totals,
        reserve: (request) =>
          Effect.tap(totals.reserve(request), (result) => {
            if (!result.accepted || seen.interrupted >= count) return Effect.void
            seen.interrupted++
            return Effect.interrupt
          })
      }))
  ).pipe(Layer.provide(inner))
  return { layer, seen }
}

const run = async (receiptStore: (dir: string) => ReceiptsLayer) => {
  const dir = makeTempDir("ilp-receipts-interrupt-")
  cleanups.push(async () => removeTempDir(dir))
  const config = await Effect.runPromise(Config.decodeConfig({
    ilpAddress: "test.shop",
    dataDir: dir,
    peers: [{ id: "sender", asset: usd, incomingTokens: ["interrupt-sender-token-000001"], staticIlpAddress: "test.sender", maxPacketAmount: "500" }]
  }, {}))
  const hooked = interruptingAfterReserve(receiptStore(dir), interruptions)
  const path = await startPacketPath(config, dir, hooked.layer, cap)
  cleanups.push(path.close)
  const { runIn, payment, credentials } = path
  const counts = { fulfilled: 0, rejected: 0, interrupted: 0 }
  /**
   * Right after each interrupted packet (the sender sends one packet at a time, so nothing else is
   * in flight): what the store counts against the cap (committed + pending, read from a refused
   * over-cap reserve) equals the ledger's credit, posted + pending. The interrupted packet's pending
   * amount was released at once, not left to lapse at the reservation timeout.
   */
  const checks: Array<string> = []
  const check = async () => {
    const probe = await runIn(Effect.flatMap(ReceiptTotals, (totals) =>
      totals.reserve({
        packetId: `probe-${newTransferId()}`,
        connectionKey: "probe",
        amount: cap + 1n,
        payment: { key: payment.id, cap },
        pendingMs: 1_000
      })))
    const account = await path.ledgerCredit()
    const ledger = account.creditsPosted + account.creditsPending
    checks.push(probe.paymentTotal === ledger ? "equal" : `counted ${probe.paymentTotal}, ledger ${ledger}`)
  }
  const plugin = path.plugin({
    onReply: (reply) => {
      if (reply.type === 13) counts.fulfilled++
      else counts.rejected++
    },
    onInterrupted: async () => {
      counts.interrupted++
      await check()
    }
  })
  const connection = await createConnection({
    plugin: plugin as never,
    destinationAccount: credentials.ilpAddress,
    sharedSecret: Buffer.from(credentials.sharedSecret)
  })
  await connection.createStream().sendTotal(Number(cap), { timeout: 60_000 })
  await connection.destroy().catch(() => undefined)

  const account = await path.ledgerCredit()
  const received = await runIn(Effect.flatMap(ReceiptTotals, (totals) => totals.paymentTotal(payment.id)))
  const state = await path.paymentState()
  return {
    afterEachInterruption: checks,
    interrupted: hooked.seen.interrupted,
    pluginSawInterrupted: counts.interrupted,
    received,
    credited: account.creditsPosted,
    pending: account.creditsPending,
    state
  }
}

const expected = {
  afterEachInterruption: Array.from({ length: interruptions }, () => "equal"),
  interrupted: interruptions,
  pluginSawInterrupted: interruptions,
  received: cap,
  credited: cap,
  pending: 0n,
  state: "completed"
}

describe("packets interrupted right after their receipt-total reserve", () => {
  it("embedded profile (SQLite receipt store): the payer still pays exactly the cap", async () => {
    expect(await run((dir) => ReceiptTotalsSqlite.layerSqlite({ filename: join(dir, "receipts.sqlite") }))).toEqual(expected)
  }, 90_000)

  it("embedded profile (receipt totals in the ledger's database, commit in the post): the payer still pays exactly the cap", async () => {
    expect(await run(() => layerInLedger())).toEqual(expected)
  }, 90_000)

  it("Redis receipt store: the payer still pays exactly the cap", async () => {
    const redis = await startRedis()
    cleanups.push(redis.stop)
    expect(await run(() => ReceiptTotalsRedis.layerRedis({ url: redis.url }))).toEqual(expected)
  }, 90_000)
})
