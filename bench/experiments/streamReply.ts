/**
 * EXPERIMENT: the local receiver's STREAM work per packet in isolation: the fulfillment HMAC and
 * its hash against the condition (as `StreamReceiver.match` does), then `CachedStreamServer.createReply`
 * (decrypt, parse, reply) + the receipt (`setTotalReceived`) + `accept` (encrypt), on pre-built
 * money packets with receipts, with the fulfillment already checked (as `StreamReceiver.deliver`
 * calls it). CPU µs per packet, best and median of `rounds`. For changes below the end-to-end noise.
 *
 * Usage: node bench/experiments/streamReply.ts [checkouts=.] [packets=30000] [rounds=5]
 * (`checkouts`: comma-separated repositories whose src/Stream/StreamServerCached.ts is measured,
 * e.g. `.,/work/base`: loaded side by side in this process, measured in alternating rounds.)
 */
import { hmac, encrypt } from "@interledger/stream-receiver/dist/src/utils.js"
import { Packet, StreamMoneyFrame } from "ilp-protocol-stream/dist/src/packet.js"
import { createHash, hash, randomBytes } from "node:crypto"
import { resolve } from "node:path"

const checkouts = (process.argv[2] ?? ".").split(",").map((checkout) => resolve(checkout))
const packets = Number(process.argv[3] ?? 30_000)
const rounds = Number(process.argv[4] ?? 5)
const serverSecret = randomBytes(32)
const servers = await Promise.all(checkouts.map(async (checkout) => {
  const { CachedStreamServer } = await import(resolve(checkout, "src/Stream/StreamServerCached.ts")) as
    typeof import("../../src/Stream/StreamServerCached.ts")
  return new CachedStreamServer({ serverSecret, serverAddress: "test.bench" })
}))
const credentials = servers[0]!.generateCredentials({
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

const sha256 = (bytes: Uint8Array) => hash("sha256", bytes, "buffer")
const perPacket: Array<Array<number>> = checkouts.map(() => [])
for (let round = 0; round < rounds; round++) {
  servers.forEach((server, i) => {
    const before = process.cpuUsage()
    let total = 0n
    for (const { prepare } of prepared) {
      const connection = server.connection(prepare.destination)!
      const fulfillment = server.fulfillmentFor(connection, prepare.data)
      if (!sha256(fulfillment).equals(prepare.executionCondition)) throw new Error("wrong fulfillment")
      const reply = server.createReply(prepare, fulfillment)
      if (!("accept" in reply)) throw new Error("not accepted")
      total += 10n
      reply.setTotalReceived(total.toString())
      reply.accept()
    }
    const cpu = process.cpuUsage(before)
    perPacket[i]!.push((cpu.user + cpu.system) / packets)
  })
}
checkouts.forEach((checkout, i) => {
  const sorted = [...perPacket[i]!].sort((a, b) => a - b)
  process.stdout.write(
    `${checkout}: best ${sorted[0]!.toFixed(2)}, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} µs CPU per packet ` +
      `(${packets} packets, ${rounds} rounds: ${perPacket[i]!.map((x) => x.toFixed(2)).join(" ")})\n`
  )
})
