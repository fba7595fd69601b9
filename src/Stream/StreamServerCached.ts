/**
 * `@interledger/stream-receiver`'s `StreamServer` without its per-packet waste, for the local
 * delivery hot path. Same credentials, same replies, byte for byte in meaning (see
 * test/Stream/StreamServerCached.test.ts, which checks it against the library).
 *
 * What the library does on EVERY packet, and this does once per connection:
 * - decrypts the connection token in the destination address (AES-GCM) and parses it;
 * - derives the connection's shared secret, encryption key and fulfillment key (three HMACs);
 * - hashes the destination for the connection id;
 * - creates a `debug` logger (which probes the terminal with `isatty`).
 * And the keys are ready for use: the AES key a `KeyObject` (on Node 24, `createCipheriv` with a
 * Buffer key costs ~11 µs more per call), the HMAC keys as their padded blocks (`HmacSha256` in
 * `StreamCrypto.ts`: an HMAC is two one-shot hashes, no `Hmac` object).
 *
 * What still happens per packet: decrypt the STREAM data, HMAC the fulfillment, hash it against
 * the condition, encrypt the reply, HMAC the receipt — the work that depends on the packet.
 *
 * Bounded: at most `connectionsCachedMax` connections are kept (oldest dropped first); a destination
 * whose token does not decrypt is not cached, so junk addresses cannot churn the cache faster than
 * they cost us to decrypt anyway.
 */
import { type IncomingMoney, StreamServer } from "@interledger/stream-receiver"
import { hmac } from "@interledger/stream-receiver/dist/src/utils.js"
import type * as IlpPacket from "ilp-packet"
import {
  ConnectionAssetDetailsFrame,
  ConnectionCloseFrame,
  ErrorCode,
  type Frame,
  FrameType,
  Packet,
  StreamMaxMoneyFrame,
  StreamReceiptFrame
} from "ilp-protocol-stream/dist/src/packet.js"
import Long from "long"
import type { LongValue } from "ilp-protocol-stream/dist/src/util/long.js"
import { type MoneyPacket, readMoneyPacket as readMoney } from "./StreamMoneyPacket.ts"
import { longToBigInt, type ReceiptEntry, serializeReceipts, serializeReply } from "./StreamReplyPacket.ts"
import { createHash, createSecretKey, type KeyObject } from "node:crypto"
import { decrypt, encrypt, HmacSha256, makeIvSource } from "./StreamCrypto.ts"
import { sha256Matches } from "../Connector/Packet.ts"

/** Most connections whose derived keys are kept in memory. */
export const connectionsCachedMax = 10_000

const sharedSecretString = Buffer.from("ilp_stream_shared_secret")
const encryptionKeyString = Buffer.from("ilp_stream_encryption")
const fulfillmentKeyString = Buffer.from("ilp_stream_fulfillment")
const ilpPrepareType = 12
const ilpFulfillType = 13
const ilpRejectType = 14

interface TokenDetails {
  readonly paymentTag?: string
  readonly receiptSetup?: { readonly nonce: Buffer; readonly secret: Buffer }
  readonly asset?: { readonly code: string; readonly scale: number }
}

/** The library's own token parsing (private there), reused once per connection. */
interface LibraryInternals {
  extractLocalAddressSegment(destination: string): string | undefined
  decryptToken(token: Buffer): TokenDetails | undefined
}

/** Everything about one connection that does not depend on the packet. */
export interface Connection {
  readonly connectionId: string
  readonly paymentTag: string | undefined
  readonly asset: { readonly code: string; readonly scale: number } | undefined
  readonly sharedSecret: Buffer
  readonly encryptionKey: KeyObject
  readonly fulfillmentKey: HmacSha256
  readonly receipt: { readonly nonce: Buffer; readonly secret: HmacSha256 } | undefined
}

const receiptBodyBytes = 26
const receiptBytes = receiptBodyBytes + 32

/** A STREAM receipt (RFC 39): version 1 ‖ nonce ‖ stream id ‖ u64 total ‖ HMAC-SHA256 of those. */
const receiptOf = (receipt: NonNullable<Connection["receipt"]>, streamId: number, totalReceived: bigint): Buffer => {
  const out = Buffer.allocUnsafe(receiptBytes)
  out[0] = 1
  receipt.nonce.copy(out, 1, 0, 16)
  out[17] = streamId
  out.writeBigUInt64BE(totalReceived, 18)
  receipt.secret.digestInto(out.subarray(0, receiptBodyBytes), out, receiptBodyBytes)
  return out
}

const noReceipts: ReadonlyArray<ReceiptEntry> = []

/**
 * Builds the encrypted STREAM reply the way the library's `ReplyBuilder` does. The usual reply
 * (no frame, or one receipt) keeps the receipt as is and is serialized by `serializeReceipts`,
 * without `Frame` objects or `Long`s; any other frame turns the receipt into a `StreamReceiptFrame`
 * in its place, and that reply is serialized by `serializeReply` (or the library).
 */
