/**
 * The node's peer client (src/Http/PeerClient.ts) end to end on real sockets: what it sends, and
 * how each way a peer can fail maps to an ILP error (R00 / T01 / T00), for `http:` and `https:` peers.
 */
import { once } from "node:events"
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo, Socket } from "node:net"
import { Effect, Exit, Fiber, Redacted } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { PeerConfig } from "../../src/Config.ts"
import type { PeerClientShape } from "../../src/Connector/PeerClient.ts"
import * as PeerClient from "../../src/Http/PeerClient.ts"
import { peerConfig } from "../Connector/fixtures.ts"
import { makeTestCertificate } from "../support/tlsCert.ts"
import { waitUntil } from "../support/wait.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Seen {
  readonly method: string | undefined
  readonly url: string | undefined
  readonly headers: IncomingMessage["headers"]
  readonly body: Buffer
}

const startServer = async (
  server: HttpServer,
  answer: (seen: Seen, response: import("node:http").ServerResponse) => void
) => {
  const seen: Array<Seen> = []
  const sockets = new Set<Socket>()
  let closed = 0
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => {
      closed++
      sockets.delete(socket)
    })
  })
  server.on("secureConnection", (socket: Socket) => socket.on("close", () => closed++))
  server.on("request", (request: IncomingMessage, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const one = { method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks) }
      seen.push(one)
      answer(one, response)
    })
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { port: (server.address() as AddressInfo).port, seen, closed: () => closed }
}

const peer = (url: string, token = "s3cret-token"): PeerConfig =>
  peerConfig({ id: "bob", outgoing: { url, token: Redacted.make(token) } })

/** Runs `use` with a peer client made for the test and closed after it. */
const withClient = <A>(use: (client: PeerClientShape) => Effect.Effect<A, never, never>): Promise<A> =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(PeerClient.make({ connectionsMax: 4, keepAliveTimeoutMs: 30_000 }), use)))

const sendExit = (target: PeerConfig, deadlineMs = Date.now() + 10_000) =>
  withClient((client) => Effect.exit(client.send(target, Buffer.from("prepare bytes"), deadlineMs)))

const failureTag = (exit: Exit.Exit<Uint8Array, { readonly _tag: string; readonly reason: string }>) => {
  if (Exit.isSuccess(exit)) return { tag: "success", reason: "" }
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return error === undefined ? { tag: "defect", reason: String(exit.cause) } : { tag: error.error._tag, reason: error.error.reason }
}

