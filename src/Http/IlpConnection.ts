/**
 * One ILP-over-HTTP connection on the fast path (see `IlpListener.ts`): reads requests with the
 * strict head reader (`Http1Request.ts`), runs each packet through the pipeline as a fiber exactly
 * as `IlpOverHttp.makeHandler` does for a valid request, and writes the answer's head and body in
 * one socket write. One request at a time: pipelined requests wait in the buffer and are answered
 * in order.
 *
 * A request the fast path does not take — outside the strict subset, or one `makeHandler` would
 * answer with anything but a packet (401 for a missing or unknown token, 400 for the content type,
 * 413) — is handed over with the connection, before any of its bytes is consumed: what was
 * buffered is put back (`unshift`) and `node:http` owns the connection from then on.
 *
 * One difference from `node:http`, on purpose: a valid request followed, in the same read, by
 * bytes that are not HTTP. `node:http` parses both at once and answers only 400 (the first packet
 * is interrupted before its answer); here the packet is answered, then the rest is handed over and
 * `node:http` answers it with its 400. (When the bytes come in a later read, `node:http` does the
 * same as here.)
 *
 * Bounds: the head is at most `headBytesMax` (then hand-off), the body at most `bodyBytesMax` (else
 * hand-off: `node:http` answers 413); while a packet is processed, or an answer waits for the
 * client to read (the socket's write buffer past its high-water mark), at most `pipelinedBytesMax`
 * further bytes are buffered before the socket is paused. Header and request timeouts are checked
 * by the listener (`checkTimeouts`); the idle timeout is the guard's socket timeout, ignored while a
 * packet is being processed (the packet is bounded by its expiry).
 */
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type { Socket } from "node:net"
import type { PeerEntry } from "../Connector/Peers.ts"
import { encodeReply, type Reply } from "../Connector/Packet.ts"
import { handOff, incomplete, RequestHead } from "./Http1Request.ts"
import type { HandlerOptions } from "./IlpOverHttp.ts"
import type { ConnectionState, ListenerLimits } from "./PublicListener.ts"

/** What the fast path needs besides the handler's options. */
export interface FastPathOptions extends HandlerOptions {
  readonly limits: ListenerLimits
  readonly bodyBytesMax: number
  /** Reads the bearer token as the handler does (undefined: missing or malformed). */
  readonly bearerToken: (authorization: string) => string | undefined
  /** True for a media type the handler accepts. */
  readonly acceptsContentType: (contentType: string) => boolean
  /** Gives the connection to `node:http` (the unconsumed bytes were put back already). */
  readonly handOff: (socket: Socket) => void
  /** The connection is gone or handed over: the listener forgets it. */
  readonly release: (connection: IlpConnection) => void
}

/** Exactly what `node:http` writes when a request's headers or body are too slow. */
const requestTimeoutAnswer = Buffer.from("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n", "latin1")

let dateSecond = 0
let dateText = ""
/** The `Date` header's value, made once a second (as `node:http` does). */
const httpDate = (): string => {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateText = new Date(now).toUTCString()
  }
  return dateText
}

/** The 200 answer with the reply: head and body in one buffer (one write). */
const answer = (reply: Uint8Array, keepAliveSeconds: number, close: boolean): Buffer => {
  const head = `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${reply.length}\r\nDate: ${httpDate()}\r\n` +
    (close ? "Connection: close\r\n\r\n" : `Connection: keep-alive\r\nKeep-Alive: timeout=${keepAliveSeconds}\r\n\r\n`)
  const bytes = Buffer.allocUnsafe(head.length + reply.length)
  const written = bytes.write(head, 0, "latin1")
  bytes.set(reply, written)
  return bytes
}

export class IlpConnection {
  readonly socket: Socket
  private readonly state: ConnectionState
  private readonly options: FastPathOptions
  private readonly head = new RequestHead()
  /** Unconsumed bytes while the head is read. */
  private buffered: Buffer | undefined = undefined
  /** Once the head is accepted: the bytes from the body's start on, and how many. */
  private readonly chunks: Array<Buffer> = []
  private chunkBytes = 0
  private peer: PeerEntry | undefined = undefined
  /** Monotonic ms of the current request's first byte; 0 while no request is being received. */
  requestStartedAt = 0
  /** The packet being processed. */
  private fiber: Fiber.Fiber<Reply> | undefined = undefined
  /** `fiber`'s slot in `options.inFlight`. */
  private slot = -1
  /** An answer is waiting in the socket's write buffer past its high-water mark: read no further request until it drains. */
  private awaitingDrain = false
  private gone = false
  private readonly pipelinedBytesMax: number
  private readonly keepAliveSeconds: number

  constructor(socket: Socket, state: ConnectionState, options: FastPathOptions) {
    this.socket = socket
    this.state = state
    this.options = options
    this.pipelinedBytesMax = options.limits.headerBytesMax + options.bodyBytesMax
    this.keepAliveSeconds = Math.floor(options.limits.idleTimeoutMs / 1000)
    socket.on("data", this.onData)
    socket.on("end", this.onEnd)
    socket.on("close", this.onClose)
    socket.on("error", this.onError)
    socket.on("timeout", this.onTimeout)
  }

