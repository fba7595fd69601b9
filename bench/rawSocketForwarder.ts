/**
 * The limit: a null forwarder whose outgoing side is a minimal HTTP/1.1 keep-alive client on raw
 * `net` sockets (no logic, no HTTP library). It reads the request body, writes it to the peer on
 * an idle pooled socket, parses just enough of the answer (status line, Content-Length) to frame
 * it, and writes the peer's body back. Whatever any forwarder does beyond this is overhead.
 *
 * Only for the benchmark's own fulfilling peer (bench/peer.ts), which always answers with a
 * Content-Length; a chunked or malformed answer, or a closed socket, is a 502 here.
 *
 * Usage: node bench/rawSocketForwarder.ts <peer url> [connections]   (prints {"port":N}; SIGTERM stops it)
 */
import { createServer, type ServerResponse } from "node:http"
import { type AddressInfo, connect, type Socket } from "node:net"

const target = new URL(process.argv[2] ?? "")
const connectionsMax = Number(process.argv[3] ?? 64)
const answerBytesMax = 65_536
const head = (authorization: string, length: number) =>
  Buffer.from(
    `POST ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
      `Authorization: ${authorization}\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Length: ${length}\r\n\r\n`,
    "latin1"
  )

interface Exchange {
  readonly respond: (status: number, body: Buffer) => void
}

/** One keep-alive connection: one exchange at a time, answers framed by Content-Length. */
class Connection {
  private buffered: Buffer = Buffer.alloc(0)
  private current: Exchange | undefined
  readonly socket: Socket
  closed = false

  constructor(onIdle: (connection: Connection) => void, onClose: (connection: Connection) => void) {
    this.socket = connect({ host: target.hostname, port: Number(target.port) })
    this.socket.setNoDelay(true)
    this.socket.on("data", (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk])
      if (this.tryAnswer()) onIdle(this)
    })
    const close = () => {
      if (this.closed) return
      this.closed = true
      this.current?.respond(502, Buffer.alloc(0))
      this.current = undefined
      onClose(this)
    }
    this.socket.on("error", close)
    this.socket.on("close", close)
  }

  send(exchange: Exchange, authorization: string, body: Buffer): void {
    this.current = exchange
    this.socket.write(Buffer.concat([head(authorization, body.length), body]))
  }

  /** True when a whole answer was handed back and the connection is free again. */
  private tryAnswer(): boolean {
    const end = this.buffered.indexOf("\r\n\r\n")
    if (end < 0) return this.failIfTooLong()
    const header = this.buffered.subarray(0, end).toString("latin1")
    const status = Number(header.slice(9, 12))
    const match = /\r\ncontent-length:\s*(\d+)/i.exec(header)
    if (match === null || Number(match[1]) > answerBytesMax) {
      this.socket.destroy()
      return false
    }
    const total = end + 4 + Number(match[1])
    if (this.buffered.length < total) return false
    const body = this.buffered.subarray(end + 4, total)
    this.buffered = this.buffered.subarray(total)
    const exchange = this.current
    this.current = undefined
    exchange?.respond(status, Buffer.from(body))
    return true
  }

  private failIfTooLong(): boolean {
    if (this.buffered.length > answerBytesMax) this.socket.destroy()
    return false
  }
}

const idle: Array<Connection> = []
const waiting: Array<{ readonly exchange: Exchange; readonly authorization: string; readonly body: Buffer }> = []
let open = 0

const onIdle = (connection: Connection) => {
  const next = waiting.shift()
  if (next === undefined) idle.push(connection)
  else connection.send(next.exchange, next.authorization, next.body)
}
const onClose = (connection: Connection) => {
  open--
  const at = idle.indexOf(connection)
  if (at >= 0) idle.splice(at, 1)
}

const forward = (authorization: string, body: Buffer, response: ServerResponse) => {
  const exchange: Exchange = {
    respond: (status, reply) => {
      response.writeHead(status, { "content-type": "application/octet-stream", "content-length": String(reply.length) })
        .end(reply)
    }
  }
  const connection = idle.pop()
  if (connection !== undefined) return connection.send(exchange, authorization, body)
  if (open < connectionsMax) {
    open++
    return new Connection(onIdle, onClose).send(exchange, authorization, body)
  }
  waiting.push({ exchange, authorization, body })
}

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    forward(request.headers.authorization ?? "", chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), response)
  })
})
server.keepAliveTimeout = 60_000

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`)
})
process.on("SIGTERM", () => {
  server.closeAllConnections()
  for (const connection of idle) connection.socket.destroy()
  server.close(() => process.exit(0))
})
