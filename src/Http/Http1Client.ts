/**
 * A lean pooled HTTP/1.1 keep-alive client on `node:net` sockets (`node:tls` ones for `https:`),
 * for ILP-over-HTTP to peers (`PeerClient.ts`). It does what the peer client needs
 * and nothing else: one origin, `POST`s whose bytes the caller builds (head + body, written in one
 * `write`), replies parsed by `Http1Response.ts` with every part bounded.
 *
 * Pool rules (one `Http1Pool` per peer origin):
 * - at most `connectionsMax` sockets, each carrying one exchange at a time (no pipelining);
 *   TCP_NODELAY on every socket;
 * - a caller that finds every socket busy waits in a FIFO of at most `queuedMax`; when that is
 *   full the request fails at once (`busy`), so a stalled peer cannot grow memory without bound;
 * - an idle socket is reused most-recently-used first, and closed after `keepAliveTimeoutMs`, or
 *   sooner when the server's `Keep-Alive: timeout=N` says so (N s minus `keepAliveMarginMs`, so we
 *   close before the server does; a hint at or under the margin means no reuse);
 * - a socket is never reused when it errored, the server half-closed it, the reply said
 *   `Connection: close` (or was HTTP/1.0 without keep-alive, or ran to the end of the
 *   connection), bytes followed the reply, or bytes arrived while it was idle;
 * - a request is written once and never retried (a Prepare the peer may have read could otherwise
 *   be paid twice); redirects are answers like any other status. So a request written on an idle
 *   socket in the instant the server closes it fails (`unreachable`): the keep-alive margin above
 *   and dropping every socket seen closed keep that window small, as in any HTTP/1.1 client that
 *   does not replay POSTs.
 *
 * The pool has no timer of its own per request: the caller bounds every exchange and calls
 * `abort` at its deadline or on interruption, which destroys a socket mid-exchange (a late reply
 * on it could otherwise be taken for the next request's) or takes a queued request off the queue.
 */
import { connect, isIP, type Socket } from "node:net"
import { connect as connectTls, type ConnectionOptions } from "node:tls"
import { type ParseFailure, ResponseParser, type ResponseLimits } from "./Http1Response.ts"

export interface Http1PoolOptions {
  readonly host: string
  readonly port: number
  /** Sockets open at most (connecting, busy or idle). */
  readonly connectionsMax: number
  /** Requests waiting for a socket at most; past it a request fails with `busy`. */
  readonly queuedMax: number
  /** How long an idle socket is kept at most. */
  readonly keepAliveTimeoutMs: number
  /** Subtracted from the server's `Keep-Alive: timeout` hint (default 1000). */
  readonly keepAliveMarginMs?: number
  readonly limits: ResponseLimits
  /**
   * Set for `https:`: sockets are `node:tls` ones with these options on top of the defaults
   * (system CAs, certificate and host name checked, SNI for host names, ALPN `http/1.1`, the
   * pool's last TLS session offered for resumption). Tests pass their own `ca` here.
   */
  readonly tls?: ConnectionOptions
}

/**
 * How an exchange failed: `unreachable` (refused, reset, closed early, malformed reply),
 * `tooLarge` (a 2xx body over the bound), `busy` (queue full), `closed` (pool closed).
 */
export class Http1Error extends Error {
  readonly kind: "unreachable" | "tooLarge" | "busy" | "closed"
  constructor(kind: "unreachable" | "tooLarge" | "busy" | "closed", message: string) {
    super(message)
    this.kind = kind
  }
}

/** `error` set, or `status` with `body` (empty when the status is not 2xx). Called at most once. */
export type Http1Callback = (error: Http1Error | undefined, status: number, body: Buffer) => void

/** One request, from `request` until its callback or `abort`. */
export class Http1Exchange {
  /** Set once the callback ran or the exchange was aborted. */
  settled = false
  connection: Connection | undefined = undefined
  readonly pool: Http1Pool
  readonly payload: Buffer
  readonly callback: Http1Callback
  constructor(pool: Http1Pool, payload: Buffer, callback: Http1Callback) {
    this.pool = pool
    this.payload = payload
    this.callback = callback
  }

  /** Gives up on the exchange: no callback; its socket, if it had one, is destroyed. */
  abort(): void {
    if (this.settled) return
    this.settled = true
    if (this.connection !== undefined) this.connection.destroy()
    else this.pool.unqueue(this)
  }

  settle(error: Http1Error | undefined, status: number, body: Buffer): void {
    if (this.settled) return
    this.settled = true
    this.callback(error, status, body)
  }
}

