/**
 * The STREAM reply packet written by hand (`StreamServerCached.ts` builds replies with it): the
 * bytes `ilp-protocol-stream`'s `Packet._serialize` writes for the replies the local receiver sends
 * on every packet (no frames, or StreamReceipt frames only), without its Writer, Predictor and
 * `Long`s. `StreamMoneyPacket.ts` is the reading side. test/Stream/StreamServerCached.test.ts
 * compares the bytes with the library's on boundary and random values.
 */
import { type Frame, FrameType, type StreamReceiptFrame } from "ilp-protocol-stream/dist/src/packet.js"
import type Long from "long"
import { lengthPrefixSize, writeLengthPrefix } from "../Connector/Packet.ts"

/** Bytes of an OER VarUInt's value (at least 1): what `oer-utils` writes after the length byte. */
const uintBytes = (value: bigint): number => {
  if (value <= 0xffffffffn) {
    const small = Number(value)
    return small <= 0xff ? 1 : small <= 0xffff ? 2 : small <= 0xffffff ? 3 : 4
  }
  let bytes = 5
  while (bytes < 8 && value >= 1n << BigInt(8 * bytes)) bytes++
  return bytes
}

const writeUIntBytes = (buffer: Buffer, offset: number, value: bigint, bytes: number): number => {
  if (bytes <= 4) {
    // Fits 32 bits: number arithmetic, no bigint per byte.
    const small = Number(value)
    for (let i = bytes - 1; i >= 0; i--) buffer[offset++] = (small >>> (8 * i)) & 0xff
    return offset
  }
  for (let i = bytes - 1; i >= 0; i--) buffer[offset++] = Number((value >> BigInt(8 * i)) & 0xffn)
  return offset
}

const writeVarUInt = (buffer: Buffer, offset: number, value: bigint): number => {
  const bytes = uintBytes(value)
  buffer[offset] = bytes
  return writeUIntBytes(buffer, offset + 1, value, bytes)
}

export const longToBigInt = (value: Long): bigint => (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0)

export interface ReceiptEntry {
  readonly streamId: bigint
  readonly receipt: Buffer
}

/** The STREAM packet with StreamReceipt frames only (none, or `receipts` in order); see `serializeReply`. */
export const serializeReceipts = (
  sequence: bigint,
  type: number,
  amount: bigint,
  receipts: ReadonlyArray<ReceiptEntry>
): Buffer => {
  const frameCount = BigInt(receipts.length)
  let size = 2 + 1 + uintBytes(sequence) + 1 + uintBytes(amount) + 1 + uintBytes(frameCount)
  const contentSizes: Array<number> = []
  for (const { receipt, streamId } of receipts) {
    const content = 1 + uintBytes(streamId) + lengthPrefixSize(receipt.length) + receipt.length
    size += 1 + lengthPrefixSize(content) + content
    contentSizes.push(content)
  }
  const buffer = Buffer.allocUnsafe(size)
  buffer[0] = 1
  buffer[1] = type
  let offset = writeVarUInt(buffer, 2, sequence)
  offset = writeVarUInt(buffer, offset, amount)
  offset = writeVarUInt(buffer, offset, frameCount)
  for (let i = 0; i < receipts.length; i++) {
    const { receipt, streamId } = receipts[i]!
    buffer[offset++] = FrameType.StreamReceipt
    offset = writeLengthPrefix(buffer, offset, contentSizes[i]!)
    offset = writeVarUInt(buffer, offset, streamId)
    offset = writeLengthPrefix(buffer, offset, receipt.length)
    offset += receipt.copy(buffer, offset)
  }
  return buffer
}

/**
 * The STREAM packet `Packet._serialize` writes (version 1, type, sequence, prepare amount, frames),
 * byte for byte, for the replies the receiver builds on every packet: no frames, or StreamReceipt
 * frames only. Undefined for any other frame (the caller then uses the library). Amounts are u64.
 */
export const serializeReply = (
  sequence: bigint,
  type: number,
  amount: bigint,
  frames: ReadonlyArray<Frame>
): Buffer | undefined => {
  const receipts: Array<ReceiptEntry> = []
  for (const frame of frames) {
    if (frame.type !== FrameType.StreamReceipt) return undefined
    const receiptFrame = frame as StreamReceiptFrame
    receipts.push({ streamId: longToBigInt(receiptFrame.streamId), receipt: receiptFrame.receipt })
  }
  return serializeReceipts(sequence, type, amount, receipts)
}
