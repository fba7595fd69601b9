/**
 * Node configuration: an optional JSON file (`CONFIG_FILE` or `--config`) overlaid by environment
 * variables, decoded with Schema. Any problem fails start-up with a message naming the field; a bad
 * config never starts half a node.
 *
 * Secrets (peer tokens, admin token, STREAM secret) are held as `Redacted` and incoming tokens are
 * kept only as SHA-256 digests. Every bound lives here with its unit in the name.
 */
import { Context, Data, Effect, Layer, Redacted, Schema } from "effect"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { isValidAddress, u64 } from "./Connector/Packet.ts"

// ---------------------------------------------------------------------------------------------
// Schema of the file (and of the environment overlay)
// ---------------------------------------------------------------------------------------------

const IlpAddress = Schema.String.check(
  Schema.makeFilter((s: string) => isValidAddress(s) || "an ILP address (RFC 15), e.g. test.alice")
)

/** A u64 amount given as a decimal string (or a safe integer); turned into a bigint by `toAmount`. */
const Amount = Schema.Union([Schema.String, Schema.Number]).check(
  Schema.makeFilter((input: string | number) =>
    (typeof input === "number" && !Number.isSafeInteger(input)) ?
      `an amount as a decimal string (a JSON number this large is not exact), got ${JSON.stringify(input)}` :
      isAmountText(String(input)) || `a non-negative integer amount below 2^64, got ${JSON.stringify(input)}`
  )
)

const isAmountText = (text: string): boolean => /^[0-9]{1,20}$/.test(text) && BigInt(text) <= u64.max

const toAmount = (input: string | number): bigint => BigInt(String(input))

const Port = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 65535 }))
const PositiveInt = Schema.Number.check(Schema.isInt(), Schema.isGreaterThan(0))

const Asset = Schema.Struct({
  code: Schema.String.check(Schema.isPattern(/^[A-Z0-9]{1,12}$/)),
  scale: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 255 }))
})
export type Asset = typeof Asset.Type

const Token = Schema.String.check(Schema.isMinLength(16), Schema.isMaxLength(512))

const RateLimit = Schema.Struct({
  packetsPerSecond: Schema.Number.check(Schema.isGreaterThan(0)),
  burst: PositiveInt
})

const ThroughputLimit = Schema.Struct({
  amount: Amount,
  periodMs: PositiveInt
})

/** A peer as the config file and the operator API (`POST /peers`) write it. */
export const PeerFile = Schema.Struct({
  id: Schema.String.check(Schema.isPattern(/^[a-zA-Z0-9_-]{1,64}$/)),
  asset: Asset,
  incomingTokens: Schema.Array(Token),
  outgoing: Schema.optionalKey(Schema.Struct({
    url: Schema.String.check(Schema.isPattern(/^https?:\/\/.+/)),
    token: Token
  })),
  staticIlpAddress: IlpAddress,
  routes: Schema.optionalKey(Schema.Array(IlpAddress)),
  routeWeight: Schema.optionalKey(Schema.Number.check(Schema.isInt())),
  maxPacketAmount: Schema.optionalKey(Amount),
  rateLimit: Schema.optionalKey(RateLimit),
  throughputLimit: Schema.optionalKey(ThroughputLimit),
  creditLimit: Schema.optionalKey(Amount)
})

const RatesFile = Schema.Struct({
  static: Schema.optionalKey(Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.Union([Schema.String, Schema.Number])))),
  url: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^https?:\/\/.+/))),
  timeoutMs: Schema.optionalKey(PositiveInt),
  cacheTtlMs: Schema.optionalKey(PositiveInt)
})

const TigerBeetleFile = Schema.Struct({
  clusterId: Schema.String.check(Schema.isPattern(/^[0-9]{1,39}$/)),
  replicaAddresses: Schema.Array(Schema.String.check(Schema.isPattern(/^([0-9A-Za-z.-]+:)?[0-9]{1,5}$/))),
  requestTimeoutMs: Schema.optionalKey(PositiveInt)
})