  /** True when the head has been read and the body is still arriving. */
  get headReceived(): boolean {
    return this.peer !== undefined
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.peer !== undefined || this.fiber !== undefined || this.awaitingDrain) {
      this.chunks.push(chunk)
      this.chunkBytes += chunk.length
      if (this.fiber !== undefined || this.awaitingDrain) {
        if (this.chunkBytes > this.pipelinedBytesMax) this.socket.pause()
        return
      }
    } else {
      this.buffered = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk])
    }
    this.next()
  }

  /** Reads what is buffered: starts the next packet, waits for more bytes, or hands off. */
  private next(): void {
    if (this.peer === undefined) {
      const data = this.buffered
      if (data === undefined) return
      if (this.requestStartedAt === 0) this.requestStartedAt = performance.now()
      const limits = this.options.limits
      const scanned = this.head.scan(data, Math.min(4096, limits.headerBytesMax >> 1), this.options.bodyBytesMax)
      if (scanned === incomplete) return
      const peer = scanned === handOff ? undefined : this.accept()
      if (peer === undefined) return this.handOff()
      // The head is consumed from here on: the body's bytes move to `chunks`.
      this.peer = peer
      this.buffered = undefined
      if (data.length > this.head.headEnd) {
        this.chunks.push(data.subarray(this.head.headEnd))
        this.chunkBytes += data.length - this.head.headEnd
      }
    }
    const length = this.head.contentLength
    if (this.chunkBytes < length) return
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.chunkBytes)
    this.chunks.length = 0
    this.chunkBytes = 0
    const peer = this.peer
    this.peer = undefined
    this.requestStartedAt = 0
    this.buffered = all.length > length ? all.subarray(length) : undefined
    this.start(peer, all.length > length ? all.subarray(0, length) : all)
  }

  /** The request's peer when the handler would run its packet; undefined when `node:http` must answer. */
  private accept(): PeerEntry | undefined {
    const { authorization, contentType } = this.head
    if (authorization === undefined || contentType === undefined || !this.options.acceptsContentType(contentType)) return undefined
    const token = this.options.bearerToken(authorization)
    return token === undefined ? undefined : this.options.peers.byToken(token)
  }

  private start(peer: PeerEntry, bytes: Buffer): void {
    this.state.busy++
    const fiber = this.options.run(this.options.pipeline.process({ bytes, source: peer.account, unfulfillable: false }))
    this.fiber = fiber
    this.slot = this.options.inFlight.add(fiber)
    fiber.addObserver(this.onExit)
  }

  private readonly onExit = (exit: Exit.Exit<Reply>): void => {
    this.fiber = undefined
    this.options.inFlight.delete(this.slot)
    this.state.busy--
    const socket = this.socket
    if (!Exit.isSuccess(exit)) {
      // Interrupted (client gone, or shutdown after the drain timeout): nobody gets an answer.
      if (!socket.destroyed) socket.destroy()
      return
    }
    if (this.gone || !socket.writable) return
    const close = this.options.draining()
    socket.write(answer(encodeReply(exit.value), this.keepAliveSeconds, close))
    if (close) {
      // As `node:http` after a `Connection: close` answer: end, then destroy once written. Bytes
      // that still arrive are not read as requests: nobody would get their answers.
      this.gone = true
      socket.off("data", this.onData)
      this.release()
      socket.destroySoon()
      return
    }
    // A client that sends requests but does not read the answers: wait until it reads (as
    // `node:http` stops parsing while its answers wait), so its answers cannot pile up here.
    if (socket.writableNeedDrain) {
      this.awaitingDrain = true
      socket.once("drain", this.onDrain)
      return
    }
    this.readNext()
  }

  private readonly onDrain = (): void => {
    this.awaitingDrain = false
    if (!this.gone) this.readNext()
  }

  /** After an answer: the pipelined bytes that arrived meanwhile are the next request's. */
  private readNext(): void {
    const socket = this.socket
    if (this.chunks.length > 0) {
      const pending = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.chunkBytes)
      this.chunks.length = 0
      this.chunkBytes = 0
      this.buffered = this.buffered === undefined ? pending : Buffer.concat([this.buffered, pending])
    }
    if (socket.isPaused()) socket.resume()
    this.next()
  }

  /** Gives the connection, with its unconsumed bytes put back, to `node:http`. */
  private handOff(): void {
    const socket = this.socket
    socket.pause()
    this.detach()
    if (this.buffered !== undefined) socket.unshift(this.buffered)
    this.buffered = undefined
    this.options.handOff(socket)
    socket.resume()
  }

  /** Answers 408 and closes, as `node:http` does for a request whose headers or body are too slow. */
  timeOut(): void {
    if (this.gone) return
    if (this.socket.writable) this.socket.write(requestTimeoutAnswer)
    this.socket.destroy()
  }

  private detach(): void {
    const socket = this.socket
    socket.off("data", this.onData)
    socket.off("end", this.onEnd)
    socket.off("close", this.onClose)
    socket.off("error", this.onError)
    socket.off("timeout", this.onTimeout)
    this.release()
  }

  private release(): void {
    this.requestStartedAt = 0
    this.options.release(this)
  }

  /** The client half-closed: as `node:http` (no half-open connections), end ours; a packet in flight is interrupted when the socket closes. */
  private readonly onEnd = (): void => {
    if (this.socket.writable) this.socket.end()
  }

  private readonly onClose = (): void => {
    this.gone = true
    this.release()
    this.fiber?.interruptUnsafe()
  }

  private readonly onError = (): void => {
    // A socket error is followed by `close`.
  }

  /** The guard's idle timeout: close, unless a packet is being processed (bounded by its expiry). */
  private readonly onTimeout = (): void => {
    if (this.fiber === undefined) this.socket.destroy()
  }
}
