/**
 * Open Payments, receiving side, over real sockets on 127.0.0.1: the `@interledger/open-payments`
 * client, as an independent wallet (its own key, its JWKS served by a small server here), reads a
 * wallet address of the node, obtains a grant, creates an incoming payment, reads its ILP method,
 * and `@interledger/pay` (peered with the node over ILP-over-HTTP) pays it; the payment completes
 * with the exact amount. Then what must be refused is: no token, a token for another wallet
 * address, another client's payment, an expired token, a bad or foreign signature, a revoked token.
 * Over 400 lines on purpose: the refusals reuse the one node, wallet and grant the payment set up.
 */
import { createHeaders, generateJwk, type JWK } from "@interledger/http-signature-utils"
import { createAuthenticatedClient, type AuthenticatedClient, isFinalizedGrant } from "@interledger/open-payments"
import { pay, setupPayment, startQuote } from "@interledger/pay"
import { Effect } from "effect"
import { generateKeyPairSync, type KeyObject } from "node:crypto"
import { once } from "node:events"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { jwksFetchesInFlightMax } from "../../src/OpenPayments/Limits.ts"
import { IncomingPayments } from "../../src/Payments/IncomingPayments.ts"
import { type WalletAddress, WalletAddresses } from "../../src/Payments/WalletAddresses.ts"
import { makeHttpPlugin } from "../support/httpPlugin.ts"
import { depositTo, runIn, startNode, type TestNode } from "../support/node.ts"

const usd = { code: "USD", scale: 2 }
const senderToken = "op-sender-token-0000000000001"

interface ClientWallet {
  readonly url: string
  readonly keyId: string
  readonly privateKey: KeyObject
  readonly close: () => Promise<void>
}

