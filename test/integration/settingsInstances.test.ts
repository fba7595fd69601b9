/**
 * Run-time settings and Open Payments grants shared by two instances (production profile: two node
 * processes on one TigerBeetle replica, one Redis and one PostgreSQL; test/support/deployment.ts),
 * over real sockets:
 *
 * - a peer added through instance A's admin API carries packets through instance B within 2 s
 *   (PostgreSQL LISTEN/NOTIFY drives B's reload; a 1 s periodic reload is the backstop); then
 *   updated (new route, new outgoing token) and deleted through A, each seen through B within 2 s.
 *   The elapsed time runs from A's API answer to the answer of the first packet through B that
 *   shows the change (an upper bound of the propagation); packets are sent every `pollIntervalMs`;
 * - an Open Payments grant issued by A's authorization server is accepted by B's resource server.
 *
 * The sender ("client", seeded from the config file by both instances starting at once) pays on
 * credit; the far peer is an in-process test peer. No fixed sleeps: every wait polls a deadline.
 */
import { generateJwk, type JWK } from "@interledger/http-signature-utils"
import { createAuthenticatedClient, isFinalizedGrant } from "@interledger/open-payments"
import { generateKeyPairSync } from "node:crypto"
import { once } from "node:events"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { createClient } from "tigerbeetle-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import { PacketType, type Reply } from "../../src/Connector/Packet.ts"
import { adminCall, type Deployment, type Instance, startDeployment } from "../support/deployment.ts"
import { postPacket } from "../support/node.ts"
import { makePrepare } from "../support/packets.ts"
import { startTestPeer, type TestPeer } from "../support/testPeer.ts"
import { announceSkip, tigerBeetleBinary } from "../support/tigerbeetle.ts"

const usd = { code: "USD", scale: 2 }
const clientToken = "settings-instances-client-0001"
const clientCreditLimit = 100_000_000n
const farToken1 = "node-to-far-settings-token-01"
const farToken2 = "node-to-far-settings-token-02"
/** The bound under test, and the gap between two probe packets. */
const propagationMsMax = 2_000
const pollIntervalMs = 50
/** How long a probe keeps trying before the test fails (far beyond the bound: the assertion is on the elapsed time). */
const probeTimeoutMs = 30_000

const hasTigerBeetle = tigerBeetleBinary() !== undefined
if (!hasTigerBeetle) announceSkip("run-time settings across two instances on TigerBeetle + PostgreSQL + Redis")

let deployment: Deployment
let a: Instance
let b: Instance
let far: TestPeer

const kindOf = (reply: Reply | undefined): string =>
  reply === undefined ? "none" : reply.type === PacketType.Fulfill ? "fulfill" : reply.reject.code

