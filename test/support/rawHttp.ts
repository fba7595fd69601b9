/** Raw HTTP/1.1 over a plain TCP socket: for tests that need to misbehave as a client would. */
import { connect, type Socket } from "node:net"

export interface RawExchange {
  /** Everything the server sent before the connection ended. */
  readonly received: Buffer
  /** The status code of the first answer, 0 when none arrived. */
  readonly status: number
  /** A socket error seen on our side (e.g. ECONNRESET), if any. */
  readonly error: string | undefined
}

export const statusOf = (received: Buffer): number => {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(received.subarray(0, 16).toString("latin1"))
  return match === null ? 0 : Number(match[1])
}

export const openSocket = (port: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.off("error", reject)
      resolve(socket)
    })
    socket.once("error", reject)
  })

/** Resolves when `socket` closes (by either side); what it received and any error. */
export const collect = (socket: Socket): Promise<RawExchange> =>
  new Promise((resolve) => {
    const parts: Array<Buffer> = []
    let error: string | undefined
    socket.on("data", (chunk: Buffer) => parts.push(chunk))
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message
    })
    socket.once("close", () => {
      const received = Buffer.concat(parts)
      resolve({ received, status: statusOf(received), error })
    })
  })

/**
 * Sends `head` and then `body` parts as fast as the socket takes them (errors ignored: the server may
 * close first) and resolves with what came back once the connection is closed.
 */
export const exchange = async (port: number, head: string, body: ReadonlyArray<Buffer> = []): Promise<RawExchange> => {
  const socket = await openSocket(port)
  const done = collect(socket)
  socket.write(head)
  for (const part of body) {
    if (socket.destroyed || socket.writableEnded) break
    socket.write(part)
  }
  // No half-close: Node aborts a request whose client half-closes before the answer.
  return done
}

/** One request with `Connection: close`, answered and closed: the whole answer. */
export const request = (port: number, lines: ReadonlyArray<string>, body: Buffer = Buffer.alloc(0)) =>
  exchange(port, [...lines, "host: 127.0.0.1", "connection: close", `content-length: ${body.length}`, "", ""].join("\r\n"), [body])
