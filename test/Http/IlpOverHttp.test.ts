/**
 * The ILP-over-HTTP listener's HTTP contract over real sockets: early answers, body limits (from
 * Content-Length and from a chunked body), keep-alive after an early answer, a client that goes
 * away, and the drain on shutdown (in-flight packets are answered, with `Connection: close`).
 */
import fc from "fast-check"
import { request as httpRequest } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { PacketType } from "../../src/Connector/Packet.ts"
import { bearerToken, bodyBytesMax, mediaType } from "../../src/Http/IlpOverHttp.ts"
import { depositTo, postPacket, startNode, type TestNode } from "../support/node.ts"
import { makePrepare } from "../support/packets.ts"
import { waitUntil } from "../support/wait.ts"
import { fulfillFromData, startTestPeer, type TestPeer } from "../support/testPeer.ts"

const token = "ilp-over-http-test-token-0001"
let peer: TestPeer
let node: TestNode

const config = (peerUrl: string) => ({
  ilpAddress: "test.node",
  peers: [
    { id: "client", asset: { code: "USD", scale: 2 }, incomingTokens: [token], staticIlpAddress: "test.client" },
    {
      id: "up",
      asset: { code: "USD", scale: 2 },
      incomingTokens: ["ilp-over-http-up-token-00001"],
      outgoing: { url: peerUrl, token: "ilp-over-http-out-token-0001" },
      staticIlpAddress: "test.up"
    }
  ]
})

beforeAll(async () => {
  peer = await startTestPeer(fulfillFromData)
  node = await startNode(config(peer.url))
  await depositTo(node, { kind: "peer", peerId: "client" }, 1_000_000n)
})

afterAll(async () => {
  await node?.close()
  await peer?.close()
})

interface RawAnswer {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly body: Buffer
}

/** One request on its own connection; `chunks` are written one by one (chunked encoding without a length). */
const raw = (
  url: string,
  options: { method?: string; headers?: Record<string, string>; chunks?: ReadonlyArray<Buffer> }
): Promise<RawAnswer> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? "POST", headers: options.headers ?? {}, agent: false }, (res) => {
      const parts: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => parts.push(chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    for (const chunk of options.chunks ?? []) req.write(chunk)
    req.end()
  })

