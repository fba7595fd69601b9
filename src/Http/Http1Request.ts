/**
 * The ILP-over-HTTP fast path's request head reader: a strict subset of HTTP/1.1 that the lean
 * listener (`IlpListener.ts`) answers itself. Anything outside it is not an error here: the
 * connection is handed, before any of that request is consumed, to the `node:http` server, which
 * answers exactly as it always did (404, 405, 400, 408, 413, 431, chunked bodies, `Expect`, ...).
 * So this reader only has to be right about what it ACCEPTS; when in doubt it says "hand off".
 *
 * Accepted (each of these is what `node:http` accepts and reads the same way):
 * - request line exactly `POST / HTTP/1.1` or `POST /ilp HTTP/1.1`, the target optionally followed
 *   by `?` and a query of RFC 3986 query characters;
 * - header lines `name: value` ending in CRLF, the name RFC 9110 `tchar`s, the value visible ASCII,
 *   space and tab (no obs-text, no control bytes, no obs-fold, no bare CR or LF), OWS trimmed;
 * - `Host` exactly once and not empty, `Content-Length` exactly once with 1–9 digits and at most `bodyBytesMax`;
 *   `Authorization` and `Content-Type` at most once; `Connection` only as `keep-alive`;
 * - no `Transfer-Encoding`, `Expect`, `Upgrade` or `Proxy-Connection` (which `node:http` reads as
 *   `Connection`); at most `headerLinesMax` header lines;
 * - the whole head (request line to the blank line) at most `headBytesMax` bytes.
 *
 * `scan` looks at the whole buffered head each time it is called and answers as soon as it can:
 * `handOff` the moment a byte leaves the subset (also before the head is complete, so a request
 * `node:http` would answer at once is never held), `incomplete` while every byte so far fits.
 */
import { sameName, tokenBytes } from "./Http1Head.ts"

/** The head is not complete yet and everything so far fits the subset. */
export const incomplete = 0
/** Outside the subset: hand the connection to `node:http`. */
export const handOff = -1

/** Header lines accepted on the fast path (an ILP peer sends about six). */
export const headerLinesMax = 64

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9
const COLON = 58
const QUESTION = 63

/** RFC 3986 `query`: pchar / "/" / "?" (unreserved, pct-encoded's "%", sub-delims, ":", "@"). */
const queryChar = new Uint8Array(256)
for (const c of "-._~!$&'()*+,;=:@/?%0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") queryChar[c.charCodeAt(0)] = 1

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0))
const post = ascii("POST /")
const ilpPath = ascii("ilp")
const version = ascii(" HTTP/1.1\r\n")
const octetStream = "application/octet-stream"
const octetStreamBytes = ascii(octetStream)

/** Names the reader acts on, lower case; any other name is skipped. */
const names = {
  contentLength: "content-length",
  transferEncoding: "transfer-encoding",
  expect: "expect",
  upgrade: "upgrade",
  /** llhttp reads it as `Connection` (`close` closes). */
  proxyConnection: "proxy-connection",
  connection: "connection",
  host: "host",
  authorization: "authorization",
  contentType: "content-type"
}

/** `data[start, end)` is the lower-case `name`, ignoring ASCII case (`sameName` of `Http1Head.ts`). */
const nameIs = (data: Buffer, start: number, end: number, name: string): boolean => sameName(data, start, end - start, name)

/** `data[start, end)` equals `expected` exactly. */
const bytesAre = (data: Buffer, start: number, end: number, expected: Uint8Array): boolean => {
  if (end - start !== expected.length) return false
  for (let i = 0; i < expected.length; i++) if (data[start + i] !== expected[i]) return false
  return true
}

/** `data[at, ...)` matches `expected` as far as `data` goes: 1 all there, 0 a prefix of it, -1 differs. */
const literal = (data: Buffer, at: number, expected: Uint8Array): number => {
  const n = Math.min(expected.length, data.length - at)
  for (let i = 0; i < n; i++) if (data[at + i] !== expected[i]) return -1
  return n === expected.length ? 1 : 0
}

/** What `scan` read from a head it accepted. Reused per connection: one instance, no allocation per request. */
export class RequestHead {
  /** Offset of the body: just past the blank line. */
  headEnd = 0
  contentLength = 0
  /** Trimmed values as `node:http`'s `request.headers` would give them; undefined when absent. */
  authorization: string | undefined = undefined
  contentType: string | undefined = undefined

