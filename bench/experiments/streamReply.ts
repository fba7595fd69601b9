/**
 * EXPERIMENT: the local receiver's STREAM work per packet in isolation: `CachedStreamServer.createReply`
 * (decrypt, parse, reply) + the receipt (`setTotalReceived`) + `accept` (encrypt), on pre-built
 * money packets with receipts, with the fulfillment already checked (as `StreamReceiver.deliver`
 * calls it). CPU µs per packet, best of `rounds`. For changes below the end-to-end noise.
 *
 * Usage: node bench/experiments/streamReply.ts [checkout=.] [packets=30000] [rounds=5]
 * (`checkout`: the repository whose src/Stream/StreamServerCached.ts is measured, e.g. a baseline worktree.)
 */
import { hmac, encrypt } from "@interledger/stream-receiver/dist/src/utils.js"
import { Packet, StreamMoneyFrame } from "ilp-protocol-stream/dist/src/packet.js"
import { createHash, randomBytes } from "node:crypto"
import { resolve } from "node:path"

const checkout = resolve(process.argv[2] ?? ".")
const packets = Number(process.argv[3] ?? 30_000)
const rounds = Number(process.argv[4] ?? 5)
const { CachedStreamServer } = await import(resolve(checkout, "src/Stream/StreamServerCached.ts")) as
  typeof import("../../src/Stream/StreamServerCached.ts")

const server = new CachedStreamServer({ serverSecret: randomBytes(32), serverAddress: "test.bench" })
const credentials = server.generateCredentials({
  paymentTag: "ip:bench",
  asset: { code: "USD", scale: 2 },
  receiptSetup: { nonce: randomBytes(16), secret: randomBytes(32) }
})
const encryptionKey = hmac(credentials.sharedSecret, Buffer.from("ilp_stream_encryption"))
const fulfillmentKey = hmac(credentials.sharedSecret, Buffer.from("ilp_stream_fulfillment"))
const prepared = Array.from({ length: packets }, (_, i) => {
  const data = encrypt(encryptionKey, new Packet(i + 1, 12 as never, 0, [new StreamMoneyFrame(1, 1)])._serialize())
  const fulfillment = hmac(fulfillmentKey, data)
  return {
    fulfillment,
    prepare: {
      amount: "10",
      expiresAt: new Date(Date.now() + 60_000),
      executionCondition: createHash("sha256").update(fulfillment).digest(),
      destination: credentials.ilpAddress,
      data
    }
  }
})

let best = Infinity
for (let round = 0; round < rounds; round++) {
  const before = process.cpuUsage()
  let total = 0n
  for (const { prepare, fulfillment } of prepared) {
    const reply = server.createReply(prepare, fulfillment)
    if (!("accept" in reply)) throw new Error("not accepted")
    total += 10n
    reply.setTotalReceived(total.toString())
    reply.accept()
  }
  const cpu = process.cpuUsage(before)
  const perPacket = (cpu.user + cpu.system) / packets
  best = Math.min(best, perPacket)
  process.stdout.write(`round ${round + 1}: ${perPacket.toFixed(2)} µs CPU per packet\n`)
}
process.stdout.write(`${checkout}: best ${best.toFixed(2)} µs CPU per packet (${packets} packets)\n`)