export const ConfigFile = Schema.Struct({
  ilpAddress: Schema.optionalKey(IlpAddress),
  host: Schema.optionalKey(Schema.String),
  adminHost: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  metricsOpen: Schema.optionalKey(Schema.Boolean),
  openapiOpen: Schema.optionalKey(Schema.Boolean),
  connectorPort: Schema.optionalKey(Port),
  adminPort: Schema.optionalKey(Port),
  openPaymentsPort: Schema.optionalKey(Port),
  adminToken: Schema.optionalKey(Token),
  dataDir: Schema.optionalKey(Schema.String),
  streamSecret: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^[0-9a-fA-F]{64}$/))),
  minMessageWindowMs: Schema.optionalKey(PositiveInt),
  maxHoldTimeMs: Schema.optionalKey(PositiveInt),
  peerRequestTimeoutMsMax: Schema.optionalKey(PositiveInt),
  peerConnectionsMax: Schema.optionalKey(PositiveInt),
  assets: Schema.optionalKey(Schema.Array(Asset)),
  peers: Schema.optionalKey(Schema.Array(PeerFile)),
  rates: Schema.optionalKey(RatesFile),
  tigerbeetle: Schema.optionalKey(TigerBeetleFile),
  redisUrl: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^rediss?:\/\/.+/)))
})
export type ConfigFile = typeof ConfigFile.Type

// ---------------------------------------------------------------------------------------------
// The resolved configuration the node runs with
// ---------------------------------------------------------------------------------------------

export interface PeerConfig {
  readonly id: string
  readonly asset: Asset
  /** Hex SHA-256 digests of the incoming bearer tokens; plaintext is never kept. */
  readonly incomingTokenHashes: ReadonlyArray<string>
  readonly outgoing: { readonly url: string; readonly token: Redacted.Redacted<string> } | undefined
  readonly staticIlpAddress: string
  readonly routes: ReadonlyArray<string>
  readonly routeWeight: number
  readonly maxPacketAmount: bigint | undefined
  readonly rateLimit: { readonly packetsPerSecond: number; readonly burst: number } | undefined
  readonly throughputLimit: { readonly amount: bigint; readonly periodMs: number } | undefined
  readonly creditLimit: bigint
}

export interface RatesConfig {
  readonly static: Readonly<Record<string, Readonly<Record<string, string | number>>>>
  readonly url: string | undefined
  readonly timeoutMs: number
  readonly cacheTtlMs: number
}

export interface NodeConfig {
  readonly ilpAddress: string
  /** Bind host of the public listeners (ILP-over-HTTP, SPSP). */
  readonly host: string
  /** Bind host of the admin API, separate so exposing the public ports never exposes it. */
  readonly adminHost: string
  /** `GET /metrics` without the admin token (for a scraper that cannot send one). */
  readonly metricsOpen: boolean
  /** `GET /openapi.json` without the admin token. */
  readonly openapiOpen: boolean
  readonly connectorPort: number
  readonly adminPort: number
  /** Public port for SPSP (wallet address URLs). */
  readonly openPaymentsPort: number
  readonly adminToken: Redacted.Redacted<string> | undefined
  readonly dataDir: string
  readonly streamSecret: Redacted.Redacted<Uint8Array> | undefined
  readonly minMessageWindowMs: number
  readonly maxHoldTimeMs: number
  readonly peerConnectionsMax: number
  readonly assets: ReadonlyArray<Asset>
  readonly peers: ReadonlyArray<PeerConfig>
  readonly rates: RatesConfig
  /** Production ledger; the embedded SQLite ledger when absent. */
  readonly tigerbeetle:
    | { readonly clusterId: bigint; readonly replicaAddresses: ReadonlyArray<string>; readonly requestTimeoutMs: number }
    | undefined
  /** Production receipt totals (Redis); the embedded SQLite store when absent. Holds credentials: redacted. */
  readonly redisUrl: Redacted.Redacted<string> | undefined
}

export class NodeConfigService extends Context.Service<NodeConfigService, NodeConfig>()("NodeConfig") {}

export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

/** Defaults, in one place. */
export const defaults = {
  ilpAddress: "test.connector",
  host: "127.0.0.1",
  adminHost: "127.0.0.1",
  connectorPort: 3002,
  adminPort: 3001,
  openPaymentsPort: 3003,
  dataDir: "./data",
  minMessageWindowMs: 1_000,
  maxHoldTimeMs: 30_000,
  peerConnectionsMax: 64,
  ratesTimeoutMs: 2_000,
  ratesCacheTtlMs: 15_000,
  tigerbeetleRequestTimeoutMs: 2_000,
  /**
   * The packet rate limit of a peer that configures none (stage 4, T05): generous enough for any
   * honest peer (the benchmark forwards ~4 000 packets/s), a bound on a runaway or hostile one.
   */
  peerRateLimit: { packetsPerSecond: 10_000, burst: 20_000 }
} as const

