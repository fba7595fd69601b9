/**
 * `CachedStreamServer` must answer exactly as `@interledger/stream-receiver`'s `StreamServer`:
 * same reply kind, code, fulfillment, and the same decrypted STREAM frames (ciphertexts differ
 * only by their random IVs), for money, receipts, new connections, closes, probes and junk.
 */
import { StreamServer } from "@interledger/stream-receiver"
import { decrypt, encrypt, hmac } from "@interledger/stream-receiver/dist/src/utils.js"
import type * as IlpPacket from "ilp-packet"
import {
  ConnectionCloseFrame,
  ConnectionNewAddressFrame,
  ErrorCode,
  type Frame,
  FrameType,
  Packet,
  StreamMaxMoneyFrame,
  StreamMoneyFrame,
  StreamReceiptFrame
} from "ilp-protocol-stream/dist/src/packet.js"
import Long from "long"
import { verifyReceipt } from "ilp-protocol-stream/dist/src/util/receipt.js"
import { createHash, randomBytes } from "node:crypto"
import { describe, expect, it } from "vitest"
import { CachedStreamServer, connectionsCachedMax } from "../../src/Stream/StreamServerCached.ts"
import { serializeReply } from "../../src/Stream/StreamReplyPacket.ts"

const serverSecret = randomBytes(32)
const serverAddress = "test.receiver"
const library = new StreamServer({ serverSecret, serverAddress })
const cached = new CachedStreamServer({ serverSecret, serverAddress })
const receiptSecret = randomBytes(32)
const credentials = library.generateCredentials({
  paymentTag: "ip:payment-1",
  asset: { code: "USD", scale: 2 },
  receiptSetup: { nonce: randomBytes(16), secret: receiptSecret }
})
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest()
const encryptionKey = hmac(credentials.sharedSecret, Buffer.from("ilp_stream_encryption"))
const fulfillmentKey = hmac(credentials.sharedSecret, Buffer.from("ilp_stream_fulfillment"))

const prepareOf = (
  frames: Array<Frame>,
  options: { amount?: string; minimum?: number; condition?: Buffer; destination?: string; type?: number } = {}
): IlpPacket.IlpPrepare => {
  const stream = new Packet(7, (options.type ?? 12) as never, options.minimum ?? 0, frames)
  const data = encrypt(encryptionKey, stream._serialize())
  return {
    amount: options.amount ?? "100",
    expiresAt: new Date(Date.now() + 30_000),
    executionCondition: options.condition ?? sha256(hmac(fulfillmentKey, data)),
    destination: options.destination ?? credentials.ilpAddress,
    data
  }
}

/** A comparable view of a reply: kind, code, fulfillment and decrypted STREAM content. */
const view = (reply: ReturnType<StreamServer["createReply"]>, total?: string): Record<string, unknown> => {
  if ("accept" in reply) {
    if (total !== undefined) reply.setTotalReceived(total)
    return { money: reply.connectionId, tag: reply.paymentTag, ...view(reply.accept()) }
  }
  const content = reply.data.length === 0 ? undefined : Packet._deserializeUnencrypted(decrypt(encryptionKey, reply.data))
  const frames = content?.frames.map((frame) => {
    const { type, name, ...fields } = frame as Frame & { receipt?: Buffer }
    return { type, name, ...fields, ...("receipt" in fields ? { receipt: verifyReceipt(fields.receipt!, receiptSecret).totalReceived.toString() } : {}) }
  })
  return "fulfillment" in reply ?
    { fulfillment: reply.fulfillment.toString("hex"), sequence: content?.sequence.toString(), amount: content?.prepareAmount.toString(), frames } :
    { code: reply.code, triggeredBy: reply.triggeredBy, message: reply.message, sequence: content?.sequence.toString(), amount: content?.prepareAmount.toString(), frames }
}

const same = (prepare: IlpPacket.IlpPrepare, total?: string) =>
  expect(view(cached.createReply(prepare), total)).toEqual(view(library.createReply(prepare), total))

