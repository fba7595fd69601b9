/**
 * Peers, assets and rates changed through the operator API on a running node, over real sockets:
 * a client peer posts packets to the node's ILP-over-HTTP port; the node forwards them to a
 * scriptable test peer. Every change is made with `fetch` against the admin port and must take
 * effect for the very next packet: no restart, no waiting.
 */
import { Option } from "effect"
import { statSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Audit from "../../src/Accounting/Audit.ts"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import { once } from "node:events"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import {
  amountTooLargeData,
  decodePrepare,
  encodeFulfill,
  isDecodeFailure,
  PacketType,
  type Reply
} from "../../src/Connector/Packet.ts"
import { makePrepare } from "../support/packets.ts"
import { postPacket, runIn, startNode, type TestNode } from "../support/node.ts"
import { startTestPeer, type TestPeer } from "../support/testPeer.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }
const adminToken = "admin-token-for-peer-tests-0001"
const clientToken1 = "client-token-number-one-000001"
const clientToken2 = "client-token-number-two-000002"
const farToken1 = "node-to-far-token-number-0001"
const farToken2 = "node-to-far-token-number-0002"

interface Answer {
  readonly status: number
  readonly body: any
}

const admin = async (node: TestNode, method: string, path: string, body?: unknown): Promise<Answer> => {
  const response = await fetch(`http://127.0.0.1:${node.adminPort}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
}

const kindOf = (reply: Reply | undefined): string =>
  reply === undefined ? "none" : reply.type === PacketType.Fulfill ? "fulfill" : reply.reject.code

const send = (node: TestNode, token: string, fields: Parameters<typeof makePrepare>[0]) =>
  postPacket(node.url, makePrepare(fields).bytes, { token })

/** An ILP-over-HTTP peer that answers its first packet only when `open` is called. */
const startGatedPeer = async () => {
  let open!: () => void
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  let arrivedNow!: () => void
  const arrived = new Promise<void>((resolve) => {
    arrivedNow = resolve
  })
  let requests = 0
  const server = createServer(async (request, response) => {
    const chunks: Array<Buffer> = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const prepare = decodePrepare(Buffer.concat(chunks))
    requests++
    arrivedNow()
    await gate
    if (isDecodeFailure(prepare)) return void response.writeHead(400).end()
    response.writeHead(200, { "content-type": "application/octet-stream" })
      .end(encodeFulfill({ fulfillment: prepare.data.subarray(0, 32), data: new Uint8Array(0) }))
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/ilp`,
    arrived,
    open,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const clientPeer = {
  id: "client",
  asset: usd,
  incomingTokens: [clientToken1],
  staticIlpAddress: "test.node.client",
  // The client pays on credit: no deposit needed for it to send.
  creditLimit: "1000000"
}

const farPeer = (url: string) => ({
  id: "far",
  asset: usd,
  incomingTokens: ["far-to-node-token-number-0001"],
  outgoing: { url, token: farToken1 },
  staticIlpAddress: "test.far"
})

describe("peers at run time (embedded node, real sockets)", () => {
  let peer: TestPeer
  let node: TestNode

  beforeAll(async () => {
    peer = await startTestPeer()
    node = await startNode({ ilpAddress: "test.node", adminToken, assets: [usd] })
  })
  afterAll(async () => {
    await node?.close()
    await peer?.close()
  })

  it("a peer added through the API carries packets at once", async () => {
    expect((await send(node, clientToken1, { destination: "test.far.x" })).status).toBe(401)

    const created = await admin(node, "POST", "/peers", clientPeer)
    expect(created.status).toBe(200)
    expect(created.body).toMatchObject({ id: "client", incomingTokens: 1, creditLimit: "1000000" })
    expect(JSON.stringify(created.body)).not.toContain(clientToken1)
    // Known client, but nowhere to send yet.
    expect(kindOf((await send(node, clientToken1, { destination: "test.far.x" })).reply)).toBe("F02")

    expect((await admin(node, "POST", "/peers", farPeer(peer.url))).status).toBe(200)
    const answer = await send(node, clientToken1, { destination: "test.far.x", amount: 700n })
    expect(kindOf(answer.reply)).toBe("fulfill")
    expect(peer.received.at(-1)?.authorization).toBe(`Bearer ${farToken1}`)
    expect(peer.received.at(-1)?.prepare.amount).toBe(700n)

    const listed = await admin(node, "GET", "/peers")
    expect(listed.body.map((entry: { id: string }) => entry.id)).toEqual(["client", "far"])
    expect(JSON.stringify(listed.body)).not.toMatch(/token-number/)
  })

  it("refuses a second peer with the same id or a token another peer uses", async () => {
    // The same body again is refused too, saying it is identical (a retry that had succeeded).
    const again = await admin(node, "POST", "/peers", clientPeer)
    expect(again.status).toBe(409)
    expect(again.body.message).toContain('a peer "client" exists with these same settings')
    const different = await admin(node, "POST", "/peers", { ...clientPeer, creditLimit: "1" })
    expect(different.status).toBe(409)
    expect(different.body.message).not.toContain("same settings")
    const thief = { ...clientPeer, id: "thief", staticIlpAddress: "test.node.thief" }
    const refused = await admin(node, "POST", "/peers", thief)
    expect(refused.status).toBe(409)
    expect(refused.body.message).toContain("incomingTokens")
    const bad = await admin(node, "POST", "/peers", { ...thief, incomingTokens: ["short"] })
    expect(bad.status).toBe(400)
    expect((await admin(node, "GET", "/peers/thief")).status).toBe(404)
  })

  it("an update (new token, lower max packet amount, new route, new outgoing token) applies to the next packet", async () => {
    const updated = await admin(node, "PATCH", "/peers/client", { incomingTokens: [clientToken2], maxPacketAmount: "500" })
    expect(updated.status).toBe(200)
    expect(updated.body).toMatchObject({ maxPacketAmount: "500", incomingTokens: 1 })

    expect((await send(node, clientToken1, { destination: "test.far.x" })).status).toBe(401)
    expect(kindOf((await send(node, clientToken2, { destination: "test.far.x", amount: 500n })).reply)).toBe("fulfill")
    const tooLarge = (await send(node, clientToken2, { destination: "test.far.x", amount: 501n })).reply
    expect(kindOf(tooLarge)).toBe("F08")
    if (tooLarge?.type === PacketType.Reject) expect(Buffer.from(tooLarge.reject.data)).toEqual(Buffer.from(amountTooLargeData(501n, 500n)))

    expect(kindOf((await send(node, clientToken2, { destination: "test.other.y" })).reply)).toBe("F02")
    const rerouted = await admin(node, "PATCH", "/peers/far", {
      routes: ["test.other"],
      outgoing: { url: peer.url, token: farToken2 }
    })
    expect(rerouted.status).toBe(200)
    expect(kindOf((await send(node, clientToken2, { destination: "test.other.y" })).reply)).toBe("fulfill")
    expect(peer.received.at(-1)?.prepare.destination).toBe("test.other.y")
    expect(peer.received.at(-1)?.authorization).toBe(`Bearer ${farToken2}`)

    expect((await admin(node, "PATCH", "/peers/far", { asset: eur })).status).toBe(400)
    expect((await admin(node, "PATCH", "/peers/nobody", { routeWeight: 1 })).status).toBe(404)
  })

  it("deleting a peer with a packet in flight: the packet settles, then the peer is gone", async () => {
    // A peer that holds its answer until the test opens the gate, after the peer is deleted.
    const gated = await startGatedPeer()
    expect((await admin(node, "PATCH", "/peers/far", { outgoing: { url: gated.url, token: farToken2 } })).status).toBe(200)
    const inFlight = send(node, clientToken2, { destination: "test.far.slow", amount: 300n, expiresAt: Date.now() + 20_000 })
    await gated.arrived

    expect((await admin(node, "DELETE", "/peers/far")).body).toEqual({ id: "far", deleted: true })
    gated.open()
    expect(kindOf((await inFlight).reply)).toBe("fulfill")
    expect(kindOf((await send(node, clientToken2, { destination: "test.far.x" })).reply)).toBe("F02")
    expect(gated.requests()).toBe(1)

    const pending = await runIn(node, Ledger.use((ledger) => ledger.countPending))
    expect(pending).toEqual(Option.some(0))
    const report = await runIn(node, Audit.run())
    expect(Audit.isClean(report)).toBe(true)

    expect((await admin(node, "DELETE", "/peers/client")).status).toBe(200)
    expect((await send(node, clientToken2, { destination: "test.far.x" })).status).toBe(401)
    expect((await admin(node, "DELETE", "/peers/client")).status).toBe(404)
    // The id keeps its ledger accounts: it may come back only in the same asset.
    const otherAsset = await admin(node, "POST", "/peers", { ...clientPeer, asset: eur })
    expect(otherAsset.status).toBe(409)
    await gated.close()
  })
})

describe("assets and rates at run time", () => {
  let peer: TestPeer
  let node: TestNode

  beforeAll(async () => {
    peer = await startTestPeer()
    node = await startNode({
      ilpAddress: "test.node",
      adminToken,
      peers: [{ ...clientPeer, incomingTokens: [clientToken1] }, farPeer(peer.url)]
    })
  })
  afterAll(async () => {
    await node?.close()
    await peer?.close()
  })

  it("an asset added through the API can take liquidity at once; a static rate with a spread prices the next packet", async () => {
    const added = await admin(node, "POST", "/assets", eur)
    expect(added.status).toBe(200)
    expect(added.body).toEqual({ asset: eur, added: true, peers: [] })
    const deposit = await admin(node, "POST", "/liquidity/deposit", { asset: eur, amount: "100000" })
    expect(deposit.status).toBe(200)

    const eurPeer = await admin(node, "POST", "/peers", {
      id: "eur-peer",
      asset: eur,
      incomingTokens: ["eur-peer-to-node-token-00001"],
      outgoing: { url: peer.url, token: "node-to-eur-peer-token-0001" },
      staticIlpAddress: "test.eur"
    })
    expect(eurPeer.status).toBe(200)
    // No USD→EUR rate yet: F07.
    expect(kindOf((await send(node, clientToken1, { destination: "test.eur.x", amount: 1000n })).reply)).toBe("F07")

    const rate = await admin(node, "PUT", "/rates/USD/EUR", { rate: "0.9", spread: "0.01" })
    expect(rate.status).toBe(200)
    expect(rate.body).toEqual({ base: "USD", quote: "EUR", rate: "0.9", spread: "0.01", effectiveRate: "891/1000" })
    expect(kindOf((await send(node, clientToken1, { destination: "test.eur.x", amount: 1000n })).reply)).toBe("fulfill")
    expect(peer.received.at(-1)?.prepare.amount).toBe(891n)

    expect((await admin(node, "PUT", "/rates/USD/EUR", { rate: "0.9", spread: "1" })).status).toBe(400)
    expect((await admin(node, "PUT", "/rates/USD/EUR", { rate: "-1" })).status).toBe(400)
    expect((await admin(node, "DELETE", "/assets/EUR/2")).status).toBe(409)
    expect((await admin(node, "DELETE", "/rates/USD/EUR")).status).toBe(200)
    expect(kindOf((await send(node, clientToken1, { destination: "test.eur.x", amount: 1000n })).reply)).toBe("F07")
    expect((await admin(node, "GET", "/rates")).body).toEqual([])
  })
})

describe("persistence and seeding from the config file", () => {
  const dataDir = makeTempDir("ops-settings-")
  afterAll(() => removeTempDir(dataDir))

  const config = (peerUrl: string) => ({
    ilpAddress: "test.node",
    adminToken,
    dataDir,
    peers: [clientPeer, farPeer(peerUrl)],
    rates: { static: { USD: { EUR: "0.9" } } }
  })

  it("keeps API changes across a restart; the config file seeds each entry once", async () => {
    const peer = await startTestPeer()
    const first = await startNode(config(peer.url))
    try {
      expect((await admin(first, "PATCH", "/peers/client", { maxPacketAmount: "123" })).status).toBe(200)
      expect((await admin(first, "DELETE", "/peers/far")).status).toBe(200)
      expect((await admin(first, "POST", "/peers", { ...farPeer(peer.url), id: "added", staticIlpAddress: "test.added" })).status)
        .toBe(200)
      expect((await admin(first, "PUT", "/rates/USD/EUR", { rate: "0.8" })).status).toBe(200)
    } finally {
      await first.close()
    }
    // The settings file holds outgoing tokens: readable by its owner only.
    expect(statSync(join(dataDir, "settings.sqlite")).mode & 0o077).toBe(0)

    const second = await startNode(config(peer.url))
    try {
      const peers = (await admin(second, "GET", "/peers")).body
      expect(peers.map((entry: { id: string }) => entry.id)).toEqual(["added", "client"])
      expect(peers.find((entry: { id: string }) => entry.id === "client").maxPacketAmount).toBe("123")
      expect((await admin(second, "GET", "/rates")).body).toMatchObject([{ base: "USD", quote: "EUR", rate: "0.8" }])
      // The stored client (edited max packet amount) is what runs.
      expect(kindOf((await send(second, clientToken1, { destination: "test.added.x", amount: 124n })).reply)).toBe("F08")
      expect(kindOf((await send(second, clientToken1, { destination: "test.added.x", amount: 123n })).reply)).toBe("fulfill")
    } finally {
      await second.close()
      await peer.close()
    }
  })
})
