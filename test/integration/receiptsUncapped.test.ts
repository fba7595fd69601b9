/**
 * An uncapped incoming payment on the embedded (in-process) receipt store reserves nothing: the
 * receipt states the connection's committed total plus the packet, and the amount is added once the
 * ledger posted it (`StreamReceiver` `addsAfterPost`). Packets interrupted right after their receipt
 * was built (before the Fulfill is returned) are voided in the ledger and add nothing; after each,
 * the received total equals the ledger credit, and at the end the payment received exactly what
 * the sender sent, in the ledger and in the receipt totals, with nothing pending.
 *
 * In-process, so that the interruption lands exactly between building the receipt and the Fulfill
 * (the store is wrapped: after the connection-total read, the packet's fiber is interrupted).
 */
import { Effect, Layer } from "effect"
import { createConnection } from "ilp-protocol-stream"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as Config from "../../src/Config.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import * as ReceiptTotalsSqlite from "../../src/Stream/ReceiptTotalsSqlite.ts"
import { layerInLedger } from "../../src/Stream/ReceiptTotalsSqliteInLedger.ts"
import { startPacketPath, usd } from "../support/packetPath.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const total = 5_000n
const interruptions = 5

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const stores = [
  ["its own file", (dir: string) => ReceiptTotalsSqlite.layerSqlite({ filename: join(dir, "receipts.sqlite") })],
  // The embedded profile's store: the add runs in the ledger's post transaction.
  ["the ledger's database", () => layerInLedger()]
] as const

describe.each(stores)("an uncapped incoming payment on the embedded receipt store in %s", (_, store) => {
  it("adds each amount once posted, nothing for packets interrupted before their Fulfill; totals equal the ledger", async () => {
    const dir = makeTempDir("ilp-receipts-uncapped-")
    cleanups.push(async () => removeTempDir(dir))
    const config = await Effect.runPromise(Config.decodeConfig({
      ilpAddress: "test.shop",
      dataDir: dir,
      peers: [{ id: "sender", asset: usd, incomingTokens: ["uncapped-sender-token-000001"], staticIlpAddress: "test.sender", maxPacketAmount: "500" }]
    }, {}))
    const seen = { interrupted: 0, reserves: 0 }
    const receipts = Layer.effect(
      ReceiptTotals,
      Effect.map(ReceiptTotals, (totals) =>
        ReceiptTotals.of({
          ...totals,
          reserve: (request) => Effect.andThen(Effect.sync(() => seen.reserves++), totals.reserve(request)),
          get: (key) =>
            Effect.tap(totals.get(key), () => {
              if (seen.interrupted >= interruptions) return Effect.void
              seen.interrupted++
              return Effect.interrupt
            })
        }))
    ).pipe(Layer.provide(store(dir)))
    const path = await startPacketPath(config, dir, receipts)
    cleanups.push(path.close)
    const { runIn, payment, credentials, ledgerCredit } = path
    const received = () => runIn(Effect.flatMap(ReceiptTotals, (totals) => totals.paymentTotal(payment.id)))
    const checks: Array<string> = []
    let interruptedSeen = 0
    const plugin = path.plugin({
      onInterrupted: async () => {
        interruptedSeen++
        const account = await ledgerCredit()
        const counted = await received()
        checks.push(counted === account.creditsPosted + account.creditsPending ? "equal" : `counted ${counted}, ledger ${account.creditsPosted}+${account.creditsPending}`)
      }
    })
    const connection = await createConnection({
      plugin: plugin as never,
      destinationAccount: credentials.ilpAddress,
      sharedSecret: Buffer.from(credentials.sharedSecret)
    })
    await connection.createStream().sendTotal(Number(total), { timeout: 60_000 })
    await connection.destroy().catch(() => undefined)

    const account = await ledgerCredit()
    const state = await path.paymentState()
    expect({
      checks,
      interrupted: seen.interrupted,
      interruptedSeen,
      reserves: seen.reserves,
      received: await received(),
      credited: account.creditsPosted,
      pending: account.creditsPending,
      state
    }).toEqual({
      checks: Array.from({ length: interruptions }, () => "equal"),
      interrupted: interruptions,
      interruptedSeen: interruptions,
      reserves: 0,
      received: total,
      credited: total,
      pending: 0n,
      state: "processing"
    })
  }, 90_000)
})
