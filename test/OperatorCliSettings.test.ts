/**
 * The `peers`, `assets` and `rates` operator commands against a real admin API on 127.0.0.1 (the
 * node's own services, in memory): text by default, the API's JSON with `--json`, `--help` for
 * each, exit 2 on bad usage, and no token ever printed.
 */
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Config from "../src/Config.ts"
import { runOperatorCommand } from "../src/OperatorCli.ts"
import { assetsUsage, peerPatch, peersUsage, ratesUsage, settingsRequest } from "../src/OperatorCliSettings.ts"
import { type AdminServer, startAdminServer } from "./support/adminServer.ts"
import { makeTempDir, removeTempDir } from "./support/tempDir.ts"

const adminToken = "admin-token-for-cli-settings-01"
const incomingToken = "bob-incoming-token-secret-0001"
const outgoingToken = "bob-outgoing-token-secret-0001"
const usd = { code: "USD", scale: 2 }

let server: AdminServer
const dir = makeTempDir("ops-cli-")

beforeAll(async () => {
  const config = await Effect.runPromise(Config.decodeConfig({
    host: "127.0.0.1",
    adminPort: 0,
    connectorPort: 0,
    dataDir: ":memory:",
    adminToken,
    assets: [usd],
    peers: [{ id: "alice", asset: usd, incomingTokens: ["alice-incoming-token-000001"], staticIlpAddress: "test.alice" }]
  }, {}))
  server = await startAdminServer(config)
})
afterAll(async () => {
  await server?.close()
  removeTempDir(dir)
})

interface Run {
  readonly code: number
  readonly out: string
  readonly err: string
}

const run = async (command: string, args: ReadonlyArray<string>): Promise<Run> => {
  const out: Array<string> = []
  const err: Array<string> = []
  const code = await runOperatorCommand(command, args, { ADMIN_URL: server.baseUrl, ADMIN_TOKEN: adminToken }, {
    out: (text) => out.push(text),
    err: (text) => err.push(text)
  })
  const result = { code, out: out.join("\n"), err: err.join("\n") }
  for (const secret of [adminToken, incomingToken, outgoingToken]) expect(result.out + result.err).not.toContain(secret)
  return result
}

const file = (name: string, content: unknown): string => {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify(content), { mode: 0o600 })
  return path
}

describe("peers", () => {
  it("adds a peer from a file, lists, reads, updates and deletes it", async () => {
    const peerFile = file("bob.json", {
      id: "bob",
      asset: usd,
      incomingTokens: [incomingToken],
      outgoing: { url: "http://127.0.0.1:9/ilp", token: outgoingToken },
      staticIlpAddress: "test.bob"
    })
    const added = await run("peers", ["add", "--file", peerFile])
    expect(added).toMatchObject({ code: 0, err: "" })
    expect(added.out).toMatch(/^added peer bob\n/)

    const list = await run("peers", [])
    expect(list.code).toBe(0)
    expect(list.out.split("\n")[0]).toMatch(/^ID\s+ASSET\s+ADDRESS/)
    expect(list.out).toMatch(/\nbob\s+USD:2\s+test\.bob/)

    const json = await run("peers", ["get", "bob", "--json"])
    expect(JSON.parse(json.out)).toMatchObject({ id: "bob", incomingTokens: 1, outgoing: { url: "http://127.0.0.1:9/ilp" } })

    const updated = await run("peers", [
      "update", "bob", "--max-packet-amount", "500", "--route", "test.x", "--route", "test.y", "--rate-limit", "100:200", "--json"
    ])
    expect(updated.code).toBe(0)
    expect(JSON.parse(updated.out)).toMatchObject({ maxPacketAmount: "500", routes: ["test.x", "test.y"], rateLimit: { packetsPerSecond: 100, burst: 200 } })
    const cleared = await run("peers", ["update", "bob", "--max-packet-amount", "none", "--no-routes"])
    expect(cleared.out).toContain("max packet        none")

    const deleted = await run("peers", ["delete", "bob"])
    expect(deleted).toMatchObject({ code: 0, out: "deleted peer bob" })
    const gone = await run("peers", ["get", "bob"])
    expect(gone.code).toBe(1)
    expect(gone.err).toMatch(/^error: 404 /)
  })

  it("reports the node's refusal (409 for a taken token) with exit 1", async () => {
    const thief = file("thief.json", { id: "thief", asset: usd, incomingTokens: ["alice-incoming-token-000001"], staticIlpAddress: "test.thief" })
    const refused = await run("peers", ["add", "--file", thief])
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(/^error: 409 incomingTokens/)
  })
})

