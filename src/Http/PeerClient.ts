/**
 * Outgoing ILP-over-HTTP, the node's `PeerClient` (the packet path's seam, src/Connector/PeerClient.ts):
 * one keep-alive connection pool per peer, `POST` with the peer's outgoing bearer token, aborted at
 * the packet's outgoing expiry. The pool is the lean HTTP/1.1 client on `node:net` sockets
 * (`Http1Client.ts`; `node:tls` sockets for `https:` peers, system CAs), measured faster than
 * undici for both (docs/performance/peer-client.md).
 *
 * Failure mapping: no reply before the deadline → R00 (`Expired`); connection refused, network or
 * TLS error, a malformed reply or non-2xx status → T01 (`PeerUnreachable`); a reply too large to be
 * an ILP packet → T00. A request is never retried, redirects never followed. Decoding the reply is
 * the caller's concern (the deliver stage).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Http1Pool } from "./Http1Client.ts"
import { defaultResponseLimits } from "./Http1Response.ts"
import { NodeConfigService, type PeerConfig } from "../Config.ts"
import { Expired, PeerUnreachable, InternalError } from "../Connector/IlpErrors.ts"
import { PeerClient, type PeerClientShape } from "../Connector/PeerClient.ts"

/** A reply larger than this cannot be an ILP Fulfill or Reject (data ≤ 32767 bytes). */
export const replyBytesMax = 64 * 1024

/**
 * Most connection pools kept (one per peer id that was sent to). Past it the oldest pool is closed
 * (gracefully: its requests in flight finish) and made again if its peer sends again, so peers
 * added and deleted at run time cannot grow the map without bound.
 */
export const peerPoolsMax = 10_000


export interface PeerClientOptions {
  /** Keep-alive connections per peer. */
  readonly connectionsMax: number
  /** How long an idle keep-alive connection is kept. */
  readonly keepAliveTimeoutMs: number
  /**
   * Requests per peer waiting for a connection when all `connectionsMax` are busy; past
   * it a packet fails at once with T01 (default `peerQueuedMax`).
   */
  readonly queuedMax?: number
}

/** Default bound on requests waiting for a connection to one peer (see `PeerClientOptions.queuedMax`). */
export const peerQueuedMax = 1024

/** Header values we write must be visible ASCII, space or tab (no CR/LF: no header injection). */
const headerSafe = /^[\t\x20-\x7e]*$/

interface Target {
  /** What the pool was made for: a change to either makes a new one. */
  readonly url: string
  readonly token: string
  readonly pool: Http1Pool
  /** The request head up to the Content-Length value. */
  readonly head: Buffer
  /** Why requests to this peer cannot be made (a token that cannot go in a header). */
  readonly invalid: string | undefined
}

const makeTarget = (peer: PeerConfig, options: PeerClientOptions): Target | undefined => {
  if (peer.outgoing === undefined) return undefined
  const url = new URL(peer.outgoing.url)
  const token = Redacted.value(peer.outgoing.token)
  const invalid = headerSafe.test(token) ? undefined : "outgoing token has characters an HTTP header cannot carry"
  const https = url.protocol === "https:"
  const pool = new Http1Pool({
    // WHATWG URL keeps the brackets of an IPv6 host; net.connect wants the bare address.
    host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port !== "" ? Number(url.port) : https ? 443 : 80,
    connectionsMax: options.connectionsMax,
    queuedMax: options.queuedMax ?? peerQueuedMax,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs,
    limits: { ...defaultResponseLimits, bodyBytesMax: replyBytesMax },
    ...(https ? { tls: {} } : {})
  })
  const head = Buffer.from(
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
      `Authorization: Bearer ${invalid === undefined ? token : ""}\r\n` +
      "Content-Type: application/octet-stream\r\nContent-Length: ",
    "latin1"
  )
  return { url: peer.outgoing.url, token, pool, head, invalid }
}

/** `head` (ending in "Content-Length: ") + the length + CRLF CRLF + `body`, in one buffer. */
const requestBytes = (head: Buffer, body: Uint8Array): Buffer => {
  const length = `${body.length}\r\n\r\n`
  const bytes = Buffer.allocUnsafe(head.length + length.length + body.length)
  head.copy(bytes, 0)
  bytes.write(length, head.length, "latin1")
  bytes.set(body, head.length + length.length)
  return bytes
}

