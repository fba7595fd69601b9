/**
 * decodeConfig: the example config decodes (tokens hashed, amounts bigint, defaults filled); every
 * bad field fails with a message naming its path; the environment overrides the file.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { type ConfigError, decodeConfig, defaults, loadConfig, type NodeConfig } from "../src/Config.ts"

const examplePath = fileURLToPath(new URL("../examples/config.json", import.meta.url))
const example = JSON.parse(readFileSync(examplePath, "utf8")) as Record<string, unknown>

/** A fresh, mutable copy of the example file (loosely typed so tests can break it). */
const file = (): any => structuredClone(example)

const sha256Hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex")

/** The ConfigError message for an input that must fail. */
const messageOf = (input: unknown, env: Record<string, string | undefined> = {}) =>
  Effect.gen(function*() {
    const error: ConfigError = yield* Effect.flip(decodeConfig(input, env))
    expect(error._tag).toBe("ConfigError")
    return error.message
  })

const bigintJson = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))

describe("Config.decodeConfig: the example", () => {
  it.effect("decodes, with tokens hashed and amounts as bigint", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(file(), {})
      expect(config.ilpAddress).toBe("test.alice")
      expect(config.connectorPort).toBe(3002)
      expect(config.assets).toEqual([{ code: "USD", scale: 2 }, { code: "EUR", scale: 2 }])
      const bob = config.peers[0]!
      expect(bob.id).toBe("bob")
      expect(bob.asset).toEqual({ code: "EUR", scale: 2 })
      expect(bob.incomingTokenHashes).toEqual([sha256Hex("token-bob-sends-to-alice-0001")])
      expect(bob.maxPacketAmount).toBe(100_000n)
      expect(bob.creditLimit).toBe(0n)
      expect(bob.routes).toEqual(["test.carol"])
      expect(bob.rateLimit).toEqual({ packetsPerSecond: 5000, burst: 10000 })
      expect(bob.outgoing?.url).toBe("http://127.0.0.1:3012/ilp")
      expect(Redacted.value(bob.outgoing!.token)).toBe("token-alice-sends-to-bob-0001")
      expect(config.rates.static).toEqual({ USD: { EUR: "0.9" }, EUR: { USD: "1.1" } })
    }))

  it.effect("no secret appears in the decoded config's printable form", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(file(), {})
      const printed = bigintJson(config) + String(config.adminToken) + String(config.peers[0]!.outgoing!.token)
      for (const secret of ["token-bob-sends-to-alice-0001", "token-alice-sends-to-bob-0001", "change-me-admin-token-0123456789", example.streamSecret as string]) {
        expect(printed).not.toContain(secret)
      }
    }))

  it.effect("loadConfig reads the file from disk; a missing file names the path", () =>
    Effect.gen(function*() {
      const config: NodeConfig = yield* loadConfig(examplePath, {})
      expect(config.peers.map((p) => p.id)).toEqual(["bob"])
      const error = yield* Effect.flip(loadConfig("/nonexistent/config.json", {}))
      expect(error.message).toContain("/nonexistent/config.json")
    }))

  it.effect("no file and no environment: the defaults", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(undefined, {})
      expect(config.ilpAddress).toBe(defaults.ilpAddress)
      expect(config.connectorPort).toBe(3002)
      expect(config.minMessageWindowMs).toBe(1_000)
      expect(config.maxHoldTimeMs).toBe(30_000)
      expect(config.peers).toEqual([])
    }))

  it.effect("amounts at the u64 boundary: 2^64−1 as text is accepted exactly", () =>
    Effect.gen(function*() {
      const input = file()
      input.peers[0].maxPacketAmount = "18446744073709551615"
      input.peers[0].throughputLimit = { amount: 0, periodMs: 1 }
      const config = yield* decodeConfig(input, {})
      expect(config.peers[0]!.maxPacketAmount).toBe((1n << 64n) - 1n)
      expect(config.peers[0]!.throughputLimit).toEqual({ amount: 0n, periodMs: 1 })
    }))
})

