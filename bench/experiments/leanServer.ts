/**
 * EXPERIMENT: what Node's HTTP server costs per ILP-over-HTTP request, against a minimal HTTP/1.1
 * server on `net` sockets in front of the same (null) work. The server runs in a child process
 * (`node:http` with the listener's options and guard as `Http/PublicListener.ts` makes it, or `net` with a byte-level head scan that checks every
 * header byte like a strict parser would), reads the body, and answers a 35-byte body on the next
 * turn (`setImmediate`, as a packet's answer comes later). This process drives it with
 * `concurrency` keep-alive connections on raw sockets, one request in flight on each, sending the
 * request undici sends. The child reports its own CPU µs per request and, in a second window under
 * V8's sampling heap profiler (collected objects included), the bytes it allocated per request.
 *
 * With `handler,listener` as the fifth argument it measures the node's own listeners instead, in
 * front of a null pipeline: `node:http` running `IlpOverHttp.makeHandler` (before) against
 * `IlpListener` with its fast path (after).
 *
 * Usage: node bench/experiments/leanServer.ts [requests=100000] [concurrency=50] [alternations=2] [http,lean | handler,listener]
 */
import { fork } from "node:child_process"
import { Session } from "node:inspector"
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from "node:net"
import { Effect } from "effect"
import type * as Fiber from "effect/Fiber"
import type { Server } from "node:http"
import type { Server as NetServer } from "node:net"
import { PacketType, type Reply } from "../../src/Connector/Packet.ts"
import type { PeerEntry, PeersShape } from "../../src/Connector/Peers.ts"
import type { PipelineShape } from "../../src/Connector/Pipeline.ts"
import { Slots } from "../../src/Slots.ts"
import { createIlpListener } from "../../src/Http/IlpListener.ts"
import { bearerToken, bodyBytesMax, makeHandler, mediaType } from "../../src/Http/IlpOverHttp.ts"
import { createPublicServer, defaultListenerLimits } from "../../src/Http/PublicListener.ts"

const reply = Buffer.alloc(35, 7)
const body = Buffer.alloc(160, 9)
const request = Buffer.concat([
  Buffer.from(
    "POST /ilp HTTP/1.1\r\nhost: 127.0.0.1:40000\r\nconnection: keep-alive\r\n" +
      "authorization: Bearer bench-token-0123456789\r\ncontent-type: application/octet-stream\r\n" +
      `content-length: ${body.length}\r\n\r\n`,
    "latin1"
  ),
  body
])

// ---------------------------------------------------------------- server (child) ----

/** RFC 9110 tchar. */
const tchar = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") tchar[c.charCodeAt(0)] = 1

/** The minimal server: strict head scan, Content-Length framing, one answer per request, head + body in one write. */
const serveLean = (socket: Socket) => {
  socket.setNoDelay(true)
  let buffered: Buffer | undefined
  let busy = false
  const onData = (chunk: Buffer) => {
    buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk])
    next()
  }
  const next = () => {
    if (busy || buffered === undefined) return
    const data = buffered
    const end = data.indexOf("\r\n\r\n")
    if (end < 0) return
    let length = -1
    let authorization = ""
    let contentType = ""
    let line = data.indexOf(13) + 2
    while (line < end + 2) {
      const lineEnd = data.indexOf(13, line)
      let colon = line
      while (colon < lineEnd && tchar[data[colon]!] === 1) colon++
      if (data[colon] !== 58) return socket.destroy()
      let v = colon + 1
      while (data[v] === 32 || data[v] === 9) v++
      for (let i = v; i < lineEnd; i++) {
        const c = data[i]!
        if (c < 32 && c !== 9 || c === 127) return socket.destroy()
      }
      const nameLength = colon - line
      const first = data[line]! | 32
      if (nameLength === 14 && first === 99 && data.toString("latin1", line, colon).toLowerCase() === "content-length") {
        length = Number(data.toString("latin1", v, lineEnd))
      } else if (nameLength === 13 && first === 97) {
        authorization = data.toString("latin1", v, lineEnd)
      } else if (nameLength === 12 && first === 99) {
        contentType = data.toString("latin1", v, lineEnd)
      }
      line = lineEnd + 2
    }
    const total = end + 4 + length
    if (data.length < total) return
    const requestBody = data.subarray(end + 4, total)
    buffered = data.length === total ? undefined : data.subarray(total)
    busy = true
    if (authorization.length + contentType.length + requestBody.length === 0) return socket.destroy()
    setImmediate(() => {
      const head = `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${reply.length}\r\n\r\n`
      const out = Buffer.allocUnsafe(head.length + reply.length)
      out.write(head, 0, "latin1")
      reply.copy(out, head.length)
      socket.write(out)
      busy = false
      next()
    })
  }
  socket.on("data", onData)
  socket.on("error", () => undefined)
}

/**
 * The node's own two listeners in front of a null pipeline (a fiber per packet answering a fixed
 * Reject at once): `handler` = `node:http` running `IlpOverHttp.makeHandler` (before this pass),
 * `listener` = `IlpListener` with its fast path (after).
 */