const emptyBody = Buffer.alloc(0)
const failureError = (failure: ParseFailure): Http1Error =>
  new Http1Error(failure.kind === "tooLarge" ? "tooLarge" : "unreachable", failure.message)

class Connection {
  readonly socket: Socket
  exchange: Http1Exchange | undefined = undefined
  parser: ResponseParser | undefined = undefined
  /** When an idle socket must not be reused any more (`performance.now()` ms: monotonic). */
  idleUntil = 0
  closed = false
  private readonly pool: Http1Pool

  constructor(pool: Http1Pool, options: Http1PoolOptions) {
    this.pool = pool
    if (options.tls === undefined) {
      this.socket = connect({ host: options.host, port: options.port, noDelay: true })
    } else {
      const socket = connectTls({
        ...options.tls,
        host: options.host,
        port: options.port,
        ...(isIP(options.host) === 0 ? { servername: options.host } : {}),
        ALPNProtocols: ["http/1.1"],
        ...(pool.tlsSession !== undefined ? { session: pool.tlsSession } : {})
      })
      socket.setNoDelay(true)
      socket.on("session", (session: Buffer) => {
        pool.tlsSession = session
      })
      this.socket = socket
    }
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk))
    this.socket.on("end", () => this.onEnd())
    this.socket.on("error", (error: Error) => this.onError(error))
    this.socket.on("close", () => this.onClose())
  }

  send(exchange: Http1Exchange): void {
    this.exchange = exchange
    exchange.connection = this
    this.parser = new ResponseParser(this.pool.limits)
    this.socket.write(exchange.payload)
  }

  destroy(): void {
    if (this.closed) return
    this.socket.destroy()
    this.onClose()
  }

  private onData(chunk: Buffer): void {
    const parser = this.parser
    const exchange = this.exchange
    if (parser === undefined || exchange === undefined) {
      // Bytes nobody asked for: the server is out of step with us.
      this.destroy()
      return
    }
    const step = parser.feed(chunk)
    if (step === "more") return
    this.finish(exchange, parser)
  }

  private onEnd(): void {
    const parser = this.parser
    const exchange = this.exchange
    if (parser !== undefined && exchange !== undefined) {
      parser.end()
      this.finish(exchange, parser)
    }
    this.destroy()
  }

  private onError(error: Error): void {
    const exchange = this.exchange
    this.exchange = undefined
    this.parser = undefined
    this.destroy()
    exchange?.settle(new Http1Error("unreachable", error.message), 0, emptyBody)
  }

  private onClose(): void {
    if (this.closed) return
    this.closed = true
    const exchange = this.exchange
    this.exchange = undefined
    this.parser = undefined
    if (!this.socket.destroyed) this.socket.destroy()
    this.pool.closed(this)
    exchange?.settle(new Http1Error("unreachable", "connection closed before the reply was complete"), 0, emptyBody)
  }

  private finish(exchange: Http1Exchange, parser: ResponseParser): void {
    this.exchange = undefined
    this.parser = undefined
    exchange.connection = undefined
    if (parser.failure !== undefined) {
      this.destroy()
      exchange.settle(failureError(parser.failure), 0, emptyBody)
      return
    }
    const reusable = parser.reusable && parser.leftover.length === 0 && !this.socket.readableEnded
    if (reusable) this.pool.release(this, parser.keepAliveHintMs)
    else this.destroy()
    exchange.settle(undefined, parser.status, parser.body)
  }
}

export class Http1Pool {
  readonly limits: ResponseLimits
  /** The last TLS session a server gave us (`https:` only), offered when the next socket opens. */
  tlsSession: Buffer | undefined = undefined
  private readonly idle: Array<Connection> = []
  private readonly queue: Array<Http1Exchange> = []
  /**
   * Every open connection (connecting, busy or idle), for `destroy`. Per connection, not per
   * exchange: a long-lived `Set` with an add and a delete per request rehashed into a new table (in
   * the old generation) every few dozen requests (docs/performance/hot-path.md, "What the scavenges
   * promote").
   */
  private readonly connections = new Set<Connection>()
  private open = 0
  private closing = false
  private sweeper: NodeJS.Timeout | undefined = undefined
  private onDrained: (() => void) | undefined = undefined
  private readonly keepAliveMarginMs: number
  private readonly options: Http1PoolOptions

  constructor(options: Http1PoolOptions) {
    this.options = options
    this.limits = options.limits
    this.keepAliveMarginMs = options.keepAliveMarginMs ?? 1000
  }

