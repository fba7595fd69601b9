/**
 * Operator commands against a real admin API on 127.0.0.1 (in-memory ledger, one asset, one peer).
 */
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Config from "../src/Config.ts"
import { startAdminServer as startAdmin } from "./support/adminServer.ts"
import { operatorUsage, parseAsset, requestFor, runOperatorCommand } from "../src/OperatorCli.ts"
import { freePort } from "./support/ports.ts"
import { makeTempDir, removeTempDir } from "./support/tempDir.ts"

const adminToken = "admin-token-for-cli-tests-000001"
const usd = { code: "USD", scale: 2 }

/** Starts the admin API alone against an in-memory ledger; answers its URL and a closer. */
const startAdminServer = async () => {
  const config = await Effect.runPromise(Config.decodeConfig({
    host: "127.0.0.1",
    adminPort: 0,
    connectorPort: 0,
    dataDir: ":memory:",
    adminToken,
    assets: [usd],
    peers: [{ id: "alice", asset: usd, incomingTokens: ["alice-incoming-token-000001"], staticIlpAddress: "test.alice" }]
  }, {}))
  const server = await startAdmin(config)
  return { url: server.baseUrl, close: server.close }
}

interface Run {
  readonly code: number
  readonly out: string
  readonly err: string
  readonly json: any
}

let server: Awaited<ReturnType<typeof startAdminServer>>

const run = async (
  command: string,
  args: ReadonlyArray<string> = [],
  env: Record<string, string | undefined> = { ADMIN_URL: server.url, ADMIN_TOKEN: adminToken }
): Promise<Run> => {
  const out: Array<string> = []
  const err: Array<string> = []
  const code = await runOperatorCommand(command, args, env, { out: (text) => out.push(text), err: (text) => err.push(text) })
  const result = { code, out: out.join("\n"), err: err.join("\n") }
  expect(result.out + result.err).not.toContain(adminToken)
  let json: unknown
  try {
    json = JSON.parse(result.out)
  } catch {
    json = undefined
  }
  return { ...result, json }
}

const peerAvailable = async (): Promise<bigint> => {
  const balances = await run("balances", ["--json"])
  expect(balances.code).toBe(0)
  return BigInt(balances.json.peers.find((peer: { peerId: string }) => peer.peerId === "alice").liquidity.available)
}

beforeAll(async () => {
  server = await startAdminServer()
})
afterAll(() => server.close())

describe("OperatorCli against a running admin API", () => {
  it("health needs no token", async () => {
    const result = await run("health", [], { ADMIN_URL: server.url })
    expect(result).toMatchObject({ code: 0, json: { status: "ok" }, err: "" })
  })

  it("deposit to a peer, then balances shows it", async () => {
    const before = await peerAvailable()
    const result = await run("deposit", ["--peer", "alice", "--amount", "250", "--json"])
    expect(result.code).toBe(0)
    expect(result.err).toBe("")
    expect(result.json.transferId).toMatch(/^[0-9]+$/)
    expect(result.json.id).toMatch(/^cli-[0-9a-f-]{36}$/)
    expect(BigInt(result.json.balance.available)).toBe(before + 250n)
    expect(await peerAvailable()).toBe(before + 250n)
  })

  it("deposit to an asset with --asset CODE:SCALE", async () => {
    const result = await run("deposit", ["--asset", "usd:2", "--amount", "10"])
    expect(result.code).toBe(0)
    expect(result.out).toMatch(/^deposit cli-\S+: posted 10\n/) // text by default
    const balances = await run("balances", ["--json"])
    expect(BigInt(balances.json.assets[0].liquidity.available)).toBeGreaterThanOrEqual(10n)
  })

  it("a repeated --id is applied once", async () => {
    const before = await peerAvailable()
    const args = ["--peer", "alice", "--amount", "7", "--id", "cli-test-deposit-424242"]
    expect((await run("deposit", args)).code).toBe(0)
    expect((await run("deposit", args)).code).toBe(0)
    expect(await peerAvailable()).toBe(before + 7n)
  })

  it("withdraw over the available balance exits 1 with the node's message", async () => {
    const before = await peerAvailable()
    const result = await run("withdraw", ["create", "--peer", "alice", "--amount", (before + 1n).toString()])
    expect(result.code).toBe(1)
    expect(result.out).toBe("")
    expect(result.err).toMatch(/^error: 409 amount: exceeds what the account holds/)
    expect(await peerAvailable()).toBe(before)
  })

  it("a bad amount exits 1 with the node's 400 naming the field", async () => {
    const result = await run("deposit", ["--peer", "alice", "--amount", "1.5"])
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/^error: 400 amount: /)
  })

  it("peers lists the peer", async () => {
    const result = await run("peers", ["--json"])
    expect(result.code).toBe(0)
    expect(result.json.map((peer: { id: string }) => peer.id)).toEqual(["alice"])
  })

  it("without a token exits 1 and says ADMIN_TOKEN is not set", async () => {
    const result = await run("balances", [], { ADMIN_URL: server.url, DATA_DIR: join(tmpdir(), "no-such-data-dir-for-cli-test") })
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/401.*ADMIN_TOKEN is not set/)
  })

  it("without ADMIN_TOKEN uses the token the node generated in DATA_DIR/admin-token", async () => {
    const dataDir = makeTempDir("cli-token-")
    try {
      writeFileSync(join(dataDir, "admin-token"), `${adminToken}\n`, { mode: 0o600 })
      const result = await run("balances", [], { ADMIN_URL: server.url, DATA_DIR: dataDir })
      expect(result.code, result.err).toBe(0)
    } finally {
      removeTempDir(dataDir)
    }
  })

  it("with a wrong token exits 1 without printing it", async () => {
    const wrong = "wrong-token-for-cli-tests-00001"
    const result = await run("balances", [], { ADMIN_URL: server.url, ADMIN_TOKEN: wrong })
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/^error: 401 /)
    expect(result.err).not.toContain(wrong)
  })
})

