/**
 * The ILP-over-HTTP endpoint (SPEC §2.1): `POST /` or `POST /ilp` with a peer's bearer token and an
 * ILP Prepare body; answers 200 with the Fulfill or Reject.
 *
 * HTTP-level answers: unknown path 404; other method 405; missing, malformed or unknown token 401;
 * wrong content type 400; body over `bodyBytesMax` 413 (refused from Content-Length before reading,
 * or as soon as a chunked body passes the limit). Everything else, including bytes that are not a
 * Prepare, is an ILP answer with status 200: this endpoint never answers 500. A 413 closes the
 * connection after a lingering close (the rest of the body is discarded for up to `closeGraceMs`),
 * so a client still sending reads the 413 rather than a reset.
 *
 * Bounded work: the path, the bearer token and the content type are read by linear scans; the
 * listener's connection cap, header/body/idle timeouts and header size are in `PublicListener.ts`.
 *
 * Implementation: the listener is a `net.Server` (`IlpListener.ts`) with a fast path of its own
 * (`IlpConnection.ts`, reading a strict HTTP/1.1 subset with `Http1Request.ts`) for the one request
 * that matters: a valid `POST` with a known token and a Content-Length. It runs the packet exactly
 * as `makeHandler` below does and writes the answer's head and body in one write. Everything else
 * (other paths and methods, missing or unknown tokens, chunked bodies, `Expect`, odd or oversized
 * heads, ...) is handed, with its connection and before any of its bytes is consumed, to a
 * `node:http` server running `makeHandler`, which answers exactly as this endpoint always did.
 * Why not `node:http` for all: its request and response objects, stream states, header strings
 * and ~7 `process.nextTick`s cost ~8 µs of CPU and ~6 KB of allocation per request (measured side by
 * side: bench/experiments/leanServer.ts, docs/performance/hot-path.md "A lean HTTP/1.1 server").
 * Why not Effect's HTTP server: its per-request machinery (request and response objects, a scope
 * per request, body stream) cost 60–100 µs of CPU per packet, a fifth of the node's whole budget
 * then (docs/performance/hot-path.md). Packets run as fibers of the node's own runtime (its
 * logger, clock and references). The other HTTP surfaces (admin, SPSP) stay on Effect's server.
 *
 * Shutdown (scope close): every answer from then on carries `Connection: close`, the listener stops
 * accepting and idle keep-alive connections are closed; in-flight packets get up to `drainTimeoutMs`
 * to finish, after which they are interrupted (their reservations are voided by the ledger stage)
 * and the remaining connections are closed. A client that goes away interrupts its packet.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import type { PeersShape } from "../Connector/Peers.ts"
import { encodeReply, type Reply } from "../Connector/Packet.ts"
import type { PipelineShape } from "../Connector/Pipeline.ts"
import { Slots } from "../Slots.ts"
import { createIlpListener, type IlpListenerGuard } from "./IlpListener.ts"
import { defaultListenerLimits, lingerAfterAnswer, type ListenerLimits } from "./PublicListener.ts"

/** An ILP Prepare is at most ~33 KiB; anything past 64 KiB is refused. */
export const bodyBytesMax = 64 * 1024
/** An early answer (4xx) leaves the body unread: up to this much is drained to keep the connection, else it is closed. */
export const drainBytesMax = 256 * 1024
/** After a half-close, how long the client gets to read our answer (and finish sending) before the socket is destroyed. */
const closeGraceMs = defaultListenerLimits.lingerMs

const contentTypes = new Set(["application/octet-stream", "application/ilp+octet-stream"])
const bearer = /^bearer[ \t]+([^\s]+)[ \t]*$/i
const whitespace = /\s/

/**
 * The bearer token, as `bearer` reads it. The common form (`Bearer <token>`, one space, no other
 * whitespace) is sliced without a regex match per request; anything else goes through `bearer`.
 */
export const bearerToken = (authorization: string): string | undefined => {
  if (authorization.length > 7 && authorization.startsWith("Bearer ")) {
    const token = authorization.slice(7)
    if (!whitespace.test(token)) return token
  }
  return bearer.exec(authorization)?.[1]
}

/** The media type, as `split(";")[0].trim().toLowerCase()` reads it; the exact common values without the three strings. */
export const mediaType = (contentType: string): string =>
  contentTypes.has(contentType) ? contentType : contentType.split(";", 1)[0]!.trim().toLowerCase()


export class IlpServerError extends Data.TaggedError("IlpServerError")<{ readonly message: string; readonly cause: unknown }> {}

/** Ends our side, and destroys the socket if the client has not closed it within `closeGraceMs`. */
const closeSocket = (socket: Socket | null): void => {
  if (socket === null || socket.destroyed) return
  socket.end()
  const timer = setTimeout(() => socket.destroy(), closeGraceMs)
  socket.once("close", () => clearTimeout(timer))
}

/** After an early answer: drain a small unread body (the connection stays usable), close on a large one. */
const teardownBody = (request: IncomingMessage): void => {
  if (request.complete || request.destroyed) return
  let bytes = 0
  const onData = (chunk: Buffer) => {
    bytes += chunk.length
    if (bytes > drainBytesMax) {
      request.off("data", onData)
      // Keep reading (discarding) while we half-close: a reset would not lose an answer already
      // read, but it must not cut the client off mid-body either.
      request.resume()
      closeSocket(request.socket)
    }
  }
  request.on("data", onData)
  request.resume()
}

