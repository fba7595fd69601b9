/**
 * The ILP-over-HTTP listener: a `net.Server` whose connections start on the fast path
 * (`IlpConnection.ts`, a strict HTTP/1.1 subset read by `Http1Request.ts`) and are handed, at a
 * request boundary, to a `node:http` server (never listening itself) for anything else. That
 * server runs `IlpOverHttp.makeHandler` and answers exactly as before; once it has a connection it
 * keeps it.
 *
 * The `PublicListener.ts` guarantees hold on both paths: the connection cap with idle shedding is
 * counted here, at the `net.Server`, for every connection; the idle timeout is the guard's socket
 * timeout; the header and request timeouts of fast-path requests are checked every
 * `checkIntervalMs` like `node:http` checks its own (408, then close) — a request handed over while
 * still arriving gets `node:http`'s timeouts from the hand-over on, so at most twice the bound in
 * all; shutdown stops accepting, closes idle connections on both paths, and `closeAll` ends the
 * rest.
 */
import type { Server as HttpServer } from "node:http"
import { createServer, type Server, type Socket } from "node:net"
import { type FastPathOptions, IlpConnection } from "./IlpConnection.ts"
import { ConnectionGuard, createHttpServer, type ListenerGuard } from "./PublicListener.ts"

/** The guard's counts, and how many connections the fast path handed to `node:http`. */
export interface IlpListenerGuard extends ListenerGuard {
  readonly handedOff: () => number
}

export interface IlpListener {
  readonly server: Server
  readonly guard: IlpListenerGuard
  /** Stops accepting; closes every connection with no request in flight; `callback` once all are closed. */
  readonly close: (callback: () => void) => void
  /** Destroys every connection. */
  readonly closeAll: () => void
}

/** `node:http`'s own start of its header/request timeout checks, which it runs on `listening`. */
const startTimeoutChecks = (server: HttpServer): void => {
  server.emit("listening")
}

export const createIlpListener = (
  options: Omit<FastPathOptions, "handOff" | "release">,
  requestListener: Parameters<typeof createHttpServer>[1]
): IlpListener => {
  const limits = options.limits
  const guard = new ConnectionGuard(limits)
  const http = createHttpServer(limits, requestListener)
  guard.trackRequests(http)
  startTimeoutChecks(http)
  const connections = new Set<IlpConnection>()
  let handedOff = 0
  const fastPath: FastPathOptions = {
    ...options,
    handOff: (socket) => {
      handedOff++
      http.emit("connection", socket)
    },
    release: (connection) => {
      connections.delete(connection)
    }
  }
  // As node:http's own net.Server: half-open allowed (the HTTP layer decides), no Nagle delay.
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
    const state = guard.admit(socket)
    if (state === undefined) return
    socket.on("error", () => undefined)
    connections.add(new IlpConnection(socket, state, fastPath))
  })
  const checkTimeouts = () => {
    const now = performance.now()
    for (const connection of connections) {
      const started = connection.requestStartedAt
      if (started === 0) continue
      const elapsed = now - started
      if (elapsed > limits.requestTimeoutMs || (!connection.headReceived && elapsed > limits.headersTimeoutMs)) connection.timeOut()
    }
  }
  const checks = setInterval(checkTimeouts, limits.checkIntervalMs).unref()
  return {
    server,
    guard: { ...guard.view, handedOff: () => handedOff },
    close: (callback) => {
      clearInterval(checks)
      server.close(() => callback())
      http.close()
      guard.closeIdle()
    },
    closeAll: () => guard.closeAll()
  }
}
