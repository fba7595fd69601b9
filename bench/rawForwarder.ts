/**
 * The limit: a raw `node:http` forwarder with no logic. It reads the request body, POSTs it to the
 * peer over a keep-alive undici Pool (same pool settings as the node's peer client), and writes the
 * peer's answer back. Whatever the node does beyond this is what the benchmark's ratio measures.
 *
 * Usage: node bench/rawForwarder.ts <peer url> [connections]   (prints {"port":N}; SIGTERM stops it)
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Pool } from "undici"

const target = new URL(process.argv[2] ?? "")
const pool = new Pool(target.origin, {
  connections: Number(process.argv[3] ?? 64),
  pipelining: 1,
  keepAliveTimeout: 30_000
})
const path = `${target.pathname}${target.search}`

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", async () => {
    try {
      const answer = await pool.request({
        path,
        method: "POST",
        headers: {
          "content-type": "application/octet-stream",
          authorization: request.headers.authorization ?? ""
        },
        body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
      })
      const reply = Buffer.from(await answer.body.arrayBuffer())
      response.writeHead(answer.statusCode, {
        "content-type": "application/octet-stream",
        "content-length": String(reply.length)
      }).end(reply)
    } catch {
      response.writeHead(502).end()
    }
  })
})
server.keepAliveTimeout = 60_000

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`)
})
process.on("SIGTERM", () => {
  server.closeAllConnections()
  server.close(() => void pool.close().finally(() => process.exit(0)))
})
