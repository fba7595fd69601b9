/**
 * The fast path's request head reader alone: every strict prefix of an accepted head is
 * `incomplete` (a valid request arriving byte by byte is never handed off), the fields it reads,
 * and the boundaries of each bound (head size, Content-Length, header lines, digits). What it
 * accepts is compared with `node:http` over sockets in IlpListener.test.ts.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { handOff, headerLinesMax, incomplete, RequestHead } from "../../src/Http/Http1Request.ts"

const bodyBytesMax = 64 * 1024
const headBytesMax = 4096

const request = (lines: ReadonlyArray<string>, target = "/ilp") => Buffer.from(`POST ${target} HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n`, "latin1")
const required = ["Host: 127.0.0.1", "Authorization: Bearer abc", "Content-Type: application/octet-stream", "Content-Length: 5"]
const scan = (bytes: Buffer, max = headBytesMax) => new RequestHead().scan(bytes, max, bodyBytesMax)

describe("Http1Request: the strict head reader", () => {
  it("every strict prefix of an accepted head is incomplete; the whole head gives its fields", () => {
    const ows = fc.constantFrom("", " ", "\t", "  ")
    fc.assert(
      fc.property(
        fc.constantFrom("/", "/ilp", "/ilp?a=b", "/?x"),
        ows, ows, fc.integer({ min: 0, max: bodyBytesMax }),
        fc.array(fc.tuple(fc.stringMatching(/^x-[a-z0-9!#$%&'*+.^_`|~-]{1,10}$/), fc.stringMatching(/^[!-~]([ !-~]{0,20}[!-~])?$/)), { maxLength: 5 }),
        (target, before, after, length, extras) => {
          const lines = [`host:${before}h`, `AUTHORIZATION:${before}Bearer tok${after}`, `content-type: application/ilp+octet-stream${after}`,
            `Content-Length:${before}${length}${after}`, ...extras.map(([n, v]) => `${n}: ${v}`)]
          const head = request(lines, target)
          const reader = new RequestHead()
          for (let end = 0; end < head.length; end++) expect(reader.scan(head.subarray(0, end), headBytesMax, bodyBytesMax)).toBe(incomplete)
          expect(reader.scan(Buffer.concat([head, Buffer.from("body")]), headBytesMax, bodyBytesMax)).toBe(1)
          expect(reader.headEnd).toBe(head.length)
          expect(reader.contentLength).toBe(length)
          expect(reader.authorization).toBe("Bearer tok")
          expect(reader.contentType).toBe("application/ilp+octet-stream")
        }
      ),
      { numRuns: 200 }
    )
  })

  it("bounds: head size, Content-Length, header lines, digits", () => {
    const base = request(required)
    // Head size: exactly the bound is accepted, one byte more is handed off.
    expect(scan(base, base.length)).toBe(1)
    expect(scan(base, base.length - 1)).toBe(handOff)
    // Content-Length.
    expect(scan(request([...required.slice(0, 3), `content-length: ${bodyBytesMax}`]))).toBe(1)
    expect(scan(request([...required.slice(0, 3), `content-length: ${bodyBytesMax + 1}`]))).toBe(handOff)
    expect(scan(request([...required.slice(0, 3), "content-length: 000000005"]))).toBe(1)
    expect(scan(request([...required.slice(0, 3), "content-length: 0000000005"]))).toBe(handOff)
    // Header lines.
    const filler = (n: number) => Array.from({ length: n }, (_, i) => `x-${i}: 1`)
    expect(scan(request([...required, ...filler(headerLinesMax - required.length)]))).toBe(1)
    expect(scan(request([...required, ...filler(headerLinesMax - required.length + 1)]))).toBe(handOff)
  })

  it("hands off what node:http must answer, as soon as the byte that leaves the subset arrives", () => {
    const cases: ReadonlyArray<Buffer> = [
      request(required, "/other"),
      request(required, "/ilp#x"),
      Buffer.from("GET /ilp HTTP/1.1\r\n"),
      Buffer.from("POST /ilp HTTP/1.0\r\n"),
      request([...required, "Content-Length: 5"]),
      request([...required, "Transfer-Encoding: chunked"]),
      request([...required, "Expect: 100-continue"]),
      request([...required, "Upgrade: h2c"]),
      request([...required, "Connection: close"]),
      request([...required, "Proxy-Connection: keep-alive"]),
      request([...required, "Connection: keep-alive, Upgrade"]),
      request([...required, "Host: again"]),
      request([...required, "Authorization: Bearer again"]),
      request([...required, "content-type: application/octet-stream"]),
      request(required.filter((l) => !l.startsWith("Host"))),
      request([...required.filter((l) => !l.startsWith("Host")), "Host: "]),
      request(required.filter((l) => !l.startsWith("Content-Length"))),
      request(required.map((l) => l.replace("Content-Length: 5", "Content-Length: 5 5"))),
      request(required.map((l) => l.replace("Content-Length: 5", "Content-Length: +5"))),
      request([...required, "X-A: caf\xe9"]),
      request([...required, "X-A: a\x7fb"]),
      request([...required, "X-A: a\0b"]),
      request([...required, " folded"]),
      request([...required, ": empty name"]),
      request([...required, "X A: space in name"]),
      Buffer.from(`POST /ilp HTTP/1.1\n${required.join("\n")}\n\n`),
      Buffer.from(`POST /ilp HTTP/1.1\r\n${required.join("\r\n")}\r\nX-A: 1\rX-B: 2\r\n\r\n`)
    ]
    for (const bytes of cases) expect([bytes.toString("latin1"), scan(bytes)]).toEqual([bytes.toString("latin1"), handOff])
    // Bare LF in the request line: handed off at once, before the head could be complete.
    expect(scan(Buffer.from("POST /ilp HTTP/1.1\n"))).toBe(handOff)
  })
})
