/**
 * decodeConfig: the example config decodes (tokens hashed, amounts bigint, defaults filled); every
 * bad field fails with a message naming its path; the environment overrides the file.
 * Over 400 lines on purpose: one case per field, in the order of Config.ts's schema.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import {
  type ConfigError,
  ConfigFile,
  decodeConfig,
  defaults,
  exampleSecretDigests,
  loadConfig,
  type NodeConfig,
  stripJsonComments
} from "../src/Config.ts"

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

  it.effect("errors from environment variables name the variable, on one line", () =>
    Effect.gen(function*() {
      const port = yield* messageOf(file(), { CONNECTOR_PORT: "abc" })
      expect(port).toContain("CONNECTOR_PORT=\"abc\"")
      expect(port).not.toContain("\n")
      expect(yield* messageOf(file(), { MAX_HOLD_TIME_MS: "-1" })).toContain("MAX_HOLD_TIME_MS")
      // A cross-field problem names the variable that caused it; a secret's value is not repeated.
      expect(yield* messageOf(file(), { ADMIN_PORT: "3002" })).toContain("ADMIN_PORT=\"3002\"")
      const token = yield* messageOf(file(), { ADMIN_TOKEN: "short-secret" })
      expect(token).toContain("ADMIN_TOKEN")
      expect(token).not.toContain("short-secret")
      // From the file: no variable named.
      const fromFile = file()
      fromFile.connectorPort = "abc"
      expect(yield* messageOf(fromFile)).not.toContain("environment")
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

  it.effect("TigerBeetle client sessions: tigerbeetle.sessions or TIGERBEETLE_SESSIONS, unset by default, a bad value named", () =>
    Effect.gen(function*() {
      // The production profile refuses the example's secrets: the node's own.
      const own = () => {
        const input = file()
        input.adminToken = "own-admin-token-000000000002"
        input.streamSecret = "22".repeat(32)
        input.peers[0].incomingTokens = ["own-incoming-token-00000002"]
        input.peers[0].outgoing.token = "own-outgoing-token-00000002"
        if (input.webhooks !== undefined) input.webhooks.secret = "own-webhook-secret-000000002"
        return input
      }
      const tigerbeetle = { clusterId: "7", replicaAddresses: ["127.0.0.1:3000"] }
      const unset = yield* decodeConfig({ ...own(), tigerbeetle }, {})
      expect(unset.tigerbeetle?.transferSessions).toBeUndefined() // the ledger's default (1) applies
      expect((yield* decodeConfig({ ...own(), tigerbeetle: { ...tigerbeetle, sessions: 2 } }, {})).tigerbeetle?.transferSessions)
        .toBe(2)
      const fromEnv = yield* decodeConfig(own(), { TIGERBEETLE_ADDRESSES: "127.0.0.1:3000", TIGERBEETLE_SESSIONS: "4" })
      expect(fromEnv.tigerbeetle?.transferSessions).toBe(4)
      const bad = Effect.runSyncExit(decodeConfig(own(), { TIGERBEETLE_ADDRESSES: "127.0.0.1:3000", TIGERBEETLE_SESSIONS: "many" }))
      expect(bad._tag).toBe("Failure")
      expect(String(bad)).toContain("TIGERBEETLE_SESSIONS")
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

describe("Config: secrets at rest (issue 14, defect 4)", () => {
  it.effect("an incoming token may be given as its digest sha256:<hex> (any case)", () =>
    Effect.gen(function*() {
      const input = file()
      const token = "a-peer-token-given-as-digest-01"
      input.peers[0].incomingTokens = [`sha256:${sha256Hex(token).toUpperCase()}`, "another-plain-token-0001"]
      const config = yield* decodeConfig(input, {})
      expect(config.peers[0]!.incomingTokenHashes).toEqual([sha256Hex(token), sha256Hex("another-plain-token-0001")])
      // Not 64 hex digits: a plaintext token like any other (hashed).
      input.peers[0].incomingTokens = ["sha256:abcd-not-a-digest"]
      expect((yield* decodeConfig(input, {})).peers[0]!.incomingTokenHashes).toEqual([sha256Hex("sha256:abcd-not-a-digest")])
    }))

  const production = { TIGERBEETLE_ADDRESSES: "127.0.0.1:3000" }
  const ownSecrets = (input: any) => {
    input.adminToken = "own-admin-token-000000000001"
    input.streamSecret = "11".repeat(32)
    input.peers[0].incomingTokens = ["own-incoming-token-00000001"]
    input.peers[0].outgoing.token = "own-outgoing-token-00000001"
    if (input.webhooks !== undefined) input.webhooks.secret = "own-webhook-secret-000000001"
    return input
  }

  it.effect("the production profile refuses each example secret, naming its field; the embedded one runs the example", () =>
    Effect.gen(function*() {
      yield* decodeConfig(file(), {})
      yield* decodeConfig(ownSecrets(file()), production)
      const cases: ReadonlyArray<readonly [string, (input: any) => void]> = [
        ["adminToken", (c) => (c.adminToken = example.adminToken)],
        ["streamSecret", (c) => (c.streamSecret = (example.streamSecret as string).toUpperCase())],
        ["peers[0].incomingTokens", (c) => (c.peers[0].incomingTokens = ["token-bob-sends-to-alice-0001"])],
        ["peers[0].outgoing.token", (c) => (c.peers[0].outgoing.token = "token-alice-sends-to-bob-0001")]
      ]
      for (const [field, mutate] of cases) {
        const input = ownSecrets(file())
        mutate(input)
        const message = yield* messageOf(input, production)
        expect(message).toContain(`${field}: an example secret`)
        expect(yield* messageOf(input, { REDIS_URL: "redis://127.0.0.1:1" })).toContain(field)
      }
    }))

  /** Every string a secret field holds in an example file. */
  const secretsOf = (config: any): Array<string> => [
    config.adminToken,
    config.streamSecret,
    config.webhooks?.secret,
    ...config.peers.flatMap((peer: any) => [...peer.incomingTokens, peer.outgoing?.token])
  ].filter((secret): secret is string => typeof secret === "string")

  const annotatedPath = fileURLToPath(new URL("../examples/config.annotated.jsonc", import.meta.url))
  const annotated = () => JSON.parse(stripJsonComments(readFileSync(annotatedPath, "utf8")))

  it("the list of example secrets covers every secret in examples/", () => {
    for (const secret of [...secretsOf(example), ...secretsOf(annotated())]) {
      const digest = /^sha256:([0-9a-f]{64})$/i.exec(secret)?.[1]?.toLowerCase() ?? sha256Hex(secret)
      expect(exampleSecretDigests.has(digest), secret).toBe(true)
    }
  })

  it.effect("the annotated example shows every field, decodes, and (production) refuses its example secrets", () =>
    Effect.gen(function*() {
      const input = annotated()
      expect(Object.keys(input).sort()).toEqual(Object.keys(ConfigFile.fields).sort())
      const peerFields = Object.keys((ConfigFile.fields.peers as any).schema.value.fields).sort()
      expect(peerFields.length).toBeGreaterThan(5)
      expect(Object.keys(input.peers[0]).sort()).toEqual(peerFields)
      for (const group of ["rates", "tigerbeetle", "publicListener", "webhooks", "liquidityThresholds"] as const) {
        expect(Object.keys(input[group]).sort(), group).toEqual(Object.keys((ConfigFile.fields[group] as any).schema.fields).sort())
      }
      expect(yield* messageOf(input)).toContain("an example secret")
      const config = yield* decodeConfig(ownSecrets(annotated()), {})
      expect(config.tigerbeetle?.replicaAddresses).toEqual(["127.0.0.1:3000"])
    }))

  it("JSON comments are stripped outside strings only", () => {
    expect(JSON.parse(stripJsonComments('{"a": "x // y /* z */", /* c */ "b": 1 // end\n}'))).toEqual({ a: "x // y /* z */", b: 1 })
  })
})

