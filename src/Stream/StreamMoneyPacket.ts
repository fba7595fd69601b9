/**
 * The usual incoming STREAM packet, read without the library: a Prepare whose frames are all
 * StreamMoney frames (what a sender's money packets carry). `Packet._deserializeUnencrypted`
 * (`ilp-protocol-stream`, with `oer-utils` and `Long`) costs a few µs and a dozen objects per packet
 * on the local delivery path (docs/performance/local-delivery.md).
 *
 * Exactness: `readMoneyPacket` answers only for input the library reads without throwing, and then
 * the same type, sequence and amount; for everything else (another frame type, a long-form length
 * prefix, a truncated or malformed field) it answers `undefined` and the caller uses the library,
 * which decides as it always did. It is stricter than the library, never looser
 * (test/Stream/StreamMoneyPacket.test.ts compares both on valid, random and mutated packets).
 */

/** `FrameType.StreamMoney` in `ilp-protocol-stream`. */
const streamMoneyType = 17
const version = 1

export interface MoneyPacket {
  readonly type: number
  readonly sequence: bigint
  readonly amount: bigint
}

/**
 * A short-form OER length prefix at `offset` (lengths 0..127; the long forms go to the library):
 * the length, or -1.
 */
const shortLength = (bytes: Uint8Array, offset: number): number => {
  if (offset >= bytes.length) return -1
  const length = bytes[offset]!
  return length > 127 ? -1 : length
}

/** Where the last `readVarUInt` ended (module state: reads are synchronous and never overlap). */
let next = 0

/**
 * A VarUInt of 1..8 bytes at `offset`, within `end`: its value, with `next` set to the offset after
 * it; undefined when malformed. Values that fit 32 bits are read as numbers (no bigint per byte).
 */
const readVarUInt = (bytes: Uint8Array, offset: number, end: number): bigint | undefined => {
  const length = shortLength(bytes, offset)
  if (length < 1 || length > 8) return undefined
  const start = offset + 1
  if (start + length > end) return undefined
  next = start + length
  if (length <= 4) {
    let small = 0
    for (let i = start; i < next; i++) small = small * 256 + bytes[i]!
    return BigInt(small)
  }
  let value = 0n
  for (let i = start; i < next; i++) value = (value << 8n) | BigInt(bytes[i]!)
  return value
}

/** The packet when it is version 1 with StreamMoney frames only (see the module comment); else undefined. */
export const readMoneyPacket = (bytes: Uint8Array): MoneyPacket | undefined => {
  const end = bytes.length
  if (end < 2 || bytes[0] !== version) return undefined
  const type = bytes[1]!
  const sequence = readVarUInt(bytes, 2, end)
  if (sequence === undefined) return undefined
  const amount = readVarUInt(bytes, next, end)
  if (amount === undefined) return undefined
  // The frame count: a VarUInt of 1..6 bytes (the library reads it as a JavaScript number).
  let offset = next
  const countLength = offset < end ? bytes[offset]! : 0
  if (countLength < 1 || countLength > 6 || offset + 1 + countLength > end) return undefined
  let count = 0
  for (let i = offset + 1; i <= offset + countLength; i++) count = count * 256 + bytes[i]!
  offset += 1 + countLength
  for (let frame = 0; frame < count; frame++) {
    if (offset >= end || bytes[offset] !== streamMoneyType) return undefined
    const contentLength = shortLength(bytes, offset + 1)
    const contentStart = offset + 2
    const contentEnd = contentStart + contentLength
    if (contentLength < 0 || contentEnd > end) return undefined
    // Stream id and shares, as the library reads them (anything after them in the frame is ignored there too).
    if (readVarUInt(bytes, contentStart, contentEnd) === undefined || readVarUInt(bytes, next, contentEnd) === undefined) {
      return undefined
    }
    offset = contentEnd
  }
  return { type, sequence, amount }
}