  /**
   * Reads the head at the start of `data`: `incomplete`, `handOff`, or 1 with the fields set.
   * `headBytesMax` bounds the head, `bodyBytesMax` the Content-Length.
   */
  scan(data: Buffer, headBytesMax: number, bodyBytesMax: number): number {
    const length = Math.min(data.length, headBytesMax)
    const outcome = this.scanHead(data, length, bodyBytesMax)
    // Past the bound without a blank line: too large for the fast path.
    return outcome === incomplete && data.length >= headBytesMax ? handOff : outcome
  }

  private scanHead(data: Buffer, length: number, bodyBytesMax: number): number {
    this.authorization = undefined
    this.contentType = undefined
    // Request line: "POST /" ["ilp"] ["?" query] " HTTP/1.1\r\n".
    let at = literal(data, 0, post)
    if (at !== 1) return at
    at = post.length
    if (at < length && data[at] === ilpPath[0]) {
      const path = literal(data, at, ilpPath)
      if (path !== 1) return path
      at += ilpPath.length
    }
    if (at >= length) return incomplete
    if (data[at] === QUESTION) {
      at++
      while (at < length && queryChar[data[at]!] === 1) at++
      if (at >= length) return incomplete
    }
    const line = literal(data, at, version)
    if (line !== 1) return line
    at += version.length

    let contentLength = -1
    let hosts = 0
    let lines = 0
    for (;;) {
      if (at >= length) return incomplete
      if (data[at] === CR) {
        if (at + 1 >= length) return incomplete
        if (data[at + 1] !== LF) return handOff
        if (hosts !== 1 || contentLength < 0) return handOff
        this.headEnd = at + 2
        this.contentLength = contentLength
        return 1
      }
      if (++lines > headerLinesMax) return handOff
      // Name: one or more tchars, then ":".
      const nameStart = at
      while (at < length && tokenBytes[data[at]!] === 1) at++
      if (at >= length) return incomplete
      if (data[at] !== COLON || at === nameStart) return handOff
      const nameEnd = at++
      // Value: OWS, visible ASCII / SP / HTAB, CRLF.
      while (at < length && (data[at] === SP || data[at] === HTAB)) at++
      const valueStart = at
      while (at < length) {
        const c = data[at]!
        if ((c < 0x21 && c !== SP && c !== HTAB) || c > 0x7e) break
        at++
      }
      if (at >= length) return incomplete
      if (data[at] !== CR) return handOff
      if (at + 1 >= length) return incomplete
      if (data[at + 1] !== LF) return handOff
      let valueEnd = at
      while (valueEnd > valueStart && (data[valueEnd - 1] === SP || data[valueEnd - 1] === HTAB)) valueEnd--
      at += 2
      const first = data[nameStart]! | 0x20
      if (first === 0x63) { // c
        if (nameIs(data, nameStart, nameEnd, names.contentLength)) {
          if (contentLength >= 0) return handOff
          contentLength = digits(data, valueStart, valueEnd)
          if (contentLength < 0 || contentLength > bodyBytesMax) return handOff
        } else if (nameIs(data, nameStart, nameEnd, names.contentType)) {
          if (this.contentType !== undefined) return handOff
          // The common value without a string per request.
          this.contentType = bytesAre(data, valueStart, valueEnd, octetStreamBytes)
            ? octetStream
            : data.toString("latin1", valueStart, valueEnd)
        } else if (nameIs(data, nameStart, nameEnd, names.connection)) {
          if (!nameIs(data, valueStart, valueEnd, "keep-alive")) return handOff
        }
      } else if (first === 0x61) { // a
        if (nameIs(data, nameStart, nameEnd, names.authorization)) {
          if (this.authorization !== undefined) return handOff
          this.authorization = data.toString("latin1", valueStart, valueEnd)
        }
      } else if (first === 0x68) { // h
        // `node:http` answers 400 to an empty Host.
        if (nameIs(data, nameStart, nameEnd, names.host)) hosts += valueEnd > valueStart ? 1 : 2
      } else if (
        nameIs(data, nameStart, nameEnd, names.transferEncoding) || nameIs(data, nameStart, nameEnd, names.expect) ||
        nameIs(data, nameStart, nameEnd, names.upgrade) || nameIs(data, nameStart, nameEnd, names.proxyConnection)
      ) {
        return handOff
      }
    }
  }
}

/** 1–9 ASCII digits as a number; -1 otherwise. */
const digits = (data: Buffer, start: number, end: number): number => {
  if (end <= start || end - start > 9) return -1
  let value = 0
  for (let i = start; i < end; i++) {
    const d = data[i]! - 48
    if (d < 0 || d > 9) return -1
    value = value * 10 + d
  }
  return value
}
