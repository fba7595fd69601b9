/**
 * Property tests against a running node's ILP-over-HTTP endpoint: whatever a client sends, the
 * answer is a well-formed HTTP answer (200 with a parseable Fulfill/Reject, or 400/401/413 as
 * specified) and nothing escapes the pipeline; for generated failure cases, the reject code is the
 * one the failure kind maps to.
 */
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { encodePrepare, PacketType, sha256 } from "../../src/Connector/Packet.ts"
import { makePrepare } from "../support/packets.ts"
import { depositTo, postPacket, startNode, type TestNode } from "../support/node.ts"
import { fulfillFromData, startTestPeer, type TestPeer } from "../support/testPeer.ts"

const token = "property-client-token-000001"
let node: TestNode
let peer: TestPeer

beforeAll(async () => {
  peer = await startTestPeer(fulfillFromData)
  node = await startNode({
    ilpAddress: "test.node",
    rates: { static: { USD: { EUR: "0.5" } } },
    peers: [
      { id: "client", asset: { code: "USD", scale: 2 }, incomingTokens: [token], staticIlpAddress: "test.client", maxPacketAmount: "100000" },
      {
        id: "up",
        asset: { code: "USD", scale: 2 },
        incomingTokens: ["property-up-token-0000000001"],
        outgoing: { url: peer.url, token: "property-out-token-00000001" },
        staticIlpAddress: "test.up"
      },
      {
        id: "eur",
        asset: { code: "EUR", scale: 2 },
        incomingTokens: ["property-eur-token-000000001"],
        outgoing: { url: peer.url, token: "property-eur-out-token-0001" },
        staticIlpAddress: "test.eur"
      },
      {
        id: "xyz",
        asset: { code: "XYZ", scale: 2 },
        incomingTokens: ["property-xyz-token-000000001"],
        outgoing: { url: peer.url, token: "property-xyz-out-token-0001" },
        staticIlpAddress: "test.xyz"
      }
    ]
  })
  await depositTo(node, { kind: "peer", peerId: "client" }, 1n << 70n)
  await depositTo(node, { kind: "asset", asset: { code: "EUR", scale: 2 } }, 1n << 70n)
})

afterAll(async () => {
  await node?.close()
  await peer?.close()
})

const segment = fc.stringMatching(/^[a-zA-Z0-9_~-]{1,12}$/)
const validAddress = fc.tuple(fc.constantFrom("test.up", "test.eur", "test.nowhere", "test.node", "g.x"), fc.array(segment, { maxLength: 3 }))
  .map(([prefix, rest]) => [prefix, ...rest].join("."))

const numRuns = 150

