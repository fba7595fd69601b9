/**
 * An incremental, bounded parser for one HTTP/1.1 (or 1.0) response, for the lean peer client
 * (`Http1Client.ts`). Peers are hostile, so every part of a response has a bound and anything the
 * parser does not fully understand is an error, never a guess:
 *
 * - status line `HTTP/1.1 NNN reason` or `HTTP/1.0 NNN reason` (reason optional); `1xx` interim
 *   answers (100 Continue, 102, 103) are skipped, at most `interimMax` of them; 101 is an error
 *   (we never ask to switch protocols);
 * - header section: CRLF line endings, at most `headerBytesMax` bytes and `headerCountMax` fields,
 *   field names are tokens, values carry no control characters, no obs-fold;
 * - framing: 204/304 → no body; `Transfer-Encoding: chunked` (exactly that coding; chunk extensions
 *   skipped, chunk-size line ≤ `chunkLineBytesMax`, trailers skipped within the header bounds);
 *   else exactly one valid `Content-Length`; else the body runs to the end of the connection.
 *   `Transfer-Encoding` with `Content-Length`, two `Content-Length` fields or any other coding is
 *   an error (the classic request-smuggling ambiguities);
 * - body: a 2xx body over `bodyBytesMax` fails with `tooLarge`; a non-2xx body is read and dropped
 *   (the caller only needs the status), and when it is over the bound the response completes early
 *   with `reusable = false` so its connection is closed instead of drained.
 *
 * `feed` returns `more` (needs bytes), `done` (see `status`, `body`, `reusable`, `leftover`) or
 * `failed` (see `failure`). `end` tells the parser the peer closed the connection.
 */

import { fieldColon, fieldValue, isStatusLine, lineEnd, sameName } from "./Http1Head.ts"

export type ParseStep = "more" | "done" | "failed"

export interface ParseFailure {
  /** `tooLarge`: a 2xx body over the bound (T00). `malformed`: anything else (T01). */
  readonly kind: "malformed" | "tooLarge"
  readonly message: string
}

export interface ResponseLimits {
  readonly bodyBytesMax: number
  readonly headerBytesMax: number
  readonly headerCountMax: number
  readonly chunkLineBytesMax: number
  readonly interimMax: number
}

export const defaultResponseLimits: ResponseLimits = {
  bodyBytesMax: 64 * 1024,
  headerBytesMax: 16 * 1024,
  headerCountMax: 100,
  chunkLineBytesMax: 1024,
  interimMax: 8
}