  /** Sockets open / idle, requests queued: for tests and metrics. */
  stats(): { readonly open: number; readonly idle: number; readonly queued: number } {
    return { open: this.open, idle: this.idle.length, queued: this.queue.length }
  }

  /**
   * Sends `payload` (a whole HTTP/1.1 request) on an idle socket, a new one, or after the queue.
   * The callback may run before this returns (queue full, pool closed).
   */
  request(payload: Buffer, callback: Http1Callback): Http1Exchange {
    const exchange = new Http1Exchange(this, payload, callback)
    if (this.closing) {
      exchange.settle(new Http1Error("closed", "connection pool closed"), 0, emptyBody)
      return exchange
    }
    const connection = this.takeIdle()
    if (connection !== undefined) {
      connection.send(exchange)
    } else if (this.open < this.options.connectionsMax) {
      this.openConnection().send(exchange)
    } else if (this.queue.length < this.options.queuedMax) {
      this.queue.push(exchange)
    } else {
      exchange.settle(
        new Http1Error("busy", `${this.options.connectionsMax} connections busy and ${this.options.queuedMax} requests waiting`),
        0,
        emptyBody
      )
    }
    return exchange
  }

  /**
   * Stops taking requests; queued and in-flight ones finish (each is bounded by its caller).
   * Resolves once every socket is closed.
   */
  close(): Promise<void> {
    this.closing = true
    for (const connection of this.idle.splice(0)) connection.destroy()
    if (this.open === 0 && this.queue.length === 0) return Promise.resolve()
    return new Promise((resolve) => {
      this.onDrained = resolve
    })
  }

  /** Destroys every socket and fails every queued request. */
  destroy(): void {
    this.closing = true
    for (const exchange of this.queue.splice(0)) {
      exchange.settle(new Http1Error("closed", "connection pool closed"), 0, emptyBody)
    }
    for (const connection of this.idle.splice(0)) connection.destroy()
    for (const connection of [...this.connections]) connection.destroy()
  }

  unqueue(exchange: Http1Exchange): void {
    const at = this.queue.indexOf(exchange)
    if (at >= 0) this.queue.splice(at, 1)
    this.checkDrained()
  }

  /** A connection finished an exchange and may carry another. */
  release(connection: Connection, keepAliveHintMs: number | undefined): void {
    const next = this.queue.shift()
    if (next !== undefined) {
      connection.send(next)
      return
    }
    let keepMs = this.options.keepAliveTimeoutMs
    if (keepAliveHintMs !== undefined) keepMs = Math.min(keepMs, keepAliveHintMs - this.keepAliveMarginMs)
    if (this.closing || keepMs <= 0) {
      connection.destroy()
      return
    }
    connection.idleUntil = performance.now() + keepMs
    this.idle.push(connection)
    this.startSweeper()
  }

  /** A connection closed (either side, or an error): it leaves the pool; a queued request may go. */
  closed(connection: Connection): void {
    this.open--
    this.connections.delete(connection)
    const at = this.idle.indexOf(connection)
    if (at >= 0) this.idle.splice(at, 1)
    const next = this.queue.shift()
    if (next !== undefined) this.openConnection().send(next)
    if (this.open === 0) this.stopSweeper()
    this.checkDrained()
  }

  private openConnection(): Connection {
    this.open++
    const connection = new Connection(this, this.options)
    this.connections.add(connection)
    return connection
  }

  private takeIdle(): Connection | undefined {
    const now = performance.now()
    for (;;) {
      const connection = this.idle.pop()
      if (connection === undefined) return undefined
      const socket = connection.socket
      if (connection.closed || socket.destroyed || socket.readableEnded || !socket.writable || now >= connection.idleUntil) {
        connection.destroy()
        continue
      }
      return connection
    }
  }

  private startSweeper(): void {
    if (this.sweeper !== undefined) return
    const everyMs = Math.max(50, Math.min(1000, Math.floor(this.options.keepAliveTimeoutMs / 4)))
    this.sweeper = setInterval(() => this.sweep(), everyMs)
    this.sweeper.unref()
  }

  private stopSweeper(): void {
    if (this.sweeper === undefined) return
    clearInterval(this.sweeper)
    this.sweeper = undefined
  }

  /** Closes idle sockets past their time (reuse checks it too; this frees them when unused). */
  private sweep(): void {
    const now = performance.now()
    for (const connection of this.idle.filter((idle) => now >= idle.idleUntil)) connection.destroy()
  }

  private checkDrained(): void {
    if (this.closing && this.open === 0 && this.queue.length === 0 && this.onDrained !== undefined) {
      const resolve = this.onDrained
      this.onDrained = undefined
      resolve()
    }
  }
}
