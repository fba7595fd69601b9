/**
 * The payments side of the STREAM receiver's seam, on a running embedded node: an open incoming
 * payment is read fresh (an operator's complete/cancel shows at once), a closed one stays closed,
 * recorded totals move the state, unknown or inactive receivers are answered as such.
 */
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, expect, it } from "vitest"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { ReceiverDirectory } from "../../src/Stream/ReceiverDirectory.ts"
import { runIn, startNode, type TestNode } from "../support/node.ts"

const usd = { code: "USD", scale: 2 }
let node: TestNode
let n = 0

beforeAll(async () => {
  node = await startNode({ ilpAddress: "test.directory", assets: [usd] })
})

afterAll(async () => {
  await node?.close()
})

const setup = (incomingAmount?: bigint) =>
  runIn(
    node,
    Effect.gen(function*() {
      const wallet = yield* (yield* WalletAddresses).create({ url: `https://wallet.test/d${++n}`, asset: usd })
      const payment = yield* (yield* IncomingPayments).create({ walletAddressId: wallet.id, incomingAmount })
      return { wallet, payment }
    })
  )

const lookup = (id: string) => runIn(node, Effect.flatMap(ReceiverDirectory, (directory) => directory.incomingPayment(id)))

it("an open payment is read fresh: completed through the operator, it is closed at once, and stays closed", async () => {
  const { wallet, payment } = await setup(1_000n)
  expect(await lookup(payment.id)).toMatchObject({
    kind: "incoming",
    open: true,
    state: "pending",
    asset: usd,
    incomingAmount: 1_000n,
    ledgerAccountId: payment.ledgerAccountId
  })
  await runIn(node, Effect.flatMap(IncomingPayments, (payments) => payments.complete(payment.id)))
  expect(await lookup(payment.id)).toMatchObject({ open: false, state: "completed" })
  expect(await lookup(payment.id)).toMatchObject({ open: false, state: "completed" })
  expect(await runIn(node, Effect.flatMap(ReceiverDirectory, (d) => d.walletAddress(wallet.id)))).toMatchObject({
    kind: "wallet",
    active: true,
    asset: usd
  })
})

it("recorded totals move the state: processing, then completed at the cap", async () => {
  const { payment } = await setup(1_000n)
  const record = async (total: bigint) => {
    const receiver = (await lookup(payment.id))!
    await runIn(node, Effect.flatMap(ReceiverDirectory, (d) => d.recordReceived(receiver, total)))
    return lookup(payment.id)
  }
  expect(await record(400n)).toMatchObject({ state: "processing", open: true })
  expect(await record(1_000n)).toMatchObject({ state: "completed", open: false })
})

it("unknown payments and wallets are undefined; a deactivated wallet reads inactive", async () => {
  expect(await lookup(randomUUID())).toBeUndefined()
  expect(await runIn(node, Effect.flatMap(ReceiverDirectory, (d) => d.walletAddress(randomUUID())))).toBeUndefined()
  const { wallet } = await setup()
  await runIn(node, Effect.flatMap(WalletAddresses, (w) => w.setActive(wallet.id, false)))
  expect(await runIn(node, Effect.flatMap(ReceiverDirectory, (d) => d.walletAddress(wallet.id)))).toMatchObject({ active: false })
})

it("an open payment whose expiry passes reads expired at once, though nothing was written", async () => {
  const wallet = await runIn(node, Effect.flatMap(WalletAddresses, (w) => w.create({ url: `https://wallet.test/d${++n}`, asset: usd })))
  const expiresAt = Date.now() + 1_000
  const payment = await runIn(
    node,
    Effect.flatMap(IncomingPayments, (payments) => payments.create({ walletAddressId: wallet.id, expiresAt }))
  )
  expect(await lookup(payment.id)).toMatchObject({ open: true, state: "pending" })
  // Poll (a loaded machine may be slow): the read answers expired once the clock passes the expiry.
  const deadline = Date.now() + 30_000
  let seen = await lookup(payment.id)
  while (seen?.open === true && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    seen = await lookup(payment.id)
  }
  expect(seen).toMatchObject({ open: false, state: "expired" })
  expect(Date.now()).toBeGreaterThanOrEqual(expiresAt)
})
