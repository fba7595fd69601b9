/**
 * EXPERIMENT: bench/peer.ts over TLS, for measuring the peer client against `https:` peers
 * (bench/experiments/peerClient.ts ... https). Key and certificate from PEER_TLS_KEY / PEER_TLS_CERT
 * (PEM files); the client process must trust the certificate (NODE_EXTRA_CA_CERTS).
 *
 * Usage: node bench/experiments/httpsPeer.ts   (prints {"port":N}; SIGTERM stops it)
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:https"
import type { AddressInfo } from "node:net"
import { fulfillWith, prepareData } from "../common.ts"

const headers = { "content-type": "application/octet-stream", "content-length": "35" }
const server = createServer(
  { key: readFileSync(process.env.PEER_TLS_KEY ?? ""), cert: readFileSync(process.env.PEER_TLS_CERT ?? "") },
  (request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const data = prepareData(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
      if (data === undefined || data.length < 32) {
        response.writeHead(400).end()
        return
      }
      response.writeHead(200, headers).end(fulfillWith(data))
    })
  }
)
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`)
})
process.on("SIGTERM", () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