class Reply {
  private frames: Array<Frame> | undefined = undefined
  private receipt: Buffer | undefined = undefined
  private sequence = 0n
  private receivedAmount = 0n
  private key: KeyObject | undefined = undefined
  private readonly ilpAddress: string
  private readonly iv: () => Buffer

  constructor(ilpAddress: string, iv: () => Buffer) {
    this.ilpAddress = ilpAddress
    this.iv = iv
  }

  secure(key: KeyObject, sequence: bigint, receivedAmount: bigint): this {
    this.key = key
    this.sequence = sequence
    this.receivedAmount = receivedAmount
    return this
  }

  add(frame: Frame): this {
    if (this.frames === undefined) {
      this.frames = this.receipt === undefined ? [] : [new StreamReceiptFrame(1, this.receipt)]
      this.receipt = undefined
    }
    this.frames.push(frame)
    return this
  }

  /** A StreamReceipt frame for stream 1 (what `add(new StreamReceiptFrame(1, receipt))` adds). */
  addReceipt(receipt: Buffer): this {
    if (this.frames === undefined && this.receipt === undefined) {
      this.receipt = receipt
      return this
    }
    return this.add(new StreamReceiptFrame(1, receipt))
  }

  private data(type: number): Buffer {
    if (this.key === undefined) return Buffer.alloc(0)
    const plaintext = this.frames === undefined ?
      serializeReceipts(
        this.sequence,
        type,
        this.receivedAmount,
        this.receipt === undefined ? noReceipts : [{ streamId: 1n, receipt: this.receipt }]
      ) :
      serializeReply(this.sequence, type, this.receivedAmount, this.frames) ??
        new Packet(u64(this.sequence), type as never, u64(this.receivedAmount), this.frames)._serialize()
    return encrypt(this.key, this.iv(), plaintext)
  }

  fulfill(fulfillment: Buffer): IlpPacket.IlpFulfill {
    return { fulfillment, data: this.data(ilpFulfillType) }
  }

  reject(code: string): IlpPacket.IlpReject {
    return { code, message: "", triggeredBy: this.ilpAddress, data: this.data(ilpRejectType) }
  }
}

/**
 * Money the receiver could accept, as the library offers it, plus one more way to refuse it: F99
 * with a StreamMaxMoney frame (stream 1, the stream receipts are on) telling the sender the most the
 * stream may receive in total, for a payment that can take some but not all of this packet.
 */
export interface CachedIncomingMoney extends IncomingMoney {
  declineOverMaximum(receiveMax: bigint, totalReceived: bigint): IlpPacket.IlpReject
  /** `setTotalReceived` from a bigint (no string round trip). */
  setTotal(totalReceived: bigint): void
}

/** The money a reply may accept: `CachedIncomingMoney` as one object per packet (no closures). */
class MoneyReply implements CachedIncomingMoney {
  private readonly reply: Reply
  private readonly connection: Connection
  private readonly fulfillment: Buffer

  constructor(reply: Reply, connection: Connection, fulfillment: Buffer) {
    this.reply = reply
    this.connection = connection
    this.fulfillment = fulfillment
  }

  get connectionId(): string {
    return this.connection.connectionId
  }

  get paymentTag(): string | undefined {
    return this.connection.paymentTag
  }

  setTotalReceived(totalReceived: LongValue): void {
    this.setTotal(BigInt(totalReceived.toString()))
  }

  setTotal(totalReceived: bigint): void {
    if (this.connection.receipt !== undefined) this.reply.addReceipt(receiptOf(this.connection.receipt, 1, totalReceived))
  }

  accept(): IlpPacket.IlpFulfill {
    return this.reply.fulfill(this.fulfillment)
  }

  temporaryDecline(): IlpPacket.IlpReject {
    return this.reply.reject("T00")
  }

  finalDecline(): IlpPacket.IlpReject {
    return this.reply.add(new ConnectionCloseFrame(ErrorCode.NoError, "")).reject("F99")
  }

  declineOverMaximum(receiveMax: bigint, totalReceived: bigint): IlpPacket.IlpReject {
    return this.reply.add(new StreamMaxMoneyFrame(1, u64(receiveMax), u64(totalReceived))).reject("F99")
  }
}

const u64 = (value: bigint): Long => Long.fromString(value.toString(), true)

/** What the reply needs of the incoming STREAM packet. */
interface IncomingPacket extends MoneyPacket {
  readonly frames?: ReadonlyArray<Frame>
}

/** The library's parse, for packets `readMoneyPacket` leaves to it; undefined when it throws. */
const readByLibrary = (plaintext: Buffer): IncomingPacket | undefined => {
  try {
    const packet = Packet._deserializeUnencrypted(plaintext)
    return {
      type: +packet.ilpPacketType,
      sequence: longToBigInt(packet.sequence),
      amount: longToBigInt(packet.prepareAmount),
      frames: packet.frames
    }
  } catch {
    return undefined
  }
}


export class CachedStreamServer extends StreamServer {
  private readonly address: string
  private readonly secretKeyGen: Buffer
  private readonly connections = new Map<string, Connection>()
  private readonly iv = makeIvSource()