export const hashToken = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex")

export const resolvePeer = (peer: typeof PeerFile.Type): PeerConfig => ({
  id: peer.id,
  asset: peer.asset,
  incomingTokenHashes: peer.incomingTokens.map(hashToken),
  outgoing: peer.outgoing === undefined ?
    undefined :
    { url: peer.outgoing.url, token: Redacted.make(peer.outgoing.token, { label: `peer ${peer.id} token` }) },
  staticIlpAddress: peer.staticIlpAddress,
  routes: peer.routes ?? [],
  routeWeight: peer.routeWeight ?? 0,
  maxPacketAmount: peer.maxPacketAmount === undefined ? undefined : toAmount(peer.maxPacketAmount),
  rateLimit: peer.rateLimit,
  throughputLimit: peer.throughputLimit === undefined ?
    undefined :
    { amount: toAmount(peer.throughputLimit.amount), periodMs: peer.throughputLimit.periodMs },
  creditLimit: peer.creditLimit === undefined ? 0n : toAmount(peer.creditLimit)
})

/** Cross-field checks the schema cannot express. Returns the first problem, naming the field. */
const crossCheck = (config: NodeConfig): string | undefined => {
  const ids = new Set<string>()
  const tokens = new Set<string>()
  for (const [index, peer] of config.peers.entries()) {
    const field = `peers[${index}]`
    if (ids.has(peer.id)) return `${field}.id: duplicate peer id "${peer.id}"`
    ids.add(peer.id)
    for (const hash of peer.incomingTokenHashes) {
      if (tokens.has(hash)) return `${field}.incomingTokens: a token is used by more than one peer`
      tokens.add(hash)
    }
    if (peer.staticIlpAddress === config.ilpAddress) {
      return `${field}.staticIlpAddress: must differ from the node's own ilpAddress`
    }
  }
  if (config.minMessageWindowMs * 2 > config.maxHoldTimeMs) {
    return "maxHoldTimeMs: must be at least twice minMessageWindowMs"
  }
  const ports = [config.connectorPort, config.adminPort, config.openPaymentsPort].filter((port) => port !== 0)
  if (new Set(ports).size !== ports.length) {
    return "connectorPort, adminPort, openPaymentsPort: must all differ"
  }
  return undefined
}

const envNumber = (env: Record<string, string | undefined>, name: string): number | undefined => {
  const raw = env[name]
  return raw === undefined || raw === "" ? undefined : Number(raw)
}

/** `true`/`false` (or 1/0) as a boolean; anything else is kept as text so decoding names it. */
const envBoolean = (env: Record<string, string | undefined>, name: string): unknown => {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === "true" || raw === "1") return true
  if (raw === "false" || raw === "0") return false
  return env[name]
}

/** Environment variables that overlay the file. */
const overlayFromEnv = (env: Record<string, string | undefined>): Record<string, unknown> => {
  const overlay: Record<string, unknown> = {}
  const set = (key: string, value: unknown) => {
    if (value !== undefined && value !== "") overlay[key] = value
  }
  set("ilpAddress", env.ILP_ADDRESS)
  set("host", env.HOST)
  set("adminHost", env.ADMIN_HOST)
  set("metricsOpen", envBoolean(env, "METRICS_OPEN"))
  set("openapiOpen", envBoolean(env, "OPENAPI_OPEN"))
  set("connectorPort", envNumber(env, "CONNECTOR_PORT"))
  set("adminPort", envNumber(env, "ADMIN_PORT"))
  set("openPaymentsPort", envNumber(env, "OPEN_PAYMENTS_PORT"))
  set("adminToken", env.ADMIN_TOKEN)
  set("dataDir", env.DATA_DIR)
  set("streamSecret", env.STREAM_SECRET)
  set("minMessageWindowMs", envNumber(env, "MIN_MESSAGE_WINDOW_MS"))
  set("maxHoldTimeMs", envNumber(env, "MAX_HOLD_TIME_MS"))
  set("redisUrl", env.REDIS_URL)
  if (env.TIGERBEETLE_ADDRESSES !== undefined && env.TIGERBEETLE_ADDRESSES !== "") {
    overlay.tigerbeetle = {
      clusterId: env.TIGERBEETLE_CLUSTER_ID ?? "0",
      replicaAddresses: env.TIGERBEETLE_ADDRESSES.split(",").map((a) => a.trim()).filter((a) => a !== "")
    }
  }
  return overlay
}