describe("OperatorCli without a node", () => {
  it("exits 1 when the node cannot be reached, naming the transfer id to retry with", async () => {
    const port = await freePort() // nothing listens on it
    const result = await run("deposit", ["--peer", "alice", "--amount", "1", "--id", "dep-99"], {
      ADMIN_URL: `http://127.0.0.1:${port}`,
      ADMIN_TOKEN: adminToken
    })
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: .*run it again with --id dep-99/)
  })

  it("prints usage for help and --help", async () => {
    for (const [command, args] of [["help", []], ["--help", []]] as const) {
      const result = await run(command, args, {})
      expect(result.code).toBe(0)
      expect(result.out).toBe(operatorUsage)
    }
    for (const command of ["deposit", "withdraw", "balances"]) {
      const result = await run(command, ["--help"], {})
      expect(result.code).toBe(0)
      expect(result.out).toContain(`${command}: `)
      expect(result.out).toContain("--json")
    }
  })

  const usageErrors: ReadonlyArray<readonly [string, string, ReadonlyArray<string>, RegExp]> = [
    ["unknown command", "mint", [], /unknown command "mint"/],
    ["missing --amount", "deposit", ["--peer", "alice"], /--amount is required/],
    ["both targets", "deposit", ["--peer", "alice", "--asset", "USD:2", "--amount", "1"], /exactly one of --peer, --asset, --wallet/],
    ["no target", "withdraw", ["create", "--amount", "1"], /exactly one of --peer, --asset, --wallet, --incoming-payment/],
    ["no withdraw action", "withdraw", ["--peer", "alice", "--amount", "1"], /withdraw: unknown action|needs create/],
    ["withdraw post without id", "withdraw", ["post"], /withdraw post takes one ID/],
    ["bad asset", "deposit", ["--asset", "USD", "--amount", "1"], /--asset: expected CODE:SCALE/],
    ["unknown option", "deposit", ["--peer", "alice", "--amount", "1", "--force"], /--force/],
    ["arguments to balances", "balances", ["extra"], /takes no arguments/]
  ]
  for (const [name, command, args, message] of usageErrors) {
    it(`exits 2 on ${name}`, async () => {
      const result = await run(command, args, { ADMIN_URL: "http://127.0.0.1:1" })
      expect(result.code).toBe(2)
      expect(result.err).toMatch(message)
      expect(result.err).toMatch(/Operator commands|deposit: |withdraw: |balances: /)
    })
  }

  it("exits 2 on a bad ADMIN_URL, and refuses credentials in it", async () => {
    expect((await run("health", [], { ADMIN_URL: "not a url" })).code).toBe(2)
    expect((await run("health", [], { ADMIN_URL: "ftp://127.0.0.1" })).code).toBe(2)
    const withUser = await run("health", [], { ADMIN_URL: "http://admin:hunter2@127.0.0.1:1" })
    expect(withUser.code).toBe(2)
    expect(withUser.err).not.toContain("hunter2")
  })
})

describe("OperatorCli parsing", () => {
  it("parses CODE:SCALE at the boundaries", () => {
    expect(parseAsset("USD:0")).toEqual({ code: "USD", scale: 0 })
    expect(parseAsset("XRP:255")).toEqual({ code: "XRP", scale: 255 })
    expect(() => parseAsset("XRP:256")).toThrow(/CODE:SCALE/)
    expect(() => parseAsset(":2")).toThrow(/CODE:SCALE/)
  })

  it("generates an id when none is given", () => {
    const request = requestFor("withdraw", ["create", "--peer", "p", "--amount", "3"])
    expect(request).toMatchObject({ method: "POST", path: "/withdrawals", guarded: true, body: { peerId: "p", amount: "3" } })
    expect((request.body as { id: string }).id).toMatch(/^cli-/)
  })

  it("payment actions take exactly one id, safe in a path", () => {
    const id = "0e7f6206-433b-4734-94b4-5204c1b2d62c"
    expect(requestFor("complete-incoming-payment", [id])).toEqual({
      method: "POST",
      path: `/incoming-payments/${id}/complete`,
      guarded: true
    })
    expect(requestFor("cancel-incoming-payment", [id]).path).toBe(`/incoming-payments/${id}/cancel`)
    expect(requestFor("cancel-outgoing-payment", [id]).path).toBe(`/outgoing-payments/${id}/cancel`)
    expect(() => requestFor("cancel-outgoing-payment", [])).toThrow(/one id/)
    expect(() => requestFor("cancel-outgoing-payment", [id, id])).toThrow(/one id/)
    expect(() => requestFor("cancel-outgoing-payment", ["../peers"])).toThrow(/one id/)
  })
})