describe("Config.decodeConfig: the PostgreSQL resource store", () => {
  const secret = "ab".repeat(32)

  it.effect("DATABASE_URL selects it, held redacted; it requires one shared STREAM secret", () =>
    Effect.gen(function*() {
      const url = "postgres://connector:s3cret-password@db.internal:5432/connector"
      const config = yield* decodeConfig({ ...file(), streamSecret: secret }, { DATABASE_URL: url })
      expect(Redacted.value(config.postgresUrl!)).toBe(url)
      expect(String(config.postgresUrl)).not.toContain("s3cret")
      expect(bigintJson(config)).not.toContain("s3cret")
      const withoutSecret = { ...file() }
      delete withoutSecret.streamSecret
      expect(yield* messageOf(withoutSecret, { DATABASE_URL: url })).toMatch(/streamSecret: required with postgresUrl/)
      expect(yield* messageOf({ ...file(), streamSecret: secret, postgresUrl: "mysql://x" })).toMatch(/postgresUrl/)
    }))

  it.effect("absent: the embedded store", () =>
    Effect.gen(function*() {
      expect((yield* decodeConfig(file(), {})).postgresUrl).toBeUndefined()
    }))
})

describe("Config.decodeConfig: webhooks and liquidity thresholds", () => {
  it.effect("defaults: no URLs (events kept, not sent), bounded retries, no thresholds", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(file(), {})
      expect(config.webhooks).toMatchObject({ urls: [], secret: undefined, attemptsMax: 12, concurrencyMax: 4, batchMax: 100 })
      expect(config.liquidityThresholds.peers.size).toBe(0)
    }))

  it.effect("WEBHOOK_URLS / WEBHOOK_SECRET overlay the file; the secret is held redacted and required with URLs", () =>
    Effect.gen(function*() {
      const secret = "s3cret-webhook-key-0001"
      const config = yield* decodeConfig({ ...file(), webhooks: { urls: [], attemptsMax: 3 } }, {
        WEBHOOK_URLS: "http://127.0.0.1:9/a, https://hooks.example/b",
        WEBHOOK_SECRET: secret
      })
      expect(config.webhooks.urls).toEqual(["http://127.0.0.1:9/a", "https://hooks.example/b"])
      expect(config.webhooks.attemptsMax).toBe(3)
      expect(Redacted.value(config.webhooks.secret!)).toBe(secret)
      expect(bigintJson(config)).not.toContain("s3cret")
      expect(yield* messageOf({ ...file(), webhooks: { urls: ["http://127.0.0.1:9/a"] } })).toMatch(/webhooks.secret: required/)
      const fromEnv = yield* messageOf(file(), { WEBHOOK_URLS: "http://127.0.0.1:9/a" })
      expect(fromEnv).toMatch(/webhooks.secret: required/)
      expect(yield* messageOf({ ...file(), webhooks: { urls: ["ftp://x"], secret } })).toMatch(/webhooks/)
      expect(yield* messageOf({ ...file(), webhooks: { urls: [], secret: "short" } })).toMatch(/webhooks/)
      expect(yield* messageOf({ ...file(), webhooks: { urls: [], concurrencyMax: 65 } })).toMatch(/concurrencyMax/)
      expect(yield* messageOf({ ...file(), webhooks: { urls: [], backoffMsBase: 5_000, backoffMsMax: 1_000 } }))
        .toMatch(/webhooks.backoffMsBase: must not exceed/)
    }))

  it.effect("liquidity thresholds: amounts as bigint, assets keyed CODE/scale", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig({ ...file(), liquidityThresholds: { peers: { bob: "18446744073709551615" }, assets: { "USD/2": 5 } } }, {})
      expect(config.liquidityThresholds.peers.get("bob")).toBe(18446744073709551615n)
      expect(config.liquidityThresholds.assets.get("USD/2")).toBe(5n)
      expect(yield* messageOf({ ...file(), liquidityThresholds: { assets: { usd: "5" } } })).toMatch(/liquidityThresholds/)
      expect(yield* messageOf({ ...file(), liquidityThresholds: { peers: { bob: "-1" } } })).toMatch(/liquidityThresholds/)
    }))
})
