/**
 * The lean HTTP/1.1 pool (src/Http/Http1Client.ts) against real servers on 127.0.0.1: node:http
 * servers, and raw `net` servers that answer the way hostile or broken peers do. Over 400 lines
 * because the raw-server harness and the cases that need it (plain and TLS) belong together.
 */
import { once } from "node:events"
import { createServer as createHttpServer, type Server as HttpServer } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { type AddressInfo, createServer, type Server, type Socket } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { type Http1Error, Http1Pool, type Http1PoolOptions } from "../../src/Http/Http1Client.ts"
import { defaultResponseLimits } from "../../src/Http/Http1Response.ts"
import { makeTestCertificate } from "../support/tlsCert.ts"
import { waitUntil } from "../support/wait.ts"

interface Outcome {
  readonly error: Http1Error | undefined
  readonly status: number
  readonly body: string
}

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const makePool = (port: number, options: Partial<Http1PoolOptions> = {}): Http1Pool => {
  const pool = new Http1Pool({
    host: "127.0.0.1",
    port,
    connectionsMax: 4,
    queuedMax: 16,
    keepAliveTimeoutMs: 30_000,
    limits: defaultResponseLimits,
    ...options
  })
  cleanups.push(() => pool.destroy())
  return pool
}

const payload = (body: string) =>
  Buffer.from(`POST /ilp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, "latin1")

const send = (pool: Http1Pool, body = "prepare") => {
  let resolve!: (outcome: Outcome) => void
  const result = new Promise<Outcome>((r) => (resolve = r))
  const exchange = pool.request(payload(body), (error, status, reply) => resolve({ error, status, body: reply.toString("latin1") }))
  return { exchange, result }
}

const request = (pool: Http1Pool, body = "prepare") => send(pool, body).result

// ---------------------------------------------------------------------------------------------
// A raw server: frames each request (head + Content-Length body) and lets the test answer.
// ---------------------------------------------------------------------------------------------

interface RawRequest {
  readonly socket: Socket
  readonly body: string
  /** Requests seen on this socket before this one. */
  readonly onSocket: number
}

interface RawServer {
  readonly port: number
  readonly requests: Array<RawRequest>
  /** Sockets accepted so far. */
  readonly accepted: () => number
  /** Sockets the client half-closed first (it sent FIN before we ended). */
  readonly endedByClient: () => number
  readonly closedSockets: () => number
}

const listen = async (server: Server | HttpServer): Promise<number> => {
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  return (server.address() as AddressInfo).port
}

const startRaw = async (answer: (request: RawRequest) => void): Promise<RawServer> => {
  const requests: Array<RawRequest> = []
  const sockets = new Set<Socket>()
  let accepted = 0
  let endedByClient = 0
  let closed = 0
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++
    sockets.add(socket)
    let buffered = Buffer.alloc(0)
    let onSocket = 0
    let weEnded = false
    const end = socket.end.bind(socket)
    socket.end = ((...args: Parameters<Socket["end"]>) => {
      weEnded = true
      return end(...args)
    }) as Socket["end"]
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      for (;;) {
        const headEnd = buffered.indexOf("\r\n\r\n")
        if (headEnd < 0) return
        const length = Number(/content-length: (\d+)/i.exec(buffered.subarray(0, headEnd).toString("latin1"))?.[1] ?? 0)
        if (buffered.length < headEnd + 4 + length) return
        const body = buffered.subarray(headEnd + 4, headEnd + 4 + length).toString("latin1")
        buffered = buffered.subarray(headEnd + 4 + length)
        const raw = { socket, body, onSocket: onSocket++ }
        requests.push(raw)
        answer(raw)
      }
    })
    socket.on("end", () => {
      if (!weEnded) endedByClient++
      socket.end()
    })
    socket.on("error", () => undefined)
    socket.on("close", () => {
      closed++
      sockets.delete(socket)
    })
  })
  const port = await listen(server)
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return { port, requests, accepted: () => accepted, endedByClient: () => endedByClient, closedSockets: () => closed }
}

const answerWith = (text: string) => ({ socket }: RawRequest) => socket.write(Buffer.from(text, "latin1"))
const ok = (body: string, extra = "") => `HTTP/1.1 200 OK\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`

/** Writes `text` one byte per write, yielding to the event loop between writes. */
const writeByteByByte = async (socket: Socket, text: string) => {
  for (const byte of Buffer.from(text, "latin1")) {
    if (socket.destroyed) return
    socket.write(Buffer.from([byte]))
    await new Promise((resolve) => setImmediate(resolve))
  }
}

const startHttp = async (handler: Parameters<typeof createHttpServer>[1]): Promise<{ port: number; connections: () => number }> => {
  let connections = 0
  const server = createHttpServer(handler)
  server.on("connection", () => connections++)
  const port = await listen(server)
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { port, connections: () => connections }
}

describe("Http1Pool: answers it must read", () => {
  it("keep-alive against node:http: five requests, one connection, bodies echoed", async () => {
    const server = await startHttp((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => response.end(Buffer.concat(chunks)))
    })
    const pool = makePool(server.port)
    for (let i = 0; i < 5; i++) {
      expect(await request(pool, `packet ${i}`)).toEqual({ error: undefined, status: 200, body: `packet ${i}` })
    }
    expect(server.connections()).toBe(1)
    expect(pool.stats()).toEqual({ open: 1, idle: 1, queued: 0 })
  })

  it("a chunked answer from node:http, then the socket is reused", async () => {
    const server = await startHttp((_request, response) => {
      response.write("ab")
      setImmediate(() => {
        response.write("cd")
        response.end("e")
      })
    })
    const pool = makePool(server.port)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "abcde" })
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "abcde" })
    expect(server.connections()).toBe(1)
  })

  it("chunked with extensions and trailers, written one byte at a time", async () => {
    const reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=\"v\"\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    const server = await startRaw(({ socket }) => void writeByteByByte(socket, reply))
    const pool = makePool(server.port)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "abcde" })
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "abcde" })
    expect(server.accepted()).toBe(1)
  })

  it("100 Continue before the answer is skipped", async () => {
    const server = await startRaw(answerWith(`HTTP/1.1 100 Continue\r\n\r\n${ok("after")}`))
    const pool = makePool(server.port)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "after" })
  })

  it("Connection: close → the socket is closed after the reply and the next request opens another", async () => {
    const server = await startHttp((_request, response) => {
      response.setHeader("connection", "close")
      response.end("bye")
    })
    const pool = makePool(server.port)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "bye" })
    expect(pool.stats().open).toBe(0)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "bye" })
    expect(server.connections()).toBe(2)
  })

  it("HTTP/1.0 with no length: read to the close, socket not reused", async () => {
    const server = await startRaw(({ socket }) => socket.end("HTTP/1.0 200 OK\r\nServer: old\r\n\r\nto the end"))
    const pool = makePool(server.port)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "to the end" })
    expect(pool.stats().open).toBe(0)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "to the end" })
    expect(server.accepted()).toBe(2)
  })

  it("a non-2xx status is answered with its status and the socket is reused", async () => {
    const server = await startRaw(answerWith("HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"))
    const pool = makePool(server.port)
    expect(await request(pool)).toEqual({ error: undefined, status: 503, body: "" })
    expect(await request(pool)).toEqual({ error: undefined, status: 503, body: "" })
    expect(server.accepted()).toBe(1)
  })
})

describe("Http1Pool: failures", () => {
  const failsWith = async (pool: Http1Pool, kind: Http1Error["kind"]) => {
    const outcome = await request(pool)
    expect(outcome.error?.kind, outcome.error?.message ?? `status ${outcome.status}`).toBe(kind)
    return outcome.error!
  }

  it("refused → unreachable", async () => {
    const server = createServer()
    const port = await listen(server)
    await new Promise((resolve) => server.close(resolve))
    const pool = makePool(port)
    expect((await failsWith(pool, "unreachable")).message).toMatch(/ECONNREFUSED/)
    expect(pool.stats().open).toBe(0)
  })

  it("reset mid-headers and mid-body → unreachable, and the request is not sent again", async () => {
    for (const partial of ["HTTP/1.1 200 OK\r\nContent-Le", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]) {
      const server = await startRaw(({ socket }) => {
        socket.write(partial, () => socket.resetAndDestroy())
      })
      const pool = makePool(server.port)
      await failsWith(pool, "unreachable")
      expect(server.requests.length).toBe(1)
      expect(pool.stats().open).toBe(0)
    }
  })

  it("EOF before a complete reply → unreachable", async () => {
    const server = await startRaw(({ socket }) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
    const pool = makePool(server.port)
    await failsWith(pool, "unreachable")
  })

  it("malformed replies → unreachable, socket destroyed", async () => {
    const replies = [
      "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/9 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "garbage\r\n\r\n",
      `HTTP/1.1 200 OK\r\nX-Big: ${"h".repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok`
    ]
    for (const reply of replies) {
      const server = await startRaw(answerWith(reply))
      const pool = makePool(server.port)
      await failsWith(pool, "unreachable")
      await waitUntil(() => server.closedSockets() === 1, 10_000, "the server to see the socket closed")
    }
  })

  it("a 2xx body over 64 KiB → tooLarge, by Content-Length and as an endless chunked stream", async () => {
    const big = await startRaw(answerWith(`HTTP/1.1 200 OK\r\nContent-Length: ${64 * 1024 + 1}\r\n\r\n`))
    await failsWith(makePool(big.port), "tooLarge")

    let written = 0
    const endless = await startRaw(({ socket }) => {
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
      const chunk = `1000\r\n${"x".repeat(0x1000)}\r\n`
      const pump = () => {
        while (!socket.destroyed && written < 10_000_000) {
          written += chunk.length
          if (!socket.write(chunk)) return void socket.once("drain", pump)
        }
      }
      socket.on("error", () => undefined)
      pump()
    })
    const pool = makePool(endless.port)
    await failsWith(pool, "tooLarge")
    await waitUntil(() => endless.closedSockets() === 1, 10_000, "the client to close the endless stream")
    expect(written).toBeLessThan(10_000_000)
  })

  it("bytes after a complete reply → the socket is not reused", async () => {
    const server = await startRaw(answerWith(`${ok("one")}EXTRA`))
    const pool = makePool(server.port)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "one" })
    expect(pool.stats().open).toBe(0)
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "one" })
    expect(server.accepted()).toBe(2)
  })

  it("bytes arriving on an idle socket → it is destroyed; the next request uses a new one", async () => {
    const server = await startRaw(answerWith(ok("one")))
    const pool = makePool(server.port)
    await request(pool)
    server.requests[0]!.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
    await waitUntil(() => pool.stats().open === 0, 10_000, "the pool to drop the socket")
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "one" })
    expect(server.accepted()).toBe(2)
  })

  it("abort (the deadline) on a peer that never answers destroys the socket; no callback", async () => {
    const server = await startRaw(() => undefined)
    const pool = makePool(server.port)
    let called = false
    const exchange = pool.request(payload("slow"), () => (called = true))
    await waitUntil(() => server.requests.length === 1, 10_000, "the request to arrive")
    exchange.abort()
    expect(pool.stats().open).toBe(0)
    await waitUntil(() => server.closedSockets() === 1, 10_000, "the server to see the socket closed")
    expect(called).toBe(false)
  })
})

describe("Http1Pool: pool, queue and keep-alive", () => {
  it("at most connectionsMax sockets; a bounded FIFO queue; full queue → busy at once; abort leaves the queue", async () => {
    const server = await startRaw(() => undefined)
    const pool = makePool(server.port, { connectionsMax: 2, queuedMax: 2 })
    const first = send(pool, "1")
    const second = send(pool, "2")
    const third = send(pool, "3")
    const fourth = send(pool, "4")
    const fifth = await send(pool, "5").result
    expect(fifth.error?.kind).toBe("busy")
    expect(pool.stats()).toEqual({ open: 2, idle: 0, queued: 2 })
    fourth.exchange.abort()
    expect(pool.stats().queued).toBe(1)
    await waitUntil(() => server.requests.length === 2, 10_000, "two requests at the server")
    // Answer in order: each answer frees a socket for the next queued request (FIFO: "3").
    for (const request of server.requests.splice(0)) request.socket.write(ok(`re ${request.body}`))
    expect((await first.result).body).toBe("re 1")
    expect((await second.result).body).toBe("re 2")
    await waitUntil(() => server.requests.length === 1, 10_000, "the queued request at the server")
    expect(server.requests[0]!.body).toBe("3")
    server.requests[0]!.socket.write(ok("re 3"))
    expect((await third.result).body).toBe("re 3")
    expect(server.accepted()).toBe(2)
    expect(pool.stats()).toEqual({ open: 2, idle: 2, queued: 0 })
  })

  it("idle socket closed by the server between requests: the next request does not fail", async () => {
    const server = await startRaw(answerWith(ok("fine")))
    const pool = makePool(server.port)
    expect((await request(pool)).body).toBe("fine")
    server.requests[0]!.socket.end()
    await waitUntil(() => server.closedSockets() === 1, 10_000, "the server to close its idle socket")
    await waitUntil(() => pool.stats().open === 0, 10_000, "the client to see the close")
    expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "fine" })
    expect(server.accepted()).toBe(2)
  })

  it("a Keep-Alive: timeout=N hint makes the client close the idle socket first", async () => {
    const server = await startRaw(answerWith(ok("fine", "Keep-Alive: timeout=2\r\n")))
    const pool = makePool(server.port)
    expect((await request(pool)).body).toBe("fine")
    expect(pool.stats().idle).toBe(1)
    // 2 s minus the 1 s margin: the client ends the socket, the server never does.
    await waitUntil(() => server.endedByClient() === 1, 15_000, "the client to close the idle socket")
    expect(pool.stats().open).toBe(0)
  })

  it("a Keep-Alive hint at or under the margin → no reuse", async () => {
    const server = await startRaw(answerWith(ok("fine", "Keep-Alive: timeout=1\r\n")))
    const pool = makePool(server.port)
    expect((await request(pool)).body).toBe("fine")
    expect(pool.stats().open).toBe(0)
  })

  it("idle sockets closed after keepAliveTimeoutMs", async () => {
    const server = await startRaw(answerWith(ok("fine")))
    const pool = makePool(server.port, { keepAliveTimeoutMs: 200 })
    expect((await request(pool)).body).toBe("fine")
    await waitUntil(() => server.endedByClient() === 1, 15_000, "the client to close the idle socket")
    expect(pool.stats().open).toBe(0)
  })

  it("close(): idle sockets go at once, in-flight ones finish, new requests fail", async () => {
    const server = await startRaw(() => undefined)
    const pool = makePool(server.port)
    const inFlight = send(pool, "late")
    await waitUntil(() => server.requests.length === 1, 10_000, "the request to arrive")
    let drained = false
    const closing = pool.close().then(() => (drained = true))
    expect((await request(pool)).error?.kind).toBe("closed")
    expect(drained).toBe(false)
    server.requests[0]!.socket.write(ok("done"))
    expect((await inFlight.result).body).toBe("done")
    await closing
    expect(pool.stats().open).toBe(0)
  })
})

describe("Http1Pool over TLS (https: peers)", () => {
  const certificate = makeTestCertificate()

  const startHttps = async (handler: Parameters<typeof createHttpServer>[1]) => {
    let connections = 0
    const resumed: Array<boolean> = []
    const server = createHttpsServer({ key: certificate.key, cert: certificate.cert }, handler)
    server.on("secureConnection", (socket) => {
      connections++
      resumed.push(socket.isSessionReused())
    })
    const port = await listen(server)
    cleanups.push(async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })
    return { port, connections: () => connections, resumed }
  }

  it("keep-alive over one TLS connection, chunked answers included", async () => {
    const server = await startHttps((_request, response) => {
      response.write("ab")
      response.end("cd")
    })
    const pool = makePool(server.port, { tls: { ca: certificate.cert } })
    for (let i = 0; i < 3; i++) expect(await request(pool)).toEqual({ error: undefined, status: 200, body: "abcd" })
    expect(server.connections()).toBe(1)
  })

  it("an untrusted certificate → unreachable, nothing sent", async () => {
    let requests = 0
    const server = await startHttps((_request, response) => {
      requests++
      response.end("no")
    })
    const pool = makePool(server.port, { tls: {} })
    const outcome = await request(pool)
    expect(outcome.error?.kind).toBe("unreachable")
    expect(outcome.error?.message).toMatch(/certificate/i)
    expect(requests).toBe(0)
  })

  it("a new connection resumes the TLS session of the previous one", async () => {
    const server = await startHttps((_request, response) => {
      response.setHeader("connection", "close")
      response.end("once")
    })
    const pool = makePool(server.port, { tls: { ca: certificate.cert } })
    expect((await request(pool)).body).toBe("once")
    await waitUntil(() => pool.stats().open === 0, 10_000, "the first connection to close")
    expect((await request(pool)).body).toBe("once")
    expect(server.resumed).toEqual([false, true])
  })

  it("reset mid-body over TLS → unreachable", async () => {
    const server = await startHttps((_request, response) => {
      response.writeHead(200, { "content-length": "10" })
      response.write("abc", () => response.socket?.destroy())
    })
    const pool = makePool(server.port, { tls: { ca: certificate.cert } })
    expect((await request(pool)).error?.kind).toBe("unreachable")
  })
})