const readConfigFile = (path: string): Effect.Effect<unknown, ConfigError> =>
  Effect.try({
    try: () => JSON.parse(readFileSync(path, "utf8")) as unknown,
    catch: (error) => new ConfigError({ message: `config file ${path}: ${(error as Error).message}` })
  })

/** Decodes file + environment into the resolved configuration, or fails naming the bad field. */
export const decodeConfig = (
  file: unknown,
  env: Record<string, string | undefined>
): Effect.Effect<NodeConfig, ConfigError> =>
  Effect.gen(function*() {
    const base = typeof file === "object" && file !== null && !Array.isArray(file) ? file : {}
    if (file !== undefined && base !== file) {
      return yield* new ConfigError({ message: "config file: must be a JSON object" })
    }
    const merged = { ...base, ...overlayFromEnv(env) }
    const decoded = yield* Schema.decodeUnknownEffect(ConfigFile)(merged, { onExcessProperty: "error" }).pipe(
      Effect.mapError((error) => new ConfigError({ message: `invalid configuration: ${error.message}` }))
    )
    const config = resolve(decoded)
    const problem = crossCheck(config)
    if (problem !== undefined) return yield* new ConfigError({ message: `invalid configuration: ${problem}` })
    return config
  })

const resolve = (file: ConfigFile): NodeConfig => ({
  ilpAddress: file.ilpAddress ?? defaults.ilpAddress,
  host: file.host ?? defaults.host,
  adminHost: file.adminHost ?? defaults.adminHost,
  metricsOpen: file.metricsOpen ?? false,
  openapiOpen: file.openapiOpen ?? false,
  connectorPort: file.connectorPort ?? defaults.connectorPort,
  adminPort: file.adminPort ?? defaults.adminPort,
  openPaymentsPort: file.openPaymentsPort ?? defaults.openPaymentsPort,
  adminToken: file.adminToken === undefined ? undefined : Redacted.make(file.adminToken, { label: "admin token" }),
  dataDir: file.dataDir ?? defaults.dataDir,
  streamSecret: file.streamSecret === undefined ?
    undefined :
    Redacted.make(Buffer.from(file.streamSecret, "hex"), { label: "stream secret" }),
  minMessageWindowMs: file.minMessageWindowMs ?? defaults.minMessageWindowMs,
  maxHoldTimeMs: file.maxHoldTimeMs ?? defaults.maxHoldTimeMs,
  peerConnectionsMax: file.peerConnectionsMax ?? defaults.peerConnectionsMax,
  assets: file.assets ?? [],
  peers: (file.peers ?? []).map(resolvePeer),
  rates: {
    static: file.rates?.static ?? {},
    url: file.rates?.url,
    timeoutMs: file.rates?.timeoutMs ?? defaults.ratesTimeoutMs,
    cacheTtlMs: file.rates?.cacheTtlMs ?? defaults.ratesCacheTtlMs
  },
  tigerbeetle: file.tigerbeetle === undefined ? undefined : {
    clusterId: BigInt(file.tigerbeetle.clusterId),
    replicaAddresses: file.tigerbeetle.replicaAddresses,
    requestTimeoutMs: file.tigerbeetle.requestTimeoutMs ?? defaults.tigerbeetleRequestTimeoutMs
  },
  redisUrl: file.redisUrl === undefined ? undefined : Redacted.make(file.redisUrl, { label: "redis url" })
})

/** Loads the file named by `path` (or none) and the environment. */
export const loadConfig = (
  path: string | undefined,
  env: Record<string, string | undefined> = process.env
): Effect.Effect<NodeConfig, ConfigError> =>
  Effect.flatMap(
    path === undefined ? Effect.succeed(undefined) : readConfigFile(path),
    (file) => decodeConfig(file, env)
  )

export const layer = (config: NodeConfig): Layer.Layer<NodeConfigService> =>
  Layer.succeed(NodeConfigService, config)
