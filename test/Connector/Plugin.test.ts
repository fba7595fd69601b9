/**
 * The in-process plugin against a running node (SPEC §2.2): ILDCP answers the local source's
 * address, a disconnected plugin refuses with a final reject, and `unfulfillable: true` creates no
 * transfer and moves no received total even when the receiver could have fulfilled the packet.
 */
import { generateEncryptionKey, generateFulfillmentKey, hmac } from "@interledger/pay/dist/src/utils.js"
import { Effect } from "effect"
import { Packet as StreamPacket, StreamMoneyFrame } from "ilp-protocol-stream/dist/src/packet.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import {
  decodeReply,
  encodePrepare,
  isDecodeFailure,
  PacketType,
  type Reply,
  sha256
} from "../../src/Connector/Packet.ts"
import { type IlpPlugin, localAccount, Plugins } from "../../src/Connector/Plugin.ts"
import { ildcpDestination, ildcpFulfillment } from "../../src/Connector/stages/OwnAddress.ts"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { type WalletAddress, WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { StreamCredentials } from "../../src/Stream/Credentials.ts"
import { ReceiptTotals } from "../../src/Stream/ReceiptTotals.ts"
import { runIn, startNode, type TestNode } from "../support/node.ts"
import { balanceOf, fundWallet } from "../support/sending.ts"

const usd = { code: "USD", scale: 2 }
let node: TestNode
let sender: WalletAddress

const pluginFor = (unfulfillable: boolean): Promise<IlpPlugin> =>
  runIn(node, Effect.map(Plugins, (plugins) =>
    plugins.makeIlpPlugin({
      sourceAccount: localAccount({
        id: "plugin-test",
        asset: usd,
        ledgerAccountId: sender.ledgerAccountId,
        ourAddress: node.ilpAddress
      }),
      unfulfillable
    })))

const replyOf = (bytes: Buffer): Reply => {
  const reply = decodeReply(bytes)
  if (isDecodeFailure(reply)) throw new Error(reply.reason)
  return reply
}

/** A STREAM Prepare carrying `amount` whose condition the receiver CAN fulfill. */
const streamPrepare = async (destination: string, sharedSecret: Uint8Array, amount: bigint) => {
  const secret = Buffer.from(sharedSecret)
  const prepareType = PacketType.Prepare as ConstructorParameters<typeof StreamPacket>[1]
  const stream = new StreamPacket(1, prepareType, 0, [new StreamMoneyFrame(1, 1)])
  const data = await stream.serializeAndEncrypt(generateEncryptionKey(secret))
  const fulfillment = hmac(generateFulfillmentKey(secret), data)
  return Buffer.from(encodePrepare({
    amount,
    expiresAt: Date.now() + 10_000,
    executionCondition: sha256(fulfillment),
    destination,
    data
  }))
}

beforeAll(async () => {
  node = await startNode({ ilpAddress: "test.plugin", assets: [usd] })
  sender = await runIn(node, Effect.flatMap(WalletAddresses, (w) => w.create({ url: "https://wallet.test/sender", asset: usd })))
  await fundWallet(node, sender, 10_000n)
})

afterAll(async () => {
  await node?.close()
})

describe("Connector/Plugin", () => {
  it("answers ILDCP with the local source's address and asset", async () => {
    const plugin = await pluginFor(false)
    await plugin.connect()
    expect(plugin.isConnected()).toBe(true)
    const reply = replyOf(await plugin.sendData(Buffer.from(encodePrepare({
      amount: 0n,
      expiresAt: Date.now() + 5_000,
      executionCondition: sha256(ildcpFulfillment),
      destination: ildcpDestination,
      data: new Uint8Array(0)
    }))))
    expect(reply.type).toBe(PacketType.Fulfill)
    if (reply.type === PacketType.Fulfill) {
      expect(Buffer.from(reply.fulfill.data).toString("latin1")).toContain("test.plugin.plugin-test")
      expect(Buffer.from(reply.fulfill.data).toString("latin1")).toContain("USD")
    }
    await plugin.disconnect()
  })

  it("refuses every packet with a final F02 while disconnected, and rejects garbage with F01", async () => {
    const plugin = await pluginFor(false)
    const before = replyOf(await plugin.sendData(Buffer.from([1, 2, 3])))
    expect(before.type === PacketType.Reject && before.reject.code).toBe("F02")
    await plugin.connect()
    const garbage = replyOf(await plugin.sendData(Buffer.from([1, 2, 3])))
    expect(garbage.type === PacketType.Reject && garbage.reject.code).toBe("F01")
    await plugin.disconnect()
    const after = replyOf(await plugin.sendData(Buffer.from([1, 2, 3])))
    expect(after.type === PacketType.Reject && after.reject.code).toBe("F02")
  })

  it("unfulfillable packets move nothing even when the receiver could fulfill them; the same packet fulfillable pays", async () => {
    const { payment, credentials } = await runIn(node, Effect.gen(function*() {
      const wallet = yield* (yield* WalletAddresses).create({ url: "https://wallet.test/receiver", asset: usd })
      const payment = yield* (yield* IncomingPayments).create({ walletAddressId: wallet.id, incomingAmount: 1_000n })
      const credentials = (yield* StreamCredentials).generate({ kind: "incoming", id: payment.id }, usd)
      return { payment, credentials }
    }))
    const received = () => runIn(node, Effect.flatMap(ReceiptTotals, (totals) => totals.paymentTotal(payment.id)))

    const probe = await pluginFor(true)
    await probe.connect()
    const probed = replyOf(await probe.sendData(await streamPrepare(credentials.ilpAddress, credentials.sharedSecret, 300n)))
    expect(probed.type === PacketType.Reject && probed.reject.code).toBe("F99")
    expect(await balanceOf(node, sender.ledgerAccountId)).toBe(10_000n)
    expect(await balanceOf(node, ids.incomingPayment(payment.id))).toBe(0n)
    expect(await received()).toBe(0n)

    const payer = await pluginFor(false)
    await payer.connect()
    const paid = replyOf(await payer.sendData(await streamPrepare(credentials.ilpAddress, credentials.sharedSecret, 300n)))
    expect(paid.type).toBe(PacketType.Fulfill)
    expect(await balanceOf(node, sender.ledgerAccountId)).toBe(9_700n)
    expect(await balanceOf(node, ids.incomingPayment(payment.id))).toBe(300n)
    expect(await received()).toBe(300n)
  })
})