describe("assets and rates", () => {
  it("adds, lists and deletes an asset; sets, lists and deletes a rate", async () => {
    expect((await run("assets", ["add", "eur:2"])).out).toBe("added asset EUR:2")
    const assets = await run("assets", ["list"])
    expect(assets.out).toMatch(/EUR:2\s+yes\s+-/)
    expect(assets.out).toMatch(/USD:2\s+yes\s+alice/)
    expect((await run("assets", ["delete", "EUR:2"])).out).toBe("deleted asset EUR:2")
    expect((await run("assets", ["delete", "USD:2"])).code).toBe(1)

    const set = await run("rates", ["set", "USD", "EUR", "0.9", "--spread", "0.01"])
    expect(set.code).toBe(0)
    expect(set.out).toMatch(/USD\s+EUR\s+0\.9\s+0\.01\s+891\/1000/)
    expect(JSON.parse((await run("rates", ["--json"])).out)).toEqual([
      { base: "USD", quote: "EUR", rate: "0.9", spread: "0.01", effectiveRate: "891/1000" }
    ])
    expect((await run("rates", ["set", "USD", "EUR", "abc"])).err).toMatch(/^error: 400 rate:/)
    expect((await run("rates", ["delete", "usd", "eur"])).out).toBe("deleted rate USD→EUR")
    expect((await run("rates", [])).out).toBe("no static rates")
  })
})

describe("help and usage", () => {
  it("prints each command's help with --help", async () => {
    expect((await run("peers", ["--help"])).out).toBe(peersUsage)
    expect((await run("assets", ["add", "--help"])).out).toBe(assetsUsage)
    expect((await run("rates", ["-h"])).out).toBe(ratesUsage)
  })

  const usageErrors: ReadonlyArray<readonly [string, ReadonlyArray<string>, RegExp]> = [
    ["peers", ["add"], /--file PEER\.json is required/],
    ["peers", ["add", "--file", "/nonexistent/peer.json"], /cannot read/],
    ["peers", ["update", "bob"], /nothing to change/],
    ["peers", ["update", "bob", "--route", "a", "--no-routes"], /not both/],
    ["peers", ["update", "bob", "--rate-limit", "100"], /--rate-limit: expected A:B/],
    ["peers", ["frobnicate"], /unknown subcommand/],
    ["assets", ["add", "USD"], /CODE:SCALE/],
    ["rates", ["set", "USD", "EUR"], /BASE QUOTE RATE/],
    ["rates", ["delete", "U$D", "EUR"], /BASE: expected an asset code/]
  ]
  for (const [command, args, message] of usageErrors) {
    it(`exits 2 on ${command} ${args.join(" ")}`, async () => {
      const result = await run(command, args)
      expect(result.code).toBe(2)
      expect(result.err).toMatch(message)
    })
  }

  it("reads tokens only from a file: the patch carries the file's fields and the flags'", () => {
    const read = () => JSON.stringify({ incomingTokens: [incomingToken] })
    expect(peerPatch(["--file", "x.json", "--credit-limit", "10", "--throughput", "500:1000"], read)).toEqual({
      incomingTokens: [incomingToken],
      creditLimit: "10",
      throughputLimit: { amount: "500", periodMs: 1000 }
    })
    expect(settingsRequest("peers", ["get", "a/b"]).path).toBe("/peers/a%2Fb")
  })
})