describe("CachedStreamServer", () => {
  it("accepts money like the library, with the same connection id, tag, fulfillment and receipt", () => {
    const prepare = prepareOf([new StreamMoneyFrame(1, 1)])
    same(prepare, "100")
    same(prepare, "12345")
    const reply = cached.createReply(prepare)
    expect("accept" in reply).toBe(true)
  })

  it("answers the same to a new connection (asset details), a close, too little, a probe and a non-prepare", () => {
    same(prepareOf([new ConnectionNewAddressFrame("test.sender")]), "0")
    same(prepareOf([new ConnectionNewAddressFrame("test.sender"), new StreamMoneyFrame(1, 1)]), "100")
    same(prepareOf([new ConnectionCloseFrame(ErrorCode.NoError, "bye")]))
    same(prepareOf([new StreamMoneyFrame(1, 1)], { minimum: 101 }))
    same(prepareOf([new StreamMoneyFrame(1, 1)], { condition: randomBytes(32) }))
    same(prepareOf([new StreamMoneyFrame(1, 1)], { amount: "0" }))
    same(prepareOf([], { type: 13 }))
  })

  it("answers the same when the caller already checked the condition: its fulfillment given, or null when unmet", () => {
    const prepare = prepareOf([new StreamMoneyFrame(1, 1)])
    const fulfillment = hmac(fulfillmentKey, prepare.data)
    expect(view(cached.createReply(prepare, fulfillment), "100")).toEqual(view(library.createReply(prepare), "100"))
    const probe = prepareOf([new StreamMoneyFrame(1, 1)], { condition: randomBytes(32) })
    expect(view(cached.createReply(probe, null))).toEqual(view(library.createReply(probe)))
    // Null refuses even a matching condition, exactly as a mismatch would be refused.
    expect(view(cached.createReply(prepare, null))).toEqual(view(library.createReply({ ...prepare, executionCondition: randomBytes(32) })))
    // What the library answers before looking at the condition is unchanged.
    for (const frames of [[new ConnectionCloseFrame(ErrorCode.NoError, "bye")], [new ConnectionNewAddressFrame("test.sender")]]) {
      const early = prepareOf(frames, { minimum: 101 })
      expect(view(cached.createReply(early, null))).toEqual(view(library.createReply(early)))
    }
  })

  it("answers the same to any number of receipts followed by accept, temporary or final decline, with or without asset details", () => {
    const answers = ["accept", "temporaryDecline", "finalDecline"] as const
    for (const newAddress of [false, true]) {
      for (const totals of [[], ["100"], ["100", "250"], ["1", "2", "18446744073709551615"]]) {
        for (const answer of answers) {
          const frames = newAddress ?
            [new ConnectionNewAddressFrame("test.sender"), new StreamMoneyFrame(1, 1)] :
            [new StreamMoneyFrame(1, 1)]
          const prepare = prepareOf(frames)
          const both = [cached.createReply(prepare), library.createReply(prepare)].map((reply) => {
            if (!("accept" in reply)) throw new Error("expected money")
            for (const total of totals) reply.setTotalReceived(total)
            return view(reply[answer]())
          })
          expect(both[0]).toEqual(both[1])
        }
      }
    }
  })

  it("encodes the usual replies byte for byte as the library; other frames are left to it", () => {
    const u64Max = 2n ** 64n - 1n
    const values = [0n, 1n, 127n, 128n, 255n, 256n, 65_535n, 65_536n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, u64Max - 1n, u64Max]
    const random = () => BigInt(`0x${randomBytes(8).toString("hex")}`) >> BigInt(randomBytes(1)[0]! % 64)
    const long = (value: bigint) => Long.fromString(value.toString(), true)
    for (let i = 0; i < 300; i++) {
      const sequence = i < values.length ? values[i]! : random()
      const amount = i < values.length ? values[values.length - 1 - i]! : random()
      const frames = [
        [],
        [new StreamReceiptFrame(1, randomBytes(58))],
        [new StreamReceiptFrame(long(random()), randomBytes(i % 300)), new StreamReceiptFrame(long(u64Max), randomBytes(128))]
      ][i % 3]!
      for (const type of [13, 14]) {
        const ours = serializeReply(sequence, type, amount, frames)
        expect(ours?.toString("hex")).toBe(new Packet(long(sequence), type as never, long(amount), frames)._serialize().toString("hex"))
      }
    }
    expect(serializeReply(1n, 14, 0n, [new StreamMaxMoneyFrame(1, 10, 0)])).toBeUndefined()
    expect(serializeReply(1n, 14, 0n, [new StreamReceiptFrame(1, randomBytes(58)), new ConnectionCloseFrame(ErrorCode.NoError, "")])).toBeUndefined()
  })

  it("refuses junk like the library: not our address (F02), a bad token or undecryptable data (F06)", () => {
    same(prepareOf([new StreamMoneyFrame(1, 1)], { destination: "test.elsewhere.abc" }))
    same(prepareOf([new StreamMoneyFrame(1, 1)], { destination: `${serverAddress}.${randomBytes(40).toString("base64url")}` }))
    const prepare = prepareOf([new StreamMoneyFrame(1, 1)])
    same({ ...prepare, data: randomBytes(60) })
    // Too short to carry a full 16-byte auth tag (or any tag): F06, never a truncated-tag check.
    for (const length of [0, 12, 20, 27, 28]) same({ ...prepare, data: prepare.data.subarray(0, length) })
    expect(cached.decodePaymentTag(credentials.ilpAddress)).toBe(library.decodePaymentTag(credentials.ilpAddress))
    expect(cached.decodePaymentTag("test.elsewhere.abc")).toBe(library.decodePaymentTag("test.elsewhere.abc"))
  })

  it("keeps at most connectionsCachedMax connections", () => {
    const server = new CachedStreamServer({ serverSecret, serverAddress })
    for (let i = 0; i < connectionsCachedMax + 5; i++) {
      server.connection(`${credentials.ilpAddress}.${i}`)
    }
    expect((server as unknown as { connections: Map<string, unknown> }).connections.size).toBe(connectionsCachedMax)
  })

  it("declines money over a maximum with F99 carrying StreamMaxMoney (receive max, total received)", () => {
    const reply = cached.createReply(prepareOf([new StreamMoneyFrame(1, 1)], { amount: "700" }))
    if (!("accept" in reply)) throw new Error("expected money")
    const reject = reply.declineOverMaximum(12_345n, 12_000n)
    expect({ code: reject.code, triggeredBy: reject.triggeredBy }).toEqual({ code: "F99", triggeredBy: serverAddress })
    const content = Packet._deserializeUnencrypted(decrypt(encryptionKey, reject.data))
    expect(content.sequence.toString()).toBe("7")
    expect(content.prepareAmount.toString()).toBe("700")
    const frame = content.frames.find((f) => f.type === FrameType.StreamMaxMoney) as StreamMaxMoneyFrame | undefined
    expect(frame?.streamId.toString()).toBe("1")
    expect(frame?.receiveMax.toString()).toBe("12345")
    expect(frame?.totalReceived.toString()).toBe("12000")
  })
})
