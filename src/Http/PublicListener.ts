/**
 * Bounds for the listeners anyone can reach (ILP-over-HTTP, SPSP / Open Payments): how many
 * connections, how long a client may take to send its headers and its body, how long a connection
 * may sit without a request, how large the header block may be.
 *
 * - **Connection cap** (`connectionsMax`): when a new connection would pass it, the oldest
 *   connections with no request in flight (idle keep-alive sockets, sockets that never sent a full
 *   request) are shed to make room; a connection whose request is being processed is never shed. If
 *   every connection is busy, the new one is closed. So a flood of idle sockets cannot lock peers out:
 *   a peer's new connection takes an idle socket's place.
 * - **Idle timeout** (`idleTimeoutMs`): a connection that has not started a request (first request or
 *   between keep-alive requests) is closed after this long without a byte.
 * - **Header timeout** (`headersTimeoutMs`) and **request timeout** (`requestTimeoutMs`): the header
 *   block, and the whole request including its body, must arrive within these from the request's
 *   first byte, else Node answers 408 and closes (checked every `checkIntervalMs`). Once the request
 *   is received, answering it has no time bound here (a packet is bounded by its expiry).
 * - **Header block** (`headerBytesMax`): larger is refused by Node with 431.
 * - **Shutdown**: `server.close()` also closes every connection with no request in flight.
 * - The ILP-over-HTTP listener accepts its sockets itself and answers most requests without
 *   `node:http` (`IlpListener.ts`): it applies the same cap, idle timeout, header and request
 *   timeouts (408) and header bound (by handing larger heads to `node:http`) on its fast path.
 * - **Lingering close** (`lingerMs`): an answer that closes the connection while the client is still
 *   sending a body (413) is followed by a half-close; what the client still sends is read and
 *   discarded for up to `lingerMs`, so the answer reaches it instead of a TCP reset.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http"
import type { Socket } from "node:net"

export interface ListenerLimits {
  readonly connectionsMax: number
  readonly idleTimeoutMs: number
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly headerBytesMax: number
  readonly lingerMs: number
  readonly checkIntervalMs: number
}

/**
 * Defaults. A Prepare is at most ~33 KiB: its body has `requestTimeoutMs` (5 s) to arrive, far more
 * than a peer on any link needs and far less than the 30 s hold time the packet may wait afterwards.
 */
export const defaultListenerLimits: ListenerLimits = {
  connectionsMax: 4096,
  idleTimeoutMs: 30_000,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  headerBytesMax: 16 * 1024,
  lingerMs: 2_000,
  checkIntervalMs: 500
}

/** Per connection, shared by whoever serves it (the ILP fast path or `node:http`). */
export interface ConnectionState {
  /** Requests received and not yet answered on this connection. */
  busy: number
}

/** What the guard saw; read by tests and metrics. */
export interface ListenerGuard {
  readonly open: () => number
  readonly shed: () => number
  readonly refused: () => number
}

/**
 * The connection cap with idle shedding, the first-request idle timeout, and the close of idle
 * connections on shutdown (see the module comment), for whichever server accepts the sockets.
 */
export class ConnectionGuard {
  // Insertion order = age: the first idle entry is the oldest idle connection.
  readonly connections = new Map<Socket, ConnectionState>()
  private shedCount = 0
  private refusedCount = 0
  readonly view: ListenerGuard = { open: () => this.connections.size, shed: () => this.shedCount, refused: () => this.refusedCount }

  private readonly limits: ListenerLimits

  constructor(limits: ListenerLimits) {
    this.limits = limits
  }

  /** Counts a new connection (shedding the oldest idle one at the cap); undefined when it was refused (destroyed). */
  admit(socket: Socket): ConnectionState | undefined {
    if (this.connections.size >= this.limits.connectionsMax) {
      for (const [other, state] of this.connections) {
        if (state.busy > 0) continue
        this.connections.delete(other)
        other.destroy()
        this.shedCount++
        break
      }
      if (this.connections.size >= this.limits.connectionsMax) {
        this.refusedCount++
        socket.destroy()
        return undefined
      }
    }
    const state: ConnectionState = { busy: 0 }
    this.connections.set(socket, state)
    socket.setTimeout(this.limits.idleTimeoutMs)
    socket.once("close", () => this.connections.delete(socket))
    return state
  }

  /** Marks a `node:http` request's connection busy until its answer is done. */
  trackRequests(server: Server): void {
    // Runs before the application's listener.
    server.prependListener("request", (request: IncomingMessage, response: ServerResponse) => {
      const state = this.connections.get(request.socket)
      if (state === undefined) return
      state.busy++
      // While a request is processed the socket may be quiet (a packet waits for its peer).
      request.socket.setTimeout(0)
      // `on`, not `once`: a response closes once, and this saves a wrapper per request.
      response.on("close", () => {
        state.busy--
      })
    })
  }

  /** Destroys every connection with no request in flight (shutdown). */
  closeIdle(): void {
    for (const [socket, state] of this.connections) if (state.busy === 0) socket.destroy()
  }

  /** Destroys every connection (end of shutdown). */
  closeAll(): void {
    for (const socket of this.connections.keys()) socket.destroy()
  }
}

/** A `node:http` server with the limits applied (Node's own timeouts plus the connection guard). */
export const createPublicServer = (
  limits: ListenerLimits,
  listener?: RequestListener
): { readonly server: Server; readonly guard: ListenerGuard } => {
  const server = createHttpServer(limits, listener)
  return { server, guard: guardConnections(server, limits) }
}

/** A `node:http` server with Node's own timeouts and header bound set from `limits` (no guard). */
export const createHttpServer = (limits: ListenerLimits, listener?: RequestListener): Server =>
  createServer({
    maxHeaderSize: limits.headerBytesMax,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs
  }, listener)

/** The connection cap, idle shedding and first-request idle timeout on a `node:http` server that accepts its own sockets. */
export const guardConnections = (server: Server, limits: ListenerLimits): ListenerGuard => {
  const guard = new ConnectionGuard(limits)
  server.on("connection", (socket: Socket) => {
    guard.admit(socket)
  })
  guard.trackRequests(server)
  // Closing the server also closes every connection without a request in flight, including ones
  // that never sent a request (Node's closeIdleConnections leaves those, and stops the timeout
  // checks on close: such a socket held a shutdown until its idle timeout).
  const close = server.close.bind(server)
  server.close = ((callback?: (error?: Error) => void) => {
    close(callback)
    guard.closeIdle()
    return server
  }) as typeof server.close
  return guard.view
}

/**
 * Makes the coming `Connection: close` answer to `request` reach the client although its body is
 * unread: the rest of the body is read and discarded, and Node's close after the answer becomes a
 * half-close that waits up to `lingerMs` for the client to close (then destroys the socket).
 */
export const lingerAfterAnswer = (request: IncomingMessage, lingerMs: number): void => {
  const socket = request.socket as Socket & { destroySoon?: () => void }
  if (socket === null || socket.destroyed) return
  request.removeAllListeners("data")
  request.on("data", () => undefined)
  request.resume()
  socket.destroySoon = () => {
    if (socket.writable) socket.end()
    if (socket.destroyed) return
    const timer = setTimeout(() => socket.destroy(), lingerMs)
    socket.once("close", () => clearTimeout(timer))
  }
}