const crlfcrlf = Buffer.from("\r\n\r\n", "latin1")
// No quantifier here may backtrack over another (a lazy value before trailing whitespace took
// 0.3 s on one 16 KiB header line): the name, then the raw value, checked and trimmed apart.
const fieldLine = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):(.*)$/
const controlCharacter = /[\x00-\x08\x0a-\x1f\x7f]/
const chunkSizeLine = /^([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?$/
const contentLength = /^\d{1,15}$/
const keepAliveTimeout = /(?:^|[,\s])timeout\s*=\s*(\d{1,9})/i
const empty = Buffer.alloc(0)

type State = "head" | "length" | "chunkSize" | "chunkData" | "chunkEnd" | "trailers" | "close" | "done" | "failed"

export class ResponseParser {
  status = 0
  /** The connection may carry another exchange after this response. */
  reusable = true
  /** The server's `Keep-Alive: timeout=N`, in ms; undefined when it said none. */
  keepAliveHintMs: number | undefined = undefined
  /** Bytes received after the end of this response (a server that sends these is not trusted). */
  leftover: Buffer = empty
  failure: ParseFailure | undefined = undefined

  private state: State = "head"
  private buffer: Buffer = empty
  /** Where partial input is gathered (see `append`); `inStore` when `buffer` is a view of it. */
  private store: Buffer | undefined = undefined
  private inStore = false
  private position = 0
  private searchFrom = 0
  private interim = 0
  private remaining = 0
  private trailerBytes = 0
  private trailerCount = 0
  private parts: Array<Buffer> = []
  private bodyBytes = 0
  private discard = false

  private readonly limits: ResponseLimits

  constructor(limits: ResponseLimits = defaultResponseLimits) {
    this.limits = limits
  }

  /** The 2xx body (empty for a non-2xx answer, whose body is dropped). */
  get body(): Buffer {
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bodyBytes)
  }

  feed(chunk: Buffer): ParseStep {
    if (this.state === "done") {
      this.leftover = this.leftover.length === 0 ? chunk : Buffer.concat([this.leftover, chunk])
      return "done"
    }
    if (this.state === "failed") return "failed"
    const rest = this.buffer.length - this.position
    if (rest === 0) {
      this.buffer = chunk
      this.inStore = false
      this.searchFrom = 0
    } else {
      this.append(rest, chunk)
    }
    this.position = 0
    return this.run()
  }

  /**
   * Keeps the unparsed `rest` and appends `chunk` in a store that grows by doubling, so a peer
   * dribbling its head one byte per segment costs linear copying, not quadratic (80 ms of CPU for
   * a 16 KiB head with `Buffer.concat` per byte). Body bytes taken from the store are copied out
   * (`addBody`), so the store can be overwritten.
   */
  private append(rest: number, chunk: Buffer): void {
    const needed = rest + chunk.length
    let store = this.store
    if (this.inStore && store !== undefined && store.length >= needed) {
      if (this.position > 0) store.copyWithin(0, this.position, this.buffer.length)
    } else {
      const grown = Buffer.allocUnsafe(Math.max(needed, 2 * (store?.length ?? 0), 1024))
      this.buffer.copy(grown, 0, this.position)
      store = grown
    }
    chunk.copy(store, rest)
    this.store = store
    this.inStore = true
    this.buffer = store.subarray(0, needed)
    this.searchFrom = Math.max(0, this.searchFrom - this.position)
  }

  /** The peer closed its side: completes a read-to-close body, fails anything else unfinished. */
  end(): ParseStep {
    if (this.state === "done" || this.state === "failed") return this.state
    if (this.state === "close") {
      this.state = "done"
      this.reusable = false
      return "done"
    }
    return this.fail("malformed", "connection closed before the reply was complete")
  }

  private fail(kind: ParseFailure["kind"], message: string): ParseStep {
    this.state = "failed"
    this.failure = { kind, message }
    this.reusable = false
    return "failed"
  }

  private run(): ParseStep {
    for (;;) {
      const step = this.step()
      if (step !== undefined) return step
    }
  }

  /** One state's work; undefined to go on with the next state. */
  private step(): ParseStep | undefined {
    switch (this.state) {
      case "head":
        return this.head()
      case "length":
      case "close": {
        const available = this.buffer.length - this.position
        const take = this.state === "close" ? available : Math.min(available, this.remaining)
        if (take > 0) {
          const tooLarge = this.addBody(this.buffer.subarray(this.position, this.position + take))
          if (tooLarge !== undefined) return tooLarge
          this.position += take
          this.remaining -= take
        }
        if (this.state === "length" && this.remaining === 0) return this.complete()
        return "more"
      }
      case "chunkSize":
        return this.chunkSize()
      case "chunkData": {
        const take = Math.min(this.buffer.length - this.position, this.remaining)
        if (take === 0) return "more"
        const tooLarge = this.addBody(this.buffer.subarray(this.position, this.position + take))
        if (tooLarge !== undefined) return tooLarge
        this.position += take
        this.remaining -= take
        if (this.remaining > 0) return "more"
        this.state = "chunkEnd"
        return undefined
      }
      case "chunkEnd": {
        if (this.buffer.length - this.position < 2) return "more"
        if (this.buffer[this.position] !== 13 || this.buffer[this.position + 1] !== 10) {
          return this.fail("malformed", "chunk data not followed by CRLF")
        }
        this.position += 2
        this.state = "chunkSize"
        return undefined
      }
      case "trailers":
        return this.trailers()
      case "done":
      case "failed":
        return this.state
    }
  }

  private head(): ParseStep | undefined {
    const end = this.buffer.indexOf(crlfcrlf, Math.max(this.position, this.searchFrom))
    if (end < 0) {
      if (this.buffer.length - this.position > this.limits.headerBytesMax) {
        return this.fail("malformed", `reply headers larger than ${this.limits.headerBytesMax} bytes`)
      }
      this.searchFrom = Math.max(this.position, this.buffer.length - 3)
      return "more"
    }
    if (end + 4 - this.position > this.limits.headerBytesMax) {
      return this.fail("malformed", `reply headers larger than ${this.limits.headerBytesMax} bytes`)
    }
    // The head is checked on its bytes (no string per line, no match per field: a string only for
    // the values the framing needs), with exactly the rules of the status-line pattern (`isStatusLine`), `fieldLine` and
    // `controlCharacter`: lines are split at CRLF, and any other CR, LF or control byte (tab
    // aside) in a line makes it malformed.
    const b = this.buffer
    const headStart = this.position
    this.position = end + 4
    this.searchFrom = 0
    let fields = 0
    for (let i = headStart; i < end - 1; i++) {
      if (b[i] === 13 && b[i + 1] === 10) fields++
    }
    const statusEnd = lineEnd(b, headStart, end)
    if (!isStatusLine(b, headStart, statusEnd)) return this.fail("malformed", "malformed status line")
    const http10 = b[headStart + 7] === 48
    this.status = (b[headStart + 9]! - 48) * 100 + (b[headStart + 10]! - 48) * 10 + (b[headStart + 11]! - 48)
    if (fields > this.limits.headerCountMax) {
      return this.fail("malformed", `more than ${this.limits.headerCountMax} reply header fields`)
    }
    let length: string | undefined
    let chunked = false
    let close = false
    let keepAlive = false
    for (let start = statusEnd + 2; start <= end; ) {
      const stop = lineEnd(b, start, end)
      const colon = fieldColon(b, start, stop)
      if (colon < 0) return this.fail("malformed", "malformed reply header field")
      const nameLength = colon - start
      if (sameName(b, start, nameLength, "content-length")) {
        const value = fieldValue(b, colon, stop)
        if (length !== undefined) return this.fail("malformed", "more than one Content-Length")
        if (!contentLength.test(value)) return this.fail("malformed", "invalid Content-Length")
        length = value
      } else if (sameName(b, start, nameLength, "transfer-encoding")) {
        const value = fieldValue(b, colon, stop)
        if (chunked || value.toLowerCase() !== "chunked") {
          return this.fail("malformed", `unsupported Transfer-Encoding ${JSON.stringify(value)}`)
        }
        chunked = true
      } else if (sameName(b, start, nameLength, "connection")) {
        for (const token of fieldValue(b, colon, stop).toLowerCase().split(",")) {
          const option = token.trim()
          if (option === "close") close = true
          else if (option === "keep-alive") keepAlive = true
        }
      } else if (sameName(b, start, nameLength, "keep-alive")) {
        const timeout = keepAliveTimeout.exec(fieldValue(b, colon, stop))
        if (timeout !== null) this.keepAliveHintMs = Number(timeout[1]) * 1000
      }
      start = stop + 2
    }
    if (this.status < 200) {
      if (this.status === 101) return this.fail("malformed", "unexpected 101 Switching Protocols")
      if (++this.interim > this.limits.interimMax) {
        return this.fail("malformed", `more than ${this.limits.interimMax} interim (1xx) replies`)
      }
      this.keepAliveHintMs = undefined
      return undefined
    }
    if (chunked && length !== undefined) return this.fail("malformed", "both Transfer-Encoding and Content-Length")
    this.reusable = !close && (!http10 || keepAlive)
    this.discard = this.status > 299
    if (this.status === 204 || this.status === 304) return this.complete()
    if (chunked) {
      this.state = "chunkSize"
      return undefined
    }
    if (length === undefined) {
      this.state = "close"
      this.reusable = false
      return undefined
    }
    this.remaining = Number(length)
    if (this.remaining > this.limits.bodyBytesMax) return this.overBound()
    if (this.remaining === 0) return this.complete()
    this.state = "length"
    return undefined
  }

  private chunkSize(): ParseStep | undefined {
    const end = this.buffer.indexOf("\r\n", this.position, "latin1")
    if (end < 0) {
      if (this.buffer.length - this.position > this.limits.chunkLineBytesMax) {
        return this.fail("malformed", `chunk-size line longer than ${this.limits.chunkLineBytesMax} bytes`)
      }
      return "more"
    }
    if (end - this.position > this.limits.chunkLineBytesMax) {
      return this.fail("malformed", `chunk-size line longer than ${this.limits.chunkLineBytesMax} bytes`)
    }
    const line = chunkSizeLine.exec(this.buffer.toString("latin1", this.position, end))
    if (line === null) return this.fail("malformed", "malformed chunk-size line")
    this.position = end + 2
    const size = parseInt(line[1]!, 16)
    if (size === 0) {
      this.state = "trailers"
      return undefined
    }
    if (this.bodyBytes + size > this.limits.bodyBytesMax) return this.overBound()
    this.remaining = size
    this.state = "chunkData"
    return undefined
  }

  private trailers(): ParseStep | undefined {
    for (;;) {
      const end = this.buffer.indexOf("\r\n", this.position, "latin1")
      if (end < 0) {
        if (this.trailerBytes + this.buffer.length - this.position > this.limits.headerBytesMax) {
          return this.fail("malformed", `reply trailers larger than ${this.limits.headerBytesMax} bytes`)
        }
        return "more"
      }
      this.trailerBytes += end + 2 - this.position
      if (this.trailerBytes > this.limits.headerBytesMax) {
        return this.fail("malformed", `reply trailers larger than ${this.limits.headerBytesMax} bytes`)
      }
      if (end === this.position) {
        this.position += 2
        return this.complete()
      }
      const field = fieldLine.exec(this.buffer.toString("latin1", this.position, end))
      if (field === null || controlCharacter.test(field[2]!)) {
        return this.fail("malformed", "malformed trailer field")
      }
      if (++this.trailerCount > this.limits.headerCountMax) {
        return this.fail("malformed", `more than ${this.limits.headerCountMax} trailer fields`)
      }
      this.position = end + 2
    }
  }

  /** Adds body bytes; a step result when the body went over the bound. */
  private addBody(bytes: Buffer): ParseStep | undefined {
    if (this.bodyBytes + bytes.length > this.limits.bodyBytesMax) return this.overBound()
    this.bodyBytes += bytes.length
    if (!this.discard) this.parts.push(this.inStore ? Buffer.from(bytes) : bytes)
    return undefined
  }

  private overBound(): ParseStep {
    if (!this.discard) return this.fail("tooLarge", `reply larger than ${this.limits.bodyBytesMax} bytes`)
    // A non-2xx answer: the status is all the caller needs; close instead of draining.
    this.reusable = false
    this.state = "done"
    this.position = this.buffer.length
    return "done"
  }

  private complete(): ParseStep {
    this.state = "done"
    if (this.position < this.buffer.length) this.leftover = this.buffer.subarray(this.position)
    this.buffer = empty
    this.position = 0
    return "done"
  }
}