  constructor(options: { readonly serverSecret: Buffer; readonly serverAddress: string }) {
    super(options)
    this.address = options.serverAddress
    this.secretKeyGen = hmac(options.serverSecret, sharedSecretString)
  }

  /** The connection a destination address names, or undefined if its token is not one of ours. */
  connection(destination: string): Connection | undefined {
    const cached = this.connections.get(destination)
    if (cached !== undefined) return cached
    const library = this as unknown as LibraryInternals
    const segment = library.extractLocalAddressSegment(destination)
    if (segment === undefined) return undefined
    const token = Buffer.from(segment, "base64")
    const details = library.decryptToken(token)
    if (details === undefined) return undefined
    const sharedSecret = hmac(this.secretKeyGen, token)
    const connection: Connection = {
      connectionId: createHash("sha256").update(destination, "ascii").digest("hex"),
      paymentTag: details.paymentTag,
      asset: details.asset,
      sharedSecret,
      encryptionKey: createSecretKey(hmac(sharedSecret, encryptionKeyString)),
      fulfillmentKey: new HmacSha256(hmac(sharedSecret, fulfillmentKeyString)),
      receipt: details.receiptSetup === undefined ?
        undefined :
        { nonce: details.receiptSetup.nonce, secret: new HmacSha256(details.receiptSetup.secret) }
    }
    if (this.connections.size >= connectionsCachedMax) {
      const oldest = this.connections.keys().next()
      if (oldest.done !== true) this.connections.delete(oldest.value)
    }
    this.connections.set(destination, connection)
    return connection
  }

  /** The STREAM fulfillment for a Prepare's data on this connection. */
  fulfillmentFor(connection: Connection, data: Uint8Array): Buffer {
    return connection.fulfillmentKey.digest(data)
  }

  override decodePaymentTag(destinationAddress: string): string | void {
    return this.connection(destinationAddress)?.paymentTag
  }

  /**
   * `checked`: what the caller already knows of this Prepare's condition (so the fulfillment HMAC
   * and its hash are not computed twice): the fulfillment for its data when it was checked to
   * match the condition, `null` when it was checked NOT to (answered like a condition mismatch);
   * undefined: not checked, computed here as the library does.
   */
  override createReply(prepare: IlpPacket.IlpPrepare, checked?: Buffer | null): CachedIncomingMoney | IlpPacket.IlpReply {
    return this.replyTo(prepare.destination, prepare.data, BigInt(prepare.amount), checked, prepare.executionCondition)
  }

  /**
   * `createReply` without the `IlpPrepare` (its amount as a string, its expiry as a `Date`): the
   * Prepare's destination, data and amount, and `checked` as there; `executionCondition` is only
   * read when `checked` is undefined (then the fulfillment is hashed against it here).
   */
  replyTo(
    destination: string,
    data: Buffer,
    receivedAmount: bigint,
    checked: Buffer | null | undefined,
    executionCondition?: Uint8Array
  ): CachedIncomingMoney | IlpPacket.IlpReply {
    const reply = new Reply(this.address, this.iv)
    // A remembered connection's address had its segment (it was cached only after decrypting it).
    let connection = this.connections.get(destination)
    if (connection === undefined) {
      const library = this as unknown as LibraryInternals
      if (library.extractLocalAddressSegment(destination) === undefined) return reply.reject("F02")
      connection = this.connection(destination)
      if (connection === undefined) return reply.reject("F06")
    }

    let plaintext: Buffer
    try {
      plaintext = decrypt(connection.encryptionKey, data)
    } catch {
      return reply.reject("F06")
    }
    // StreamMoney frames only (the usual money packet): read by hand; anything else by the library.
    // (StreamMoney frames do not matter to the reply: the hand-read packet has none to look at.)
    const request: IncomingPacket | undefined = readMoney(plaintext) ?? readByLibrary(plaintext)
    if (request === undefined) return reply.reject("F06")
    if (request.type !== ilpPrepareType) return reply.reject("F00")
    reply.secure(connection.encryptionKey, request.sequence, receivedAmount)

    const frames = request.frames
    if (frames !== undefined) {
      if (frames.some((frame) => frame.type === FrameType.ConnectionClose)) {
        return reply.add(new ConnectionCloseFrame(ErrorCode.NoError, "")).reject("F99")
      }
      const isNewConnection = frames.some((frame) => frame.type === FrameType.ConnectionNewAddress)
      if (isNewConnection && connection.asset !== undefined) {
        reply.add(new ConnectionAssetDetailsFrame(connection.asset.code, connection.asset.scale))
      }
    }
    if (receivedAmount < request.amount) return reply.reject("F99")

    if (checked === null) return reply.reject("F99")
    const fulfillment = checked ?? this.fulfillmentFor(connection, data)
    if (checked === undefined && (executionCondition === undefined || !sha256Matches(fulfillment, executionCondition))) {
      return reply.reject("F99")
    }
    if (receivedAmount === 0n) return reply.fulfill(fulfillment)
    return new MoneyReply(reply, connection, fulfillment)
  }
}
