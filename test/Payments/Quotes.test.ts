/**
 * Quote inputs and receivers: what Pay is asked for (debit or receive amount, an incoming payment's
 * remaining amount), receiver validation, and the SPSP query against a real local server (answers,
 * 404, errors, oversized bodies, timeouts).
 */
import { Effect } from "effect"
import { once } from "node:events"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { formatRational, parseRational, targetOf } from "../../src/Payments/Quotes.ts"
import { type Destination, parseSpspAnswer, querySpsp, receiverProblem } from "../../src/Payments/Receivers.ts"

const remote: Destination = { destinationAddress: "test.b.abc", sharedSecret: new Uint8Array(32) }
const local = (receivable: bigint | undefined): Destination => ({
  ...remote,
  local: { asset: { code: "EUR", scale: 2 }, expiresAt: undefined, receivable }
})
const wallet = "w"
const receiver = { kind: "spsp", url: "https://example.test/alice" } as const

describe("Quotes.targetOf", () => {
  it("a debit amount is a fixed send, a receive amount a fixed delivery", () => {
    expect(targetOf({ walletAddressId: wallet, receiver, debitAmount: 10n }, remote)).toEqual({ kind: "send", amount: 10n })
    expect(targetOf({ walletAddressId: wallet, receiver, receiveAmount: 7n }, remote)).toEqual({ kind: "deliver", amount: 7n })
  })

  it("refuses both, neither (without a capped incoming payment), zero and amounts past u64", () => {
    expect(targetOf({ walletAddressId: wallet, receiver, debitAmount: 1n, receiveAmount: 1n }, remote)).toMatch(/not both/)
    expect(targetOf({ walletAddressId: wallet, receiver }, remote)).toMatch(/debitAmount or receiveAmount/)
    expect(targetOf({ walletAddressId: wallet, receiver }, local(undefined))).toMatch(/debitAmount or receiveAmount/)
    expect(targetOf({ walletAddressId: wallet, receiver, debitAmount: 0n }, remote)).toMatch(/debitAmount/)
    expect(targetOf({ walletAddressId: wallet, receiver, receiveAmount: 2n ** 64n }, remote)).toMatch(/receiveAmount/)
    expect(targetOf({ walletAddressId: wallet, receiver, receiveAmount: 2n ** 64n - 1n }, remote)).toEqual({
      kind: "deliver",
      amount: 2n ** 64n - 1n
    })
  })

  it("an incoming payment of ours: no amount means what it may still receive, and no more than that", () => {
    expect(targetOf({ walletAddressId: wallet, receiver }, local(300n))).toEqual({ kind: "deliver", amount: 300n })
    expect(targetOf({ walletAddressId: wallet, receiver, receiveAmount: 300n }, local(300n))).toEqual({
      kind: "deliver",
      amount: 300n
    })
    expect(targetOf({ walletAddressId: wallet, receiver, receiveAmount: 301n }, local(300n))).toMatch(/only 300 more/)
  })

  it("rates round-trip exactly as num/den text", () => {
    const rate = { num: 891n, den: 1000n }
    expect(parseRational(formatRational(rate))).toEqual(rate)
  })
})

describe("Receivers", () => {
  it("validates receivers given by clients", () => {
    expect(receiverProblem({ kind: "stream", ilpAddress: "test.b.x", sharedSecret: new Uint8Array(32) })).toBeUndefined()
    expect(receiverProblem({ kind: "stream", ilpAddress: "not an address", sharedSecret: new Uint8Array(32) })).toMatch(/ilpAddress/)
    expect(receiverProblem({ kind: "stream", ilpAddress: "test.b.x", sharedSecret: new Uint8Array(31) })).toMatch(/32 bytes/)
    expect(receiverProblem({ kind: "spsp", url: "ftp://example.test/a" })).toMatch(/http/)
    expect(receiverProblem({ kind: "spsp", url: "https://user:pw@example.test/a" })).toMatch(/http/)
    expect(receiverProblem({ kind: "incomingPayment", incomingPaymentId: "" })).toMatch(/empty/)
  })

  it("parses SPSP answers strictly", () => {
    const secret = Buffer.alloc(32, 7).toString("base64")
    expect(parseSpspAnswer(JSON.stringify({ destination_account: "test.b.x", shared_secret: secret }))).toEqual({
      ilpAddress: "test.b.x",
      sharedSecret: Buffer.alloc(32, 7)
    })
    expect(parseSpspAnswer("nope")).toMatch(/not JSON/)
    expect(parseSpspAnswer(JSON.stringify({ destination_account: "x y", shared_secret: secret }))).toMatch(/destination_account/)
    expect(parseSpspAnswer(JSON.stringify({ destination_account: "test.b.x", shared_secret: "AAAA" }))).toMatch(/32-byte/)
    expect(parseSpspAnswer("null")).toMatch(/destination_account/)
  })
})

describe("Receivers.querySpsp over a real socket", () => {
  let server: Server
  let base: string
  const secret = Buffer.alloc(32, 1).toString("base64")

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === "/ok" && request.headers.accept === "application/spsp4+json") {
        response.writeHead(200, { "content-type": "application/spsp4+json" })
          .end(JSON.stringify({ destination_account: "test.b.ok", shared_secret: secret }))
      } else if (request.url === "/gone") response.writeHead(404).end()
      else if (request.url === "/broken") response.writeHead(500).end()
      else if (request.url === "/huge") response.writeHead(200).end("x".repeat(20_000))
      else if (request.url === "/slow") setTimeout(() => response.writeHead(200).end("{}"), 2_000)
      else response.writeHead(406).end()
    })
    server.listen(0, "127.0.0.1")
    await once(server, "listening")
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  const query = (path: string) =>
    Effect.runPromise(Effect.result(querySpsp(`${base}${path}`, { timeoutMs: 300, bodyBytesMax: 16_384 })))

  it("answers the credentials", async () => {
    const result = await query("/ok")
    expect(result._tag).toBe("Success")
    if (result._tag === "Success") expect(result.success.ilpAddress).toBe("test.b.ok")
  })

  it("404 is a receiver that is gone (final); 500 and timeouts are temporary; oversized answers are invalid", async () => {
    const tagOf = async (path: string) => {
      const result = await query(path)
      return result._tag === "Failure" ? result.failure._tag : "Success"
    }
    expect(await tagOf("/gone")).toBe("ReceiverGone")
    expect(await tagOf("/broken")).toBe("ReceiverUnavailable")
    expect(await tagOf("/slow")).toBe("ReceiverUnavailable")
    expect(await tagOf("/huge")).toBe("InvalidReceiver")
  })
})