describe("PeerClient over http: (the lean client)", () => {
  it("POSTs the Prepare with the bearer token and returns the reply body", async () => {
    const server = await startServer(createHttpServer(), (_seen, response) => response.end("fulfill bytes"))
    const reply = await withClient((client) =>
      Effect.orDie(client.send(peer(`http://127.0.0.1:${server.port}/ilp/path?x=1`), Buffer.from("prepare bytes"), Date.now() + 10_000))
    )
    expect(Buffer.from(reply).toString()).toBe("fulfill bytes")
    expect(server.seen).toHaveLength(1)
    const seen = server.seen[0]!
    expect(seen.method).toBe("POST")
    expect(seen.url).toBe("/ilp/path?x=1")
    expect(seen.headers.authorization).toBe("Bearer s3cret-token")
    expect(seen.headers["content-type"]).toBe("application/octet-stream")
    expect(seen.headers["content-length"]).toBe("13")
    expect(seen.headers.host).toBe(`127.0.0.1:${server.port}`)
    expect(seen.body.toString()).toBe("prepare bytes")
  })

  it("non-2xx → T01 (PeerUnreachable)", async () => {
    const server = await startServer(createHttpServer(), (_seen, response) => response.writeHead(401).end("no"))
    expect(failureTag(await sendExit(peer(`http://127.0.0.1:${server.port}/`)))).toEqual({
      tag: "PeerUnreachable",
      reason: "peer bob answered HTTP 401"
    })
  })

  it("refused → T01", async () => {
    const server = createHttpServer()
    server.listen(0, "127.0.0.1")
    await once(server, "listening")
    const port = (server.address() as AddressInfo).port
    await new Promise((resolve) => server.close(resolve))
    const failure = failureTag(await sendExit(peer(`http://127.0.0.1:${port}/`)))
    expect(failure.tag).toBe("PeerUnreachable")
    expect(failure.reason).toMatch(/ECONNREFUSED/)
  })

  it("no reply before the deadline → R00 (Expired), and the socket is destroyed", async () => {
    const server = await startServer(createHttpServer(), () => undefined)
    const exit = await sendExit(peer(`http://127.0.0.1:${server.port}/`), Date.now() + 300)
    expect(failureTag(exit).tag).toBe("Expired")
    await waitUntil(() => server.closed() === 1, 10_000, "the peer to see the socket closed")
  })

  it("a reply over 64 KiB → T00 (InternalError)", async () => {
    const server = await startServer(createHttpServer(), (_seen, response) => response.end(Buffer.alloc(64 * 1024 + 1)))
    expect(failureTag(await sendExit(peer(`http://127.0.0.1:${server.port}/`))).tag).toBe("InternalError")
  })

  it("interrupting the packet's fiber destroys the in-flight socket", async () => {
    const server = await startServer(createHttpServer(), () => undefined)
    await withClient((client) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(client.send(peer(`http://127.0.0.1:${server.port}/`), Buffer.from("p"), Date.now() + 30_000))
        yield* Effect.promise(() => waitUntil(() => server.seen.length === 1, 10_000, "the request to arrive"))
        yield* Fiber.interrupt(fiber)
        yield* Effect.promise(() => waitUntil(() => server.closed() === 1, 10_000, "the peer to see the socket closed"))
      })
    )
    expect(server.seen).toHaveLength(1)
  })

  it("a redirect is not followed: T01, one request", async () => {
    const server = await startServer(createHttpServer(), (_seen, response) =>
      response.writeHead(307, { location: "/elsewhere" }).end())
    const failure = failureTag(await sendExit(peer(`http://127.0.0.1:${server.port}/`)))
    expect(failure).toEqual({ tag: "PeerUnreachable", reason: "peer bob answered HTTP 307" })
    expect(server.seen).toHaveLength(1)
  })

  it("every connection busy and the queue full → T01 at once; the others are answered", async () => {
    const server = await startServer(createHttpServer(), (_seen, response) => setImmediate(() => response.end("late")))
    const target = peer(`http://127.0.0.1:${server.port}/`)
    const exits = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const client = yield* PeerClient.make({ connectionsMax: 1, keepAliveTimeoutMs: 30_000, queuedMax: 1 })
      return yield* Effect.forEach(
        ["a", "b", "c"],
        (body) => Effect.exit(client.send(target, Buffer.from(body), Date.now() + 10_000)),
        { concurrency: "unbounded" }
      )
    })))
    expect(exits.map(failureTag).map((failure) => failure.tag)).toEqual(["success", "success", "PeerUnreachable"])
    expect(failureTag(exits[2]!).reason).toMatch(/1 connections busy and 1 requests waiting/)
    expect(server.seen.map((seen) => seen.body.toString())).toEqual(["a", "b"])
  })

  it("a token that cannot go in a header → T01 without sending anything", async () => {
    const server = await startServer(createHttpServer(), (_seen, response) => response.end("x"))
    const failure = failureTag(await sendExit(peer(`http://127.0.0.1:${server.port}/`, "tok\r\nX-Injected: 1")))
    expect(failure.tag).toBe("PeerUnreachable")
    expect(failure.reason).not.toContain("X-Injected")
    expect(server.seen).toHaveLength(0)
  })
})

describe("PeerClient over https: (the lean client on node:tls)", () => {
  it("speaks TLS with the system CAs: an untrusted certificate is T01 naming the certificate", async () => {
    const certificate = makeTestCertificate()
    const server = await startServer(
      createHttpsServer({ key: certificate.key, cert: certificate.cert }),
      (_seen, response) => response.end("fulfill")
    )
    const failure = failureTag(await sendExit(peer(`https://127.0.0.1:${server.port}/`)))
    expect(failure.tag).toBe("PeerUnreachable")
    // A plaintext client would get a malformed reply instead; TLS refuses the certificate.
    expect(failure.reason).toMatch(/certificate/i)
    expect(server.seen).toHaveLength(0)
  })
})