const nodeListener = (kind: "handler" | "listener"): Server | NetServer => {
  const peer = { account: { peerId: "bench" } } as unknown as PeerEntry
  const peers = { byToken: (token: string) => (token === "bench-token-0123456789" ? peer : undefined) } as unknown as PeersShape
  const answer: Reply = { type: PacketType.Reject, reject: { code: "F00", triggeredBy: "test.x", message: "", data: Buffer.alloc(0) } }
  const pipeline: PipelineShape = { process: () => Effect.succeed(answer) }
  const options = { peers, pipeline, run: (effect: Effect.Effect<Reply>) => Effect.runFork(effect), inFlight: new Slots<Fiber.Fiber<Reply>>(), draining: () => false }
  if (kind === "handler") return createPublicServer(defaultListenerLimits, makeHandler(options)).server
  return createIlpListener({
    ...options,
    limits: defaultListenerLimits,
    bodyBytesMax,
    bearerToken,
    acceptsContentType: (contentType) => mediaType(contentType) === "application/octet-stream"
  }, makeHandler(options)).server
}

const serve = (kind: string) => {
  const server = kind === "handler" || kind === "listener" ? nodeListener(kind) : kind === "lean"
    ? createNetServer(serveLean)
    : createPublicServer(defaultListenerLimits, (req, res) => {
      // As IlpOverHttp.makeHandler: data, error and end listeners, a close listener while the answer is pending.
      const chunks: Array<Buffer> = []
      req.on("error", () => undefined)
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const requestBody = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
        if ((req.headers.authorization ?? "").length + (req.headers["content-type"] ?? "").length + requestBody.length === 0) res.destroy()
        const onClose = () => undefined
        res.on("close", onClose)
        setImmediate(() => {
          res.off("close", onClose)
          res.writeHead(200, ["content-type", "application/octet-stream", "content-length", String(reply.length)])
          res.end(reply)
        })
      })
    }).server
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as AddressInfo).port }))
  const session = new Session()
  session.connect()
  let cpu = process.cpuUsage()
  process.on("message", (message: { readonly op: string; readonly requests?: number }) => {
    if (message.op === "cpu-start") cpu = process.cpuUsage()
    if (message.op === "cpu-stop") {
      const used = process.cpuUsage(cpu)
      process.send!({ cpuMicros: (used.user + used.system) / message.requests! })
    }
    if (message.op === "alloc-start") {
      session.post("HeapProfiler.startSampling", { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, () => process.send!({ ok: true }))
    }
    if (message.op === "alloc-stop") {
      session.post("HeapProfiler.getSamplingProfile", (error, result) => {
        if (error !== null) throw error
        session.post("HeapProfiler.stopSampling")
        interface Node { readonly selfSize: number; readonly children: ReadonlyArray<Node> }
        const total = (node: Node): number => node.selfSize + node.children.reduce((sum, child) => sum + total(child), 0)
        process.send!({ bytes: total(result.profile.head as unknown as Node) / message.requests! })
      })
    }
    if (message.op === "exit") process.exit(0)
  })
}

// ---------------------------------------------------------------- driver ----

const drive = (port: number, requests: number, concurrency: number) =>
  new Promise<void>((resolve, reject) => {
    let sent = 0
    let answered = 0
    const sockets: Array<Socket> = []
    const one = () => {
      const socket = connect({ host: "127.0.0.1", port })
      socket.setNoDelay(true)
      sockets.push(socket)
      let pending: Buffer = Buffer.alloc(0)
      const send = () => {
        if (sent >= requests) return
        sent++
        socket.write(request)
      }
      socket.on("connect", send)
      socket.on("error", reject)
      socket.on("data", (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
        for (;;) {
          const end = pending.indexOf("\r\n\r\n")
          if (end < 0) return
          const match = /content-length: *(\d+)/i.exec(pending.toString("latin1", 0, end))
          const total = end + 4 + Number(match?.[1] ?? 0)
          if (pending.length < total) return
          pending = pending.subarray(total)
          answered++
          if (answered === requests) {
            for (const s of sockets) s.destroy()
            return resolve()
          }
          send()
        }
      })
    }
    for (let i = 0; i < concurrency; i++) one()
  })

const ask = <A>(child: ReturnType<typeof fork>, message: object) =>
  new Promise<A>((resolve) => {
    child.once("message", (answer) => resolve(answer as A))
    child.send(message)
  })

const measure = async (kind: string, requests: number, concurrency: number) => {
  const child = fork(new URL(import.meta.url).pathname, ["serve", kind])
  const { port } = await new Promise<{ port: number }>((resolve) => child.once("message", (m) => resolve(m as { port: number })))
  await drive(port, 20_000, concurrency) // warm-up
  child.send({ op: "cpu-start" })
  const started = performance.now()
  await drive(port, requests, concurrency)
  const ms = performance.now() - started
  const { cpuMicros } = await ask<{ cpuMicros: number }>(child, { op: "cpu-stop", requests })
  await ask(child, { op: "alloc-start" })
  await drive(port, 40_000, concurrency)
  const { bytes } = await ask<{ bytes: number }>(child, { op: "alloc-stop", requests: 40_000 })
  child.send({ op: "exit" })
  process.stdout.write(
    `${kind.padEnd(8)} ${Math.round(requests / (ms / 1000))} requests/s, ${cpuMicros.toFixed(1)} µs CPU and ${bytes.toFixed(0)} bytes allocated per request (server)\n`
  )
}

if (process.argv[2] === "serve") serve(process.argv[3] ?? "http")
else {
  const requests = Number(process.argv[2] ?? 100_000)
  const concurrency = Number(process.argv[3] ?? 50)
  const alternations = Number(process.argv[4] ?? 2)
  const kinds = (process.argv[5] ?? "http,lean").split(",")
  for (let i = 0; i < alternations; i++) for (const kind of kinds) await measure(kind, requests, concurrency)
}