describe("Config.decodeConfig: each bad field is named", () => {
  const cases: ReadonlyArray<readonly [string, (input: any) => void, ReadonlyArray<string>]> = [
    ["missing peer asset", (c) => delete c.peers[0].asset, ["peers", "0", "asset"]],
    ["lowercase asset code", (c) => (c.peers[0].asset.code = "eur"), ["peers", "0", "asset", "code"]],
    ["asset scale 256", (c) => (c.peers[0].asset.scale = 256), ["peers", "0", "asset", "scale"]],
    ["bad peer ILP address", (c) => (c.peers[0].staticIlpAddress = "test..bob"), ["peers", "0", "staticIlpAddress"]],
    ["bad route address", (c) => (c.peers[0].routes = ["test.ok", "nope"]), ["peers", "0", "routes", "1"]],
    ["bad node ILP address", (c) => (c.ilpAddress = "alice"), ["ilpAddress"]],
    ["negative amount", (c) => (c.peers[0].maxPacketAmount = "-1"), ["peers", "0", "maxPacketAmount"]],
    ["negative number amount", (c) => (c.peers[0].creditLimit = -5), ["peers", "0", "creditLimit"]],
    ["amount of 2^64", (c) => (c.peers[0].maxPacketAmount = "18446744073709551616"), ["peers", "0", "maxPacketAmount"]],
    ["amount of 21 digits", (c) => (c.peers[0].maxPacketAmount = "000000000000000000001"), ["peers", "0", "maxPacketAmount"]],
    ["fractional amount", (c) => (c.peers[0].maxPacketAmount = 1.5), ["peers", "0", "maxPacketAmount"]],
    ["amount in exponent notation", (c) => (c.peers[0].maxPacketAmount = "1e6"), ["peers", "0", "maxPacketAmount"]],
    ["short incoming token", (c) => (c.peers[0].incomingTokens = ["short"]), ["peers", "0", "incomingTokens", "0"]],
    ["unknown top-level key", (c) => (c.connectorPorts = 3002), ["connectorPorts"]],
    ["unknown peer key", (c) => (c.peers[0].maxPacketAmout = "1"), ["peers", "0", "maxPacketAmout"]],
    ["port out of range", (c) => (c.adminPort = 70_000), ["adminPort"]],
    ["stream secret not 32 bytes hex", (c) => (c.streamSecret = "abcd"), ["streamSecret"]]
  ]

  it.effect.each(cases)("%s", ([_, mutate, path]) =>
    Effect.gen(function*() {
      const input = file()
      mutate(input)
      const message = yield* messageOf(input)
      // Schema renders the path as ["peers"][0]["asset"]: every segment must be in the message, in order.
      let from = 0
      for (const segment of path) {
        const at = message.indexOf(segment, from)
        expect(at, `"${segment}" of ${path.join(".")} in: ${message}`).toBeGreaterThanOrEqual(0)
        from = at + segment.length
      }
    }))

  it.effect("duplicate peer id", () =>
    Effect.gen(function*() {
      const input = file()
      input.peers.push({ ...structuredClone(input.peers[0]), incomingTokens: ["another-token-for-bob-0002"], staticIlpAddress: "test.bob2" })
      const message = yield* messageOf(input)
      expect(message).toContain("peers[1].id")
      expect(message).toContain("bob")
    }))

  it.effect("a token shared by two peers", () =>
    Effect.gen(function*() {
      const input = file()
      input.peers.push({ ...structuredClone(input.peers[0]), id: "carol", staticIlpAddress: "test.carol2" })
      const message = yield* messageOf(input)
      expect(message).toContain("peers[1].incomingTokens")
      expect(message).not.toContain("token-bob-sends-to-alice-0001") // never echo the secret
    }))

  it.effect("a peer with our own address", () =>
    Effect.gen(function*() {
      const input = file()
      input.peers[0].staticIlpAddress = "test.alice"
      expect(yield* messageOf(input)).toContain("peers[0].staticIlpAddress")
    }))

  it.effect("maxHoldTime shorter than twice the message window", () =>
    Effect.gen(function*() {
      const input = file()
      input.minMessageWindowMs = 1_000
      input.maxHoldTimeMs = 1_999
      expect(yield* messageOf(input)).toContain("maxHoldTimeMs")
      input.maxHoldTimeMs = 2_000
      expect((yield* decodeConfig(input, {})).maxHoldTimeMs).toBe(2_000)
    }))

  it.effect("admin port equal to the connector port", () =>
    Effect.gen(function*() {
      const input = file()
      input.adminPort = input.connectorPort
      expect(yield* messageOf(input)).toContain("adminPort")
    }))

  it.effect("a file that is not a JSON object", () =>
    Effect.gen(function*() {
      expect(yield* messageOf([])).toContain("config file")
      expect(yield* messageOf("x")).toContain("config file")
    }))

  it.effect("CONNECTOR_PORT=abc names the field", () =>
    Effect.gen(function*() {
      expect(yield* messageOf(file(), { CONNECTOR_PORT: "abc" })).toContain("connectorPort")
      expect(yield* messageOf(file(), { CONNECTOR_PORT: "30.5" })).toContain("connectorPort")
      expect(yield* messageOf(file(), { MAX_HOLD_TIME_MS: "-1" })).toContain("maxHoldTimeMs")
      expect(yield* messageOf(file(), { ILP_ADDRESS: "not an address" })).toContain("ilpAddress")
    }))

  // The Amount schema is documented as "a decimal string (or a safe integer)", but any JSON number
  // is accepted: 12345678901234567890 in a config file parses to 12345678901234567168 as a double
  // and is silently turned into 12345678901234567000n — a different limit than the operator wrote.
  it("amounts given as numbers beyond 2^53 are refused (they cannot be exact)", () => {
    const input = file()
    input.peers[0].maxPacketAmount = JSON.parse("12345678901234567890") as number
    const exit = Effect.runSyncExit(decodeConfig(input, {}))
    expect(exit._tag).toBe("Failure")
  })
})