/** A client's wallet address on 127.0.0.1 that publishes its keys at `<url>/jwks.json`. */
const startClientWallet = async (name: string): Promise<ClientWallet> => {
  const { privateKey } = generateKeyPairSync("ed25519")
  const keyId = `${name}-key-1`
  const jwk: JWK = generateJwk({ privateKey, keyId })
  let base = ""
  const server: Server = createServer((request, response) => {
    if (request.url === `/${name}/jwks.json`) {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }))
    } else if (request.url === `/${name}`) {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
        id: `${base}/${name}`,
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
    url: `${base}/${name}`,
    keyId,
    privateKey,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const clientFor = (wallet: ClientWallet): Promise<AuthenticatedClient> =>
  createAuthenticatedClient({ walletAddressUrl: wallet.url, privateKey: wallet.privateKey, keyId: wallet.keyId })

let node: TestNode
let shortNode: TestNode
let alice: WalletAddress
let bob: WalletAddress
let clientWallet: ClientWallet
let otherWallet: ClientWallet
let client: AuthenticatedClient
let walletCount = 0

const createWallet = (on: TestNode, name: string) =>
  runIn(
    on,
    Effect.flatMap(WalletAddresses, (wallets) =>
      wallets.create({ url: `http://127.0.0.1:${on.openPaymentsPort}/${name}-${++walletCount}`, asset: usd, publicName: name }))
  )

const grantFor = async (
  using: AuthenticatedClient,
  authServer: string,
  actions: Array<"create" | "read" | "read-all" | "list" | "list-all" | "complete">,
  identifier?: string
) => {
  const grant = await using.grant.request({ url: authServer }, {
    access_token: { access: [{ type: "incoming-payment", actions, ...(identifier === undefined ? {} : { identifier }) }] }
  })
  if (!isFinalizedGrant(grant) || grant.access_token === undefined) throw new Error("expected a finalized grant with a token")
  return { ...grant, access_token: grant.access_token }
}

/** The status of a client call that must fail (the client throws an error carrying it). */
const refusedStatus = (call: Promise<unknown>) =>
  call.then(
    () => 0,
    (error: { status?: number }) => error.status ?? -1
  )

beforeAll(async () => {
  node = await startNode({
    ilpAddress: "test.op",
    assets: [usd],
    peers: [{ id: "sender", asset: usd, incomingTokens: [senderToken], staticIlpAddress: "test.sender", maxPacketAmount: "1000" }]
  })
  await depositTo(node, { kind: "peer", peerId: "sender" }, 10_000_000n)
  shortNode = await startNode({ ilpAddress: "test.short", assets: [usd], openPayments: { accessTokenLifetimeMs: 1_000 } })
  alice = await createWallet(node, "alice")
  bob = await createWallet(node, "bob")
  clientWallet = await startClientWallet("payer")
  otherWallet = await startClientWallet("other")
  client = await clientFor(clientWallet)
})

afterAll(async () => {
  await node?.close()
  await shortNode?.close()
  await clientWallet?.close()
  await otherWallet?.close()
})

describe("Open Payments receiving side", () => {
  it("serves the wallet address document for application/json, SPSP for application/spsp4+json, and the JWKS", async () => {
    const document = await client.walletAddress.get({ url: alice.url })
    expect(document).toEqual({
      id: alice.url,
      publicName: "alice",
      assetCode: "USD",
      assetScale: 2,
      authServer: `http://127.0.0.1:${node.openPaymentsPort}/auth`,
      resourceServer: `http://127.0.0.1:${node.openPaymentsPort}`
    })
    const spsp = await fetch(alice.url, { headers: { accept: "application/spsp4+json" } })
    expect(spsp.status).toBe(200)
    expect(spsp.headers.get("content-type")).toContain("application/spsp4+json")
    expect(Object.keys(await spsp.json() as object).sort()).toEqual(["destination_account", "receipts_enabled", "shared_secret"])
    const keys = await client.walletAddress.getKeys({ url: alice.url })
    expect(keys.keys).toHaveLength(1)
    expect(keys.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" })
    expect((await fetch(`http://127.0.0.1:${node.openPaymentsPort}/nobody`, { headers: { accept: "application/json" } })).status).toBe(404)
  })

  it("grants, creates an incoming payment, reads its ILP method; Pay pays it and it completes exactly", async () => {
    const { authServer, resourceServer } = await client.walletAddress.get({ url: alice.url })
    const grant = await grantFor(client, authServer, ["create", "read", "list", "complete"], alice.url)
    expect(grant.access_token.expires_in).toBe(600)
    const created = await client.incomingPayment.create(
      { url: resourceServer, accessToken: grant.access_token.value },
      { walletAddress: alice.url, incomingAmount: { value: "2500", assetCode: "USD", assetScale: 2 }, metadata: { invoice: "INV-1" } }
    )
    expect(created.id.startsWith(`${resourceServer}/incoming-payments/`)).toBe(true)
    expect(created.receivedAmount).toEqual({ value: "0", assetCode: "USD", assetScale: 2 })
    expect(created.completed).toBe(false)
    const read = await client.incomingPayment.get({ url: created.id, accessToken: grant.access_token.value })
    const method = read.methods[0]!
    expect(method.type).toBe("ilp")
    expect(method.ilpAddress.startsWith("test.op.")).toBe(true)

    const plugin = makeHttpPlugin(node.url, senderToken)
    const destination = await setupPayment({
      plugin: plugin as never,
      destinationAddress: method.ilpAddress,
      sharedSecret: Buffer.from(method.sharedSecret, "base64url")
    })
    const quote = await startQuote({ plugin: plugin as never, destination, amountToDeliver: 2_500n, sourceAsset: usd })
    const progress = await pay({ plugin: plugin as never, destination, quote })
    expect(progress.error).toBeUndefined()
    expect(progress.amountDelivered).toBe(2_500n)

    const after = await client.incomingPayment.get({ url: created.id, accessToken: grant.access_token.value })
    expect(after.completed).toBe(true)
    expect(after.receivedAmount).toEqual({ value: "2500", assetCode: "USD", assetScale: 2 })
    expect(after.methods).toEqual([])
    const id = created.id.split("/").at(-1)!
    const stored = await runIn(node, Effect.flatMap(IncomingPayments, (payments) => payments.get(id)))
    expect(stored.state).toBe("completed")
    // The public view, without a token.
    const publicView = await fetch(created.id, { headers: { accept: "application/json" } }).then((r) => r.json())
    expect(publicView).toEqual({ authServer, receivedAmount: { value: "2500", assetCode: "USD", assetScale: 2 } })
    const listed = await client.incomingPayment.list({ url: resourceServer, walletAddress: alice.url, accessToken: grant.access_token.value })
    expect(listed.result.map((payment) => payment.id)).toContain(created.id)
  })

  it("completes an incoming payment before its amount arrives; money is then refused", async () => {
    const { authServer, resourceServer } = await client.walletAddress.get({ url: alice.url })
    const grant = await grantFor(client, authServer, ["create", "read", "complete"], alice.url)
    const created = await client.incomingPayment.create(
      { url: resourceServer, accessToken: grant.access_token.value },
      { walletAddress: alice.url, incomingAmount: { value: "1000", assetCode: "USD", assetScale: 2 } }
    )
    const method = created.methods[0]!
    const completed = await client.incomingPayment.complete({ url: created.id, accessToken: grant.access_token.value })
    expect(completed.completed).toBe(true)
    const plugin = makeHttpPlugin(node.url, senderToken)
    const attempt = async () => {
      const destination = await setupPayment({
        plugin: plugin as never,
        destinationAddress: method.ilpAddress,
        sharedSecret: Buffer.from(method.sharedSecret, "base64url")
      })
      const quote = await startQuote({ plugin: plugin as never, destination, amountToSend: 500n, sourceAsset: usd })
      return pay({ plugin: plugin as never, destination, quote })
    }
    const outcome = await attempt().then((progress) => progress.error ?? "paid", (error: unknown) => String(error))
    expect(outcome).not.toBe("paid")
    expect(plugin.replies.filter((type) => type === 13)).toHaveLength(0)
    const after = await client.incomingPayment.get({ url: created.id, accessToken: grant.access_token.value })
    expect(after.receivedAmount.value).toBe("0")
    const stored = await runIn(node, Effect.flatMap(IncomingPayments, (payments) => payments.get(created.id.split("/").at(-1)!)))
    expect(stored.state).toBe("completed")
  })

  it("refuses no token, a token for another wallet address, another client's payment, a bad signature", async () => {
    const { authServer, resourceServer } = await client.walletAddress.get({ url: alice.url })
    const aliceGrant = await grantFor(client, authServer, ["create", "read"], alice.url)
    const token = aliceGrant.access_token.value
    const created = await client.incomingPayment.create({ url: resourceServer, accessToken: token }, { walletAddress: alice.url })

    // No token: creating is refused, reading gives only the public view (no methods).
    const noToken = await fetch(`${resourceServer}/incoming-payments`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ walletAddress: alice.url })
    })
    expect(noToken.status).toBe(401)
    const publicView = await fetch(created.id, { headers: { accept: "application/json" } }).then((r) => r.json())
    expect(publicView).not.toHaveProperty("methods")

    // A token for alice used at bob.
    expect(await refusedStatus(client.incomingPayment.create({ url: resourceServer, accessToken: token }, { walletAddress: bob.url }))).toBe(403)
    // A token without list.
    expect(await refusedStatus(client.incomingPayment.list({ url: resourceServer, walletAddress: alice.url, accessToken: token }))).toBe(403)

    // Another client, with its own grant: cannot read this client's payment without read-all.
    const other = await clientFor(otherWallet)
    const otherGrant = await grantFor(other, authServer, ["create", "read"], alice.url)
    expect(await refusedStatus(other.incomingPayment.get({ url: created.id, accessToken: otherGrant.access_token.value }))).toBe(403)
    // ... nor use this client's token: the request is signed with another key.
    expect(await refusedStatus(other.incomingPayment.get({ url: created.id, accessToken: token }))).toBe(401)
    // With read-all it may.
    const readAll = await grantFor(other, authServer, ["read-all"], alice.url)
    const seen = await other.incomingPayment.get({ url: created.id, accessToken: readAll.access_token.value })
    expect(seen.id).toBe(created.id)

    // A signature that does not match the request: signed for another URL, then sent here.
    const signed = await createHeaders({
      request: { method: "GET", url: `${created.id}x`, headers: { authorization: `GNAP ${token}` } },
      privateKey: clientWallet.privateKey,
      keyId: clientWallet.keyId
    })
    const badSignature = await fetch(created.id, {
      headers: {
        accept: "application/json",
        authorization: `GNAP ${token}`,
        signature: signed.Signature,
        "signature-input": signed["Signature-Input"]
      }
    })
    expect(badSignature.status).toBe(401)
    // Unsigned, with the token.
    const unsigned = await fetch(created.id, { headers: { accept: "application/json", authorization: `GNAP ${token}` } })
    expect(unsigned.status).toBe(401)
    // An unknown token.
    expect(await refusedStatus(client.incomingPayment.get({ url: created.id, accessToken: "not-a-token" }))).toBe(401)
  })

  it("lists a client's own payments in forward pages; list-all sees every client's", async () => {
    const dave = await createWallet(node, "dave")
    const { authServer, resourceServer } = await client.walletAddress.get({ url: dave.url })
    const grant = await grantFor(client, authServer, ["create", "list"], dave.url)
    const mine: Array<string> = []
    for (let i = 0; i < 3; i++) {
      mine.push((await client.incomingPayment.create({ url: resourceServer, accessToken: grant.access_token.value }, {
        walletAddress: dave.url
      })).id)
    }
    const other = await clientFor(otherWallet)
    const otherGrant = await grantFor(other, authServer, ["create", "list-all"], dave.url)
    const theirs = (await other.incomingPayment.create({ url: resourceServer, accessToken: otherGrant.access_token.value }, {
      walletAddress: dave.url
    })).id
    const args = { url: resourceServer, walletAddress: dave.url, accessToken: grant.access_token.value }
    const first = await client.incomingPayment.list(args, { "wallet-address": dave.url, first: 2 })
    expect(first.result).toHaveLength(2)
    expect(first.pagination.hasNextPage).toBe(true)
    const second = await client.incomingPayment.list(args, { "wallet-address": dave.url, first: 2, cursor: first.pagination.endCursor! })
    expect(second.result).toHaveLength(1)
    expect(second.pagination.hasNextPage).toBe(false)
    expect([...first.result, ...second.result].map((p) => p.id).sort()).toEqual([...mine].sort())
    const all = await other.incomingPayment.list({ ...args, accessToken: otherGrant.access_token.value }, { "wallet-address": dave.url, first: 10 })
    expect(all.result.map((p) => p.id).sort()).toEqual([...mine, theirs].sort())
    expect(await refusedStatus(client.incomingPayment.list(args, { "wallet-address": dave.url, last: 2 }))).toBe(400)
  })

  it("checks request bodies against the Open Payments specification", async () => {
    const { authServer, resourceServer } = await client.walletAddress.get({ url: alice.url })
    const grant = await grantFor(client, authServer, ["create"], alice.url)
    const refusal = await client.incomingPayment.create(
      { url: resourceServer, accessToken: grant.access_token.value },
      { walletAddress: alice.url, color: "blue" } as never
    ).then(() => undefined, (error: { status?: number; description?: string }) => error)
    expect(refusal?.status).toBe(400)
    // The spec validator's wording (additionalProperties), not the handler's.
    expect(refusal?.description).toContain("must NOT have additional properties")
    const badAmount = await client.incomingPayment.create(
      { url: resourceServer, accessToken: grant.access_token.value },
      { walletAddress: alice.url, incomingAmount: { value: "12", assetCode: "EUR", assetScale: 2 } }
    ).then(() => undefined, (error: { status?: number; description?: string }) => error)
    expect(badAmount?.status).toBe(400)
    expect(badAmount?.description).toMatch(/asset/)
  })

  it("refuses grant requests not signed by the client's published key, and for other access types", async () => {
    const { authServer } = await client.walletAddress.get({ url: alice.url })
    // The other client's key, claiming to be this client.
    const impostor = await createAuthenticatedClient({
      walletAddressUrl: clientWallet.url,
      privateKey: otherWallet.privateKey,
      keyId: clientWallet.keyId
    })
    expect(await refusedStatus(grantFor(impostor, authServer, ["create"], alice.url))).toBe(401)
    expect(await refusedStatus(client.grant.request({ url: authServer }, {
      access_token: { access: [{ type: "outgoing-payment", actions: ["create"], identifier: alice.url }] }
    }))).toBe(400)
    expect(await refusedStatus(grantFor(client, authServer, ["create"], "http://127.0.0.1:1/not-ours"))).toBe(400)
  })

  it("bounds the client key fetches in flight: past the limit a grant request is answered 503 at once", async () => {
    const { authServer } = await client.walletAddress.get({ url: alice.url })
    // A client wallet whose JWKS answers only when released.
    const waiting: Array<() => void> = []
    const slow = createServer((_request, response) => {
      waiting.push(() => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [] })))
    })
    slow.listen(0, "127.0.0.1")
    await once(slow, "listening")
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/slow`
    const request = () =>
      fetch(authServer, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "signature-input": `sig1=("@method" "@target-uri");keyid="k1";created=${Math.floor(Date.now() / 1000)}`,
          signature: "sig1=:AAAA:"
        },
        body: JSON.stringify({ access_token: { access: [{ type: "incoming-payment", actions: ["create"] }] }, client: slowUrl })
      })
    try {
      const held = Array.from({ length: jwksFetchesInFlightMax }, request)
      const deadline = Date.now() + 20_000
      while (waiting.length < jwksFetchesInFlightMax && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(waiting.length).toBe(jwksFetchesInFlightMax)
      expect((await request()).status).toBe(503)
      for (const release of waiting) release()
      // Released: the keys are there but none matches, so each is refused as a client problem.
      for (const response of await Promise.all(held)) expect(response.status).toBe(401)
    } finally {
      slow.closeAllConnections()
      slow.close()
    }
  })

  it("rotates a token (the old one stops working) and cancels a grant (its tokens stop working)", async () => {
    const { authServer, resourceServer } = await client.walletAddress.get({ url: alice.url })
    const grant = await grantFor(client, authServer, ["create", "read"], alice.url)
    const rotated = await client.token.rotate({ url: grant.access_token.manage, accessToken: grant.access_token.value })
    expect(rotated.access_token.value).not.toBe(grant.access_token.value)
    expect(rotated.access_token.manage).not.toBe(grant.access_token.manage)
    const create = (accessToken: string) =>
      client.incomingPayment.create({ url: resourceServer, accessToken }, { walletAddress: alice.url })
    expect(await refusedStatus(create(grant.access_token.value))).toBe(401)
    expect((await create(rotated.access_token.value)).walletAddress).toBe(alice.url)
    // Another client cannot cancel it, with or without the continuation token.
    const other = await clientFor(otherWallet)
    expect(await refusedStatus(other.grant.cancel({ url: grant.continue.uri, accessToken: grant.continue.access_token.value }))).toBe(401)
    expect(await refusedStatus(client.grant.cancel({ url: grant.continue.uri, accessToken: "wrong" }))).toBe(401)
    await client.grant.cancel({ url: grant.continue.uri, accessToken: grant.continue.access_token.value })
    expect(await refusedStatus(create(rotated.access_token.value))).toBe(401)
  })

  it("an access token expires (bounded lifetime), and a revoked one is refused", async () => {
    const carol = await createWallet(shortNode, "carol")
    const { authServer, resourceServer } = await client.walletAddress.get({ url: carol.url })
    const grant = await grantFor(client, authServer, ["create", "read"], carol.url)
    expect(grant.access_token.expires_in).toBe(1)
    const created = await client.incomingPayment.create({ url: resourceServer, accessToken: grant.access_token.value }, {
      walletAddress: carol.url
    })
    const deadline = Date.now() + 20_000
    let status = 0
    while (Date.now() < deadline) {
      status = await refusedStatus(client.incomingPayment.get({ url: created.id, accessToken: grant.access_token.value }))
      if (status !== 0) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(status).toBe(401)

    const { authServer: aliceAuth } = await client.walletAddress.get({ url: alice.url })
    const revocable = await grantFor(client, aliceAuth, ["create", "read"], alice.url)
    await client.token.revoke({ url: revocable.access_token.manage, accessToken: revocable.access_token.value })
    expect(await refusedStatus(client.incomingPayment.create(
      { url: `http://127.0.0.1:${node.openPaymentsPort}`, accessToken: revocable.access_token.value },
      { walletAddress: alice.url }
    ))).toBe(401)
  })
})