/**
 * One request, failing with R00 when `timeoutMs` has passed: the deadline timer aborts the
 * exchange (destroying its socket if it has one, since a late reply on it could be taken for the
 * next request's); interruption of the fiber aborts it too. One `callback` with its own timer
 * rather than `Effect.timeoutOrElse`, whose race costs 7–9 µs more per packet (docs/performance/hot-path.md).
 * The duration comes from the packet's expiry read on Effect's `Clock`; the timer is real, like the
 * I/O it bounds.
 */
const request = (
  target: Target,
  peer: PeerConfig,
  prepare: Uint8Array,
  timeoutMs: number
): Effect.Effect<Uint8Array, PeerUnreachable | Expired | InternalError> =>
  Effect.callback((resume) => {
    let settled = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const exchange = target.pool.request(requestBytes(target.head, prepare), (error, status, body) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(
        error !== undefined ?
          Effect.fail(
            error.kind === "tooLarge" ?
              new InternalError({ reason: `peer ${peer.id}: ${error.message}` }) :
              new PeerUnreachable({ reason: `peer ${peer.id} unreachable: ${error.message}` })
          ) :
          status < 200 || status > 299 ?
          Effect.fail(new PeerUnreachable({ reason: `peer ${peer.id} answered HTTP ${status}` })) :
          Effect.succeed(body)
      )
    })
    if (settled) return
    timer = setTimeout(() => {
      settled = true
      exchange.abort()
      resume(Effect.fail(new Expired({ reason: `no reply from peer ${peer.id} before expiry` })))
    }, timeoutMs)
    // Run if the fiber is interrupted while waiting: a finalizer rather than the AbortSignal
    // (Effect makes an AbortController per call only when the register function asks for one).
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      exchange.abort()
    })
  })

export const make = (options: PeerClientOptions) =>
  Effect.gen(function*() {
    const targets = new Map<string, Target>()
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.allSettled([...targets.values()].map((target) => target.pool.close())))
    )
    // One pool per peer id. A peer whose outgoing URL or token changed at run time (operator API)
    // gets a new pool; the old one is closed once its in-flight requests are done (`close` waits
    // for them, each bounded by its packet's expiry). A deleted peer's idle connections close after `keepAliveTimeoutMs`.
    const targetFor = (peer: PeerConfig): Target | undefined => {
      if (peer.outgoing === undefined) return undefined
      const existing = targets.get(peer.id)
      if (existing !== undefined && existing.url === peer.outgoing.url && existing.token === Redacted.value(peer.outgoing.token)) {
        return existing
      }
      const target = makeTarget(peer, options)
      if (target === undefined) return undefined
      targets.delete(peer.id)
      targets.set(peer.id, target)
      if (existing !== undefined) void existing.pool.close()
      if (targets.size > peerPoolsMax) {
        const [oldestId, oldest] = targets.entries().next().value!
        targets.delete(oldestId)
        void oldest.pool.close()
      }
      return target
    }
    const send: PeerClientShape["send"] = (peer, prepare, deadlineMs) =>
      Effect.suspend(() => {
        const target = targetFor(peer)
        if (target === undefined) {
          return Effect.fail(new PeerUnreachable({ reason: `peer ${peer.id} has no outgoing endpoint` }))
        }
        if (target.invalid !== undefined) {
          return Effect.fail(new PeerUnreachable({ reason: `peer ${peer.id}: ${target.invalid}` }))
        }
        return Effect.flatMap(Clock.currentTimeMillis, (now) => request(target, peer, prepare, Math.max(0, deadlineMs - now)))
      })
    return PeerClient.of({ send })
  })

export const layer: Layer.Layer<PeerClient, never, NodeConfigService> = Layer.effect(
  PeerClient,
  Effect.flatMap(NodeConfigService, (config) =>
    make({ connectionsMax: config.peerConnectionsMax, keepAliveTimeoutMs: 30_000 }))
)