describe("Config.decodeConfig: environment over file", () => {
  it.effect("environment variables override the file", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(file(), {
        CONNECTOR_PORT: "4002",
        ADMIN_PORT: "4001",
        ILP_ADDRESS: "test.zed",
        HOST: "0.0.0.0",
        MIN_MESSAGE_WINDOW_MS: "500",
        MAX_HOLD_TIME_MS: "10000",
        ADMIN_TOKEN: "env-admin-token-0123456789"
      })
      expect(config.connectorPort).toBe(4002)
      expect(config.adminPort).toBe(4001)
      expect(config.ilpAddress).toBe("test.zed")
      expect(config.host).toBe("0.0.0.0")
      expect(config.minMessageWindowMs).toBe(500)
      expect(config.maxHoldTimeMs).toBe(10_000)
      expect(Redacted.value(config.adminToken!)).toBe("env-admin-token-0123456789")
      // Everything else still comes from the file.
      expect(config.peers.map((p) => p.id)).toEqual(["bob"])
    }))

  it.effect("the admin API has its own bind host: 127.0.0.1 unless ADMIN_HOST / adminHost say otherwise", () =>
    Effect.gen(function*() {
      const exposed = yield* decodeConfig(file(), { HOST: "0.0.0.0" })
      expect(exposed.host).toBe("0.0.0.0")
      expect(exposed.adminHost).toBe("127.0.0.1") // exposing the public ports never exposes the admin API
      expect((yield* decodeConfig({ ...file(), adminHost: "10.0.0.5" }, {})).adminHost).toBe("10.0.0.5")
      expect((yield* decodeConfig({ ...file(), adminHost: "10.0.0.5" }, { ADMIN_HOST: "::1" })).adminHost).toBe("::1")
      const failed = Effect.runSyncExit(decodeConfig({ ...file(), adminHost: "" }, {}))
      expect(failed._tag).toBe("Failure")
    }))

  it.effect("/metrics and /openapi.json are guarded unless opened (metricsOpen, openapiOpen or METRICS_OPEN, OPENAPI_OPEN)", () =>
    Effect.gen(function*() {
      const closed = yield* decodeConfig(file(), {})
      expect([closed.metricsOpen, closed.openapiOpen]).toEqual([false, false])
      const open = yield* decodeConfig(file(), { METRICS_OPEN: "true", OPENAPI_OPEN: "1" })
      expect([open.metricsOpen, open.openapiOpen]).toEqual([true, true])
      expect((yield* decodeConfig({ ...file(), metricsOpen: true }, { METRICS_OPEN: "false" })).metricsOpen).toBe(false)
      const bad = Effect.runSyncExit(decodeConfig(file(), { METRICS_OPEN: "yes please" }))
      expect(bad._tag).toBe("Failure")
      expect(String(bad)).toContain("metricsOpen")
    }))

  it.effect("empty environment variables do not override the file", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(file(), { CONNECTOR_PORT: "", ILP_ADDRESS: "" })
      expect(config.connectorPort).toBe(3002)
      expect(config.ilpAddress).toBe("test.alice")
    }))

  it.effect("unrelated environment variables are ignored (not excess properties)", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(file(), { PATH: "/usr/bin", HOME: "/root", connectorPort: "1" })
      expect(config.connectorPort).toBe(3002)
    }))
})