const auth = { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" }

describe("ILP-over-HTTP listener", () => {
  it("answers 404 for other paths and 405 with Allow for other methods", async () => {
    expect((await raw(`http://127.0.0.1:${node.connectorPort}/other`, { headers: auth })).status).toBe(404)
    const get = await raw(node.url, { method: "GET", headers: auth })
    expect(get.status).toBe(405)
    expect(get.headers["allow"]).toBe("POST")
  })

  it("refuses a body over the limit from its Content-Length, and a chunked one as soon as it passes the limit", async () => {
    const declared = await raw(node.url, {
      headers: { ...auth, "content-length": String(bodyBytesMax + 1) },
      chunks: [Buffer.alloc(16)]
    })
    expect(declared.status).toBe(413)
    const chunked = await raw(node.url, {
      headers: { ...auth, "transfer-encoding": "chunked" },
      chunks: Array.from({ length: 40 }, () => Buffer.alloc(4096))
    })
    expect(chunked.status).toBe(413)
    // Still serving.
    const ok = await postPacket(node.url, makePrepare({ destination: "test.up.x" }).bytes, { token })
    expect(ok.reply?.type).toBe(PacketType.Fulfill)
  })

  it("keeps a keep-alive connection usable after an early answer with a small unread body", async () => {
    const answers: Array<number> = []
    for (let i = 0; i < 3; i++) {
      const bad = await fetch(node.url, { method: "POST", headers: { ...auth, authorization: "Bearer nobody-0000000000000" }, body: new Uint8Array(100) })
      answers.push(bad.status)
      await bad.arrayBuffer()
    }
    expect(answers).toEqual([401, 401, 401])
    const ok = await postPacket(node.url, makePrepare({ destination: "test.up.x" }).bytes, { token })
    expect(ok.reply?.type).toBe(PacketType.Fulfill)
  })

  it("interrupts the packet of a client that goes away (its reservation is voided)", async () => {
    peer.behaviour = (prepare) => ({ delayMs: 5_000, then: fulfillFromData(prepare) })
    try {
      const controller = new AbortController()
      const before = peer.received.length
      const pending = fetch(node.url, {
        method: "POST",
        headers: auth,
        body: makePrepare({ destination: "test.up.x", amount: 7n }).bytes,
        signal: controller.signal
      }).catch((error: unknown) => error)
      // Abort once the packet is with the peer (in flight, reservation held).
      await waitUntil(() => peer.received.length > before, 20_000, "the packet to reach the peer")
      controller.abort()
      expect(await pending).toBeInstanceOf(Error)
      // Another packet still goes through.
      peer.behaviour = fulfillFromData
      const ok = await postPacket(node.url, makePrepare({ destination: "test.up.x" }).bytes, { token })
      expect(ok.reply?.type).toBe(PacketType.Fulfill)
    } finally {
      peer.behaviour = fulfillFromData
    }
  })

  it("on shutdown, answers the packets in flight with Connection: close, then stops", async () => {
    const slowPeer = await startTestPeer((prepare) => ({ delayMs: 3_000, then: fulfillFromData(prepare) }))
    const draining = await startNode(config(slowPeer.url))
    try {
      await depositTo(draining, { kind: "peer", peerId: "client" }, 1_000_000n)
      const inFlight = raw(draining.url, { headers: auth, chunks: [Buffer.from(makePrepare({ destination: "test.up.x" }).bytes)] })
      await waitUntil(() => slowPeer.received.length > 0, 20_000, "the packet to reach the peer")
      const closing = draining.close()
      const answer = await inFlight
      expect(answer.status).toBe(200)
      expect(answer.body[0]).toBe(PacketType.Fulfill)
      expect(answer.headers["connection"]).toBe("close")
      await closing
      await expect(fetch(draining.url, { method: "POST", headers: auth, body: new Uint8Array(1) })).rejects.toThrow()
    } finally {
      await slowPeer.close()
    }
  })
})

describe("IlpOverHttp: reading the bearer token and the media type", () => {
  // The header readers' fast paths must answer exactly what the patterns they shortcut answered.
  const pieces = ["Bearer ", "bearer", "BEARER", " ", "\t", "\u00a0", "\u2028", "\v", "tok", "en", "-1", "Bearer", "x y", ";", "=", "\u00e9"]
  const headerText = fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 4 })), { maxLength: 6 }).map((parts) => parts.join(""))

  it("bearerToken answers what /^bearer[ \\t]+([^\\s]+)[ \\t]*$/i captures", () => {
    fc.assert(
      fc.property(headerText, (authorization) => {
        expect(bearerToken(authorization)).toBe(/^bearer[ \t]+([^\s]+)[ \t]*$/i.exec(authorization)?.[1])
      }),
      { numRuns: 5_000 }
    )
    expect(bearerToken("Bearer abc")).toBe("abc")
    expect(bearerToken("Bearer ")).toBeUndefined()
    expect(bearerToken("Bearer a\u00a0b")).toBeUndefined()
  })

  it("mediaType answers what split(';')[0].trim().toLowerCase() gives", () => {
    const types = fc.oneof(
      fc.constantFrom("application/octet-stream", "application/ilp+octet-stream", "Application/Octet-Stream", " application/octet-stream ; q=1", ""),
      headerText
    )
    fc.assert(
      fc.property(types, (contentType) => {
        expect(mediaType(contentType)).toBe(contentType.split(";", 1)[0]!.trim().toLowerCase())
      }),
      { numRuns: 2_000 }
    )
  })
})