const answerText = (request: IncomingMessage, response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) => {
  const closing = headers["connection"] === "close"
  // Closing with a body still coming (413): discard it while the answer goes out, then half-close,
  // so the client reads the answer instead of a TCP reset.
  if (closing && !request.complete) lingerAfterAnswer(request, closeGraceMs)
  else response.prependOnceListener("finish", () => teardownBody(request))
  response.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    ...headers
  })
  response.end(text)
}

export interface HandlerOptions {
  readonly peers: PeersShape
  readonly pipeline: PipelineShape
  /** Runs a packet as a fiber of the node's runtime. */
  readonly run: (effect: Effect.Effect<Reply>) => Fiber.Fiber<Reply>
  /** Packets being processed (for the drain on shutdown). */
  readonly inFlight: Slots<Fiber.Fiber<Reply>>
  /** True once shutdown has begun: every answer then carries `Connection: close`. */
  readonly draining: () => boolean
}

/** The `node:http` request listener. */
export const makeHandler = (options: HandlerOptions) => (request: IncomingMessage, response: ServerResponse): void => {
  if (options.draining()) response.setHeader("connection", "close")
  const url = request.url ?? ""
  const query = url.indexOf("?")
  const path = query < 0 ? url : url.slice(0, query)
  if (path !== "/" && path !== "/ilp") return answerText(request, response, 404, "not found")
  if (request.method !== "POST") return answerText(request, response, 405, "method not allowed", { allow: "POST" })

  const authorization = request.headers.authorization
  const token = authorization === undefined ? undefined : bearerToken(authorization)
  if (token === undefined) return answerText(request, response, 401, "missing or malformed bearer token")
  const peer = options.peers.byToken(token)
  if (peer === undefined) return answerText(request, response, 401, "unknown token")

  const contentType = mediaType(request.headers["content-type"] ?? "")
  if (!contentTypes.has(contentType)) return answerText(request, response, 400, "content type must be application/octet-stream")
  if (Number(request.headers["content-length"] ?? "0") > bodyBytesMax) {
    return answerText(request, response, 413, "body too large", { connection: "close" })
  }

  const chunks: Array<Buffer> = []
  let total = 0
  let refused = false
  const onData = (chunk: Buffer) => {
    total += chunk.length
    if (total <= bodyBytesMax) {
      chunks.push(chunk)
      return
    }
    refused = true
    request.off("data", onData)
    request.pause()
    answerText(request, response, 413, "body too large", { connection: "close" })
  }
  // `on` rather than `once` for events a request emits at most once: no wrapper per listener.
  request.on("data", onData)
  request.on("error", () => {
    refused = true
  })
  request.on("end", () => {
    if (refused) return
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)
    const fiber = options.run(options.pipeline.process({ bytes, source: peer.account, unfulfillable: false }))
    const slot = options.inFlight.add(fiber)
    const onClose = () => {
      if (!response.writableEnded) fiber.interruptUnsafe()
    }
    response.on("close", onClose)
    fiber.addObserver((exit) => {
      options.inFlight.delete(slot)
      response.off("close", onClose)
      if (Exit.isSuccess(exit)) {
        const reply = encodeReply(exit.value)
        // A flat array: node:http takes it as is (no header object per answer).
        response.writeHead(200, ["content-type", "application/octet-stream", "content-length", String(reply.length)])
        response.end(reply)
      } else if (!response.destroyed) {
        // Interrupted (client gone, or shutdown after the drain timeout): nobody gets an answer.
        response.destroy()
      }
    })
  })
}

export interface ServeOptions {
  readonly host: string
  readonly port: number
  readonly peers: PeersShape
  readonly pipeline: PipelineShape
  /** How long shutdown waits for in-flight packets before interrupting them. */
  readonly drainTimeoutMs: number
  /** Connection cap and timeouts (`Http/PublicListener.ts`). */
  readonly limits?: ListenerLimits | undefined
}

/** Listens in the current scope (see the module comment for shutdown); answers the bound port. */
export const serve = (options: ServeOptions) =>
  Effect.gen(function*() {
    const run = Effect.runForkWith(yield* Effect.context<never>())
    const inFlight = new Slots<Fiber.Fiber<Reply>>()
    let draining = false
    const handler = {
      peers: options.peers,
      pipeline: options.pipeline,
      run,
      inFlight,
      draining: () => draining
    }
    const listener = createIlpListener({
      ...handler,
      limits: options.limits ?? defaultListenerLimits,
      bodyBytesMax,
      bearerToken,
      acceptsContentType: (contentType) => contentTypes.has(mediaType(contentType))
    }, makeHandler(handler))
    const server = listener.server
    const shutdown = Effect.gen(function*() {
      draining = true
      yield* Effect.logInfo("shutting down: draining in-flight packets")
      const closed = Effect.callback<void>((resume) => {
        listener.close(() => resume(Effect.void))
      })
      yield* Effect.timeoutOrElse(closed, { duration: options.drainTimeoutMs, orElse: () => Effect.void })
      yield* Fiber.interruptAll(inFlight.values())
      listener.closeAll()
    })
    yield* Effect.acquireRelease(
      Effect.callback<void, IlpServerError>((resume) => {
        const onError = (cause: unknown) =>
          resume(Effect.fail(new IlpServerError({ message: `cannot listen on ${options.host}:${options.port}`, cause })))
        server.once("error", onError)
        server.listen(options.port, options.host, () => {
          server.off("error", onError)
          resume(Effect.void)
        })
      }),
      () => shutdown
    )
    return { port: (server.address() as AddressInfo).port, guard: listener.guard satisfies IlpListenerGuard }
  })