describe("ILP-over-HTTP endpoint properties", () => {
  it("arbitrary bytes: always 200 with a parseable reply, never a 500", async () => {
    const valid = makePrepare({ destination: "test.up.x" }).bytes
    const mutated = fc.tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }))
      .map(([index, value]) => {
        const copy = Buffer.from(valid)
        copy[index] = value
        return new Uint8Array(copy)
      })
    const truncated = fc.integer({ min: 0, max: valid.length - 1 }).map((n) => valid.subarray(0, n))
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 2048 }), mutated, truncated)
    await fc.assert(
      fc.asyncProperty(bytes, async (body) => {
        const answer = await postPacket(node.url, body, { token })
        expect(answer.status).toBe(200)
        expect(answer.reply).toBeDefined()
      }),
      { numRuns }
    )
  })

  it("arbitrary well-formed Prepares: always 200 with a Fulfill or a known reject", async () => {
    const prepare = fc.record({
      amount: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      expiresInMs: fc.integer({ min: -5_000, max: 60_000 }),
      destination: validAddress,
      dataLength: fc.integer({ min: 0, max: 32767 })
    })
    const known = new Set(["F01", "F02", "F05", "F07", "F08", "R00", "R01", "R02", "T00", "T01", "T04", "T05"])
    await fc.assert(
      fc.asyncProperty(prepare, async (fields) => {
        const packet = makePrepare({
          amount: fields.amount,
          expiresAt: Date.now() + fields.expiresInMs,
          destination: fields.destination
        })
        const data = Buffer.alloc(Math.max(32, fields.dataLength))
        Buffer.from(packet.fulfillment).copy(data)
        const bytes = encodePrepare({ ...packet.prepare, data })
        const answer = await postPacket(node.url, bytes, { token })
        expect(answer.status).toBe(200)
        expect(answer.reply).toBeDefined()
        if (answer.reply?.type === PacketType.Reject) expect(known).toContain(answer.reply.reject.code)
      }),
      { numRuns }
    )
  })

  it("generated failure cases get the code their failure kind maps to", async () => {
    type Case = { readonly kind: string; readonly code: string; readonly bytes: Uint8Array }
    const now = () => Date.now()
    const failure: fc.Arbitrary<Case> = fc.oneof(
      fc.bigInt({ min: 100_001n, max: (1n << 64n) - 1n }).map((amount) => ({
        kind: "too large",
        code: "F08",
        bytes: makePrepare({ destination: "test.up.a", amount }).bytes
      })),
      fc.integer({ min: 1, max: 1_000_000 }).map((ago) => ({
        kind: "expired",
        code: "R00",
        bytes: makePrepare({ destination: "test.up.a", expiresAt: now() - ago }).bytes
      })),
      // R02 while 0 < left < 2 s (two 1 s message windows); from 1 s up, so a busy machine may take
      // up to 1 s between making the packet and the node reading it without turning it into R00.
      fc.integer({ min: 1_000, max: 1_900 }).map((left) => ({
        kind: "too little time",
        code: "R02",
        bytes: makePrepare({ destination: "test.up.a", expiresAt: now() + left }).bytes
      })),
      fc.array(segment, { minLength: 1, maxLength: 3 }).map((rest) => ({
        kind: "no route",
        code: "F02",
        bytes: makePrepare({ destination: ["test.nowhere", ...rest].join(".") }).bytes
      })),
      fc.bigInt({ min: 1n, max: 100_000n }).map((amount) => ({
        kind: "no rate",
        code: "F07",
        bytes: makePrepare({ destination: "test.xyz.a", amount }).bytes
      })),
      fc.constant({
        kind: "converts to zero",
        code: "R01",
        bytes: makePrepare({ destination: "test.eur.a", amount: 1n }).bytes
      }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((wrong) => ({
        kind: "wrong fulfillment",
        code: "F05",
        bytes: encodePrepare({ ...makePrepare({ destination: "test.up.a" }).prepare, executionCondition: sha256(Buffer.concat([wrong, Buffer.from([1])])) })
      })),
      fc.uint8Array({ maxLength: 64 }).map((junk) => ({
        kind: "not a prepare",
        code: "F01",
        bytes: Buffer.concat([Buffer.from([13]), junk])
      }))
    )
    await fc.assert(
      fc.asyncProperty(failure, async (testCase) => {
        const answer = await postPacket(node.url, testCase.bytes, { token })
        expect(answer.status).toBe(200)
        expect(answer.reply?.type).toBe(PacketType.Reject)
        if (answer.reply?.type === PacketType.Reject) {
          expect({ kind: testCase.kind, code: answer.reply.reject.code }).toEqual({ kind: testCase.kind, code: testCase.code })
          expect(answer.reply.reject.triggeredBy).toBe("test.node")
        }
      }),
      { numRuns }
    )
  })

  it("arbitrary headers: 401 / 400 / 200 exactly as specified", async () => {
    const body = makePrepare({ destination: "test.up.a" }).bytes
    const headers = fc.record({
      authorization: fc.option(fc.oneof(fc.constant(`Bearer ${token}`), fc.constant(`bearer ${token}`), fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, ""))), { nil: undefined }),
      contentType: fc.oneof(fc.constantFrom("application/octet-stream", "application/ilp+octet-stream", "application/octet-stream; charset=binary", "text/plain", "application/json"), fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, "")))
    })
    await fc.assert(
      fc.asyncProperty(headers, async (h) => {
        const sent: Record<string, string> = { "content-type": h.contentType }
        if (h.authorization !== undefined) sent.authorization = h.authorization
        const answer = await postPacket(node.url, body, { headers: sent })
        const authorized = h.authorization !== undefined && /^bearer\s+/i.test(h.authorization) &&
          h.authorization.trim().split(/\s+/)[1] === token
        const typeOk = ["application/octet-stream", "application/ilp+octet-stream"].includes(
          h.contentType.split(";")[0]!.trim().toLowerCase()
        )
        const expected = !authorized ? 401 : !typeOk ? 400 : 200
        expect(answer.status).toBe(expected)
      }),
      { numRuns }
    )
  })
})