/** A JSON admin call (any method) answering status and body. */
const admin = async (instance: Instance, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${instance.adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${deployment.adminToken}`,
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
}

/** A packet from the client peer through `instance` (its ILP-over-HTTP port) to `destination`. */
const send = async (instance: Instance, destination: string) =>
  kindOf((await postPacket(instance.ilpUrl, makePrepare({ destination, amount: 100n }).bytes, { token: clientToken })).reply)

/**
 * Sends a packet through `instance` every `pollIntervalMs` until `seen` holds for its outcome;
 * answers the milliseconds from `since` to that packet's answer, and the outcomes before it.
 */
const probe = async (instance: Instance, destination: string, seen: (kind: string) => boolean, since: number) => {
  const before: Array<string> = []
  const deadline = since + probeTimeoutMs
  while (Date.now() < deadline) {
    const kind = await send(instance, destination)
    if (seen(kind)) return { elapsedMs: Date.now() - since, before }
    before.push(kind)
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs))
  }
  throw new Error(`no change seen through ${instance.name} for ${destination} in ${probeTimeoutMs} ms (outcomes: ${before.slice(-5).join(", ")})`)
}

describe.skipIf(!hasTigerBeetle)("run-time settings and grants shared by two instances", () => {
  beforeAll(async () => {
    far = await startTestPeer()
    deployment = await startDeployment({
      config: {
        assets: [usd],
        maxHoldTimeMs: 5_000,
        // Seeded by both instances starting at once; pays on credit (no deposit needed).
        peers: [{ id: "client", asset: usd, incomingTokens: [clientToken], staticIlpAddress: "test.client", creditLimit: clientCreditLimit.toString() }]
      }
    })
    ;[a, b] = deployment.instances as [Instance, Instance]
  }, 240_000)

  afterAll(async () => {
    await deployment?.stop()
    await far?.close()
  }, 60_000)

  it("a peer added, updated and deleted through A takes effect for packets through B within 2 s", async () => {
    // Seeded once by the two instances: one client peer, visible on both.
    for (const instance of [a, b]) {
      const peers = (await admin(instance, "GET", "/peers")).body as Array<{ id: string }>
      expect(peers.map((peer) => peer.id)).toEqual(["client"])
    }
    // Both instances applied the seeded credit limit at start: granted once, not twice.
    const tigerbeetle = createClient({
      cluster_id: deployment.tigerbeetle.clusterId,
      replica_addresses: [...deployment.tigerbeetle.addresses]
    })
    try {
      const [creditLine] = await tigerbeetle.lookupAccounts([ids.creditLine("client")])
      expect(creditLine!.debits_posted - creditLine!.credits_posted).toBe(clientCreditLimit)
    } finally {
      tigerbeetle.destroy()
    }
    expect(await send(b, "test.far.x")).toBe("F02")

    // Added through A.
    const created = await admin(a, "POST", "/peers", {
      id: "far",
      asset: usd,
      incomingTokens: ["far-to-node-settings-token-01"],
      outgoing: { url: far.url, token: farToken1 },
      staticIlpAddress: "test.far"
    })
    expect(created.status).toBe(200)
    const added = await probe(b, "test.far.x", (kind) => kind === "fulfill", Date.now())
    expect(added.before.every((kind) => kind === "F02")).toBe(true)
    expect(far.received.at(-1)?.authorization).toBe(`Bearer ${farToken1}`)
    expect(added.elapsedMs).toBeLessThanOrEqual(propagationMsMax + pollIntervalMs)

    // Updated through A: a new route and a new outgoing token.
    expect(await send(b, "test.other.y")).toBe("F02")
    const updated = await admin(a, "PATCH", "/peers/far", { routes: ["test.other"], outgoing: { url: far.url, token: farToken2 } })
    expect(updated.status).toBe(200)
    const rerouted = await probe(b, "test.other.y", (kind) => kind === "fulfill", Date.now())
    expect(far.received.at(-1)?.prepare.destination).toBe("test.other.y")
    expect(far.received.at(-1)?.authorization).toBe(`Bearer ${farToken2}`)
    expect(rerouted.elapsedMs).toBeLessThanOrEqual(propagationMsMax + pollIntervalMs)

    // Deleted through A: B stops routing to it.
    const deleted = await admin(a, "DELETE", "/peers/far")
    expect(deleted.body).toEqual({ id: "far", deleted: true })
    const gone = await probe(b, "test.far.x", (kind) => kind === "F02", Date.now())
    expect(gone.before.every((kind) => kind === "fulfill")).toBe(true)
    expect(gone.elapsedMs).toBeLessThanOrEqual(propagationMsMax + pollIntervalMs)
    expect(((await admin(b, "GET", "/peers")).body as Array<{ id: string }>).map((peer) => peer.id)).toEqual(["client"])
    console.info(
      `settings propagation A → B (ms, upper bounds): add ${added.elapsedMs}, update ${rerouted.elapsedMs}, delete ${gone.elapsedMs}`
    )
  }, 120_000)

  it("an Open Payments grant issued by A is accepted by B", async () => {
    const wallet = await adminCall(deployment, a, "POST", "/wallet-addresses", { url: `${a.spspUrl}/alice`, asset: usd })
    const client = await startClientWallet()
    try {
      const op = await createAuthenticatedClient({ walletAddressUrl: client.url, privateKey: client.privateKey, keyId: client.keyId })
      const grant = await op.grant.request({ url: `${a.spspUrl}/auth` }, {
        access_token: { access: [{ type: "incoming-payment", actions: ["create", "read"], identifier: wallet.url }] }
      })
      if (!isFinalizedGrant(grant) || grant.access_token === undefined) throw new Error("expected a finalized grant with a token")
      const accessToken = grant.access_token.value
      // B's resource server accepts A's token, and A reads what B created.
      const created = await op.incomingPayment.create({ url: b.spspUrl, accessToken }, { walletAddress: wallet.url, incomingAmount: {
        value: "500",
        assetCode: "USD",
        assetScale: 2
      } })
      expect(created.incomingAmount?.value).toBe("500")
      const paymentId = created.id.split("/").at(-1)!
      const read = await op.incomingPayment.get({ url: `${a.spspUrl}/incoming-payments/${paymentId}`, accessToken })
      expect(read.incomingAmount?.value).toBe("500")
      // A token nobody issued is refused by both.
      const refused = await fetch(`${b.spspUrl}/incoming-payments/${paymentId}`, { headers: { authorization: "GNAP not-a-token" } })
      expect(refused.status).toBe(401)
    } finally {
      await client.close()
    }
  }, 120_000)
})

/** A client's wallet address on 127.0.0.1 that publishes its key at `<url>/jwks.json`. */
const startClientWallet = async () => {
  const { privateKey } = generateKeyPairSync("ed25519")
  const keyId = "settings-client-key-1"
  const jwk: JWK = generateJwk({ privateKey, keyId })
  let base = ""
  const server: Server = createServer((request, response) => {
    if (request.url === "/payer/jwks.json") {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }))
    } else if (request.url === "/payer") {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
        id: `${base}/payer`,
        assetCode: "USD",
        assetScale: 2,
        authServer: `${base}/auth`,
        resourceServer: base
      }))
    } else {
      response.writeHead(404).end()
    }
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: `${base}/payer`,
    keyId,
    privateKey,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
