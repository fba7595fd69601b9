/**
 * Real STREAM money Prepares for a receiver's credentials, built without a STREAM client: one
 * StreamMoney frame (stream 1, one share) per packet, encrypted with the connection's shared secret,
 * the condition from STREAM's fulfillment key. For tests and bench experiments that drive the
 * packet path directly.
 */
import { encrypt, hmac } from "@interledger/stream-receiver/dist/src/utils.js"
import { Packet, StreamMoneyFrame } from "ilp-protocol-stream/dist/src/packet.js"
import { encodePrepare, sha256 } from "../../src/Connector/Packet.ts"

/** A builder of encoded Prepares of `amount` to `ilpAddress`, each with the next STREAM sequence number. */
export const streamMoneyPrepares = (
  credentials: { readonly ilpAddress: string; readonly sharedSecret: Uint8Array },
  options: { readonly amount: bigint; readonly expiresInMs: number }
): () => Uint8Array => {
  const sharedSecret = Buffer.from(credentials.sharedSecret)
  const encryptionKey = hmac(sharedSecret, Buffer.from("ilp_stream_encryption"))
  const fulfillmentKey = hmac(sharedSecret, Buffer.from("ilp_stream_fulfillment"))
  let sequence = 0
  return () => {
    const stream = new Packet(++sequence, 12 as never, 0, [new StreamMoneyFrame(1, 1)])
    const data = encrypt(encryptionKey, stream._serialize())
    return encodePrepare({
      amount: options.amount,
      expiresAt: Date.now() + options.expiresInMs,
      executionCondition: sha256(hmac(fulfillmentKey, data)),
      destination: credentials.ilpAddress,
      data
    })
  }
}
