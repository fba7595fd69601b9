/**
 * The fulfilling peer: a plain `node:http` server on 127.0.0.1 that answers every ILP Prepare with
 * a Fulfill whose fulfillment is the first 32 bytes of the Prepare's data (the load generator puts
 * the preimage there). No validation beyond finding the data: it is the far end of the yardstick.
 *
 * Usage: node bench/peer.ts [port]   (prints {"port":N} once listening; SIGTERM stops it)
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fulfillWith, prepareData } from "./common.ts"

const headers = { "content-type": "application/octet-stream", "content-length": "35" }

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    const data = prepareData(body)
    if (data === undefined || data.length < 32) {
      response.writeHead(400).end()
      return
    }
    response.writeHead(200, headers).end(fulfillWith(data))
  })
})
server.keepAliveTimeout = 60_000

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`)
})
process.on("SIGTERM", () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
