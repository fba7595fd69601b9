/**
 * Node configuration: an optional JSON file (`CONFIG_FILE` or `--config`) overlaid by environment
 * variables, decoded with Schema. Any problem fails start-up with a message naming the field; a bad
 * config never starts half a node.
 *
 * Secrets (peer tokens, admin token, STREAM secret) are held as `Redacted` and incoming tokens are
 * kept only as SHA-256 digests. Every bound lives here with its unit in the name.
 *
 * A new setting touches its schema, its default and its resolution here, and its environment
 * variable in `ConfigSources.ts` (with the reading of the file's JSON-with-comments); token digests and the refused example secrets are in `ConfigSecrets.ts`.
 * Over 400 lines on purpose: the schema, defaults and resolution are easiest to keep in step side by side.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { isValidAddress, u64 } from "./Connector/Packet.ts"
import { defaultListenerLimits, type ListenerLimits } from "./Http/PublicListener.ts"
import { nameVariables, overlayFromEnv, stripJsonComments } from "./ConfigSources.ts"
import { exampleSecretField, incomingTokenDigest } from "./ConfigSecrets.ts"

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
  requestTimeoutMs: Schema.optionalKey(PositiveInt),
  /** Most client sessions this node opens (1..16, on demand; LedgerTigerBeetle.ts). */
  sessions: Schema.optionalKey(PositiveInt)
})

/** Bounds of the public listeners (ILP-over-HTTP, SPSP); see `Http/PublicListener.ts`. */
const PublicListenerFile = Schema.Struct({
  connectionsMax: Schema.optionalKey(PositiveInt),
  idleTimeoutMs: Schema.optionalKey(PositiveInt),
  headersTimeoutMs: Schema.optionalKey(PositiveInt),
  requestTimeoutMs: Schema.optionalKey(PositiveInt)
})

/** Open Payments (src/OpenPayments/): public URL, the node's client key, token lifetime. */
const OpenPaymentsFile = Schema.Struct({
  publicUrl: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^https?:\/\/[^/?#]+$/))),
  privateKey: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  keyId: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^[A-Za-z0-9._~-]{1,64}$/))),
  accessTokenLifetimeMs: Schema.optionalKey(PositiveInt)
})

/** Webhooks: see src/Events/Webhooks.ts and the README's "Events and webhooks". */
const WebhooksFile = Schema.Struct({
  urls: Schema.Array(Schema.String.check(Schema.isPattern(/^https?:\/\/[^\s]+$/))).check(Schema.isMaxLength(8)),
  secret: Schema.optionalKey(Schema.String.check(Schema.isMinLength(16), Schema.isMaxLength(512))),
  attemptsMax: Schema.optionalKey(PositiveInt.check(Schema.isLessThanOrEqualTo(100))),
  backoffMsBase: Schema.optionalKey(PositiveInt),
  backoffMsMax: Schema.optionalKey(PositiveInt),
  requestTimeoutMs: Schema.optionalKey(PositiveInt.check(Schema.isLessThanOrEqualTo(60_000))),
  concurrencyMax: Schema.optionalKey(PositiveInt.check(Schema.isLessThanOrEqualTo(64))),
  batchMax: Schema.optionalKey(PositiveInt.check(Schema.isLessThanOrEqualTo(1_000))),
  pollIntervalMs: Schema.optionalKey(PositiveInt),
  deliveredRetentionDays: Schema.optionalKey(PositiveInt.check(Schema.isLessThanOrEqualTo(3_650)))
})

/** Liquidity below which a `liquidity.peer_low` / `liquidity.asset_low` event is written (amounts in the asset's units). */
const LiquidityThresholdsFile = Schema.Struct({
  peers: Schema.optionalKey(Schema.Record(Schema.String, Amount)),
  /** Keyed by "CODE/scale", e.g. "USD/2". */
  assets: Schema.optionalKey(Schema.Record(Schema.String.check(Schema.isPattern(/^[A-Z0-9]{1,12}\/[0-9]{1,3}$/)), Amount)),
  checkIntervalMs: Schema.optionalKey(PositiveInt)
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
  publicListener: Schema.optionalKey(PublicListenerFile),
  assets: Schema.optionalKey(Schema.Array(Asset)),
  peers: Schema.optionalKey(Schema.Array(PeerFile)),
  rates: Schema.optionalKey(RatesFile),
  tigerbeetle: Schema.optionalKey(TigerBeetleFile),
  redisUrl: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^rediss?:\/\/.+/))),
  postgresUrl: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^postgres(ql)?:\/\/.+/))),
  openPayments: Schema.optionalKey(OpenPaymentsFile),
  webhooks: Schema.optionalKey(WebhooksFile),
  liquidityThresholds: Schema.optionalKey(LiquidityThresholdsFile)
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
  /** Connection cap and timeouts of the ILP-over-HTTP and SPSP listeners. */
  readonly publicListener: ListenerLimits
  readonly assets: ReadonlyArray<Asset>
  readonly peers: ReadonlyArray<PeerConfig>
  readonly rates: RatesConfig
  /** Production ledger; the embedded SQLite ledger when absent. */
  readonly tigerbeetle:
    | {
      readonly clusterId: bigint
      readonly replicaAddresses: ReadonlyArray<string>
      readonly requestTimeoutMs: number
      readonly transferSessions?: number
    }
    | undefined
  /** Production receipt totals (Redis); the embedded SQLite store when absent. Holds credentials: redacted. */
  readonly redisUrl: Redacted.Redacted<string> | undefined
  /**
   * Production resource store (wallet addresses, payments) in PostgreSQL, shared by every
   * instance; the embedded SQLite store when absent. Holds credentials: redacted.
   */
  readonly postgresUrl: Redacted.Redacted<string> | undefined
  readonly openPayments: OpenPaymentsConfig
  readonly webhooks: WebhooksConfig
  readonly liquidityThresholds: LiquidityThresholdsConfig
}

/** Webhook delivery of the events outbox (src/Events/Webhooks.ts). No URLs: events are kept, not sent. */
export interface WebhooksConfig {
  readonly urls: ReadonlyArray<string>
  /** HMAC-SHA256 key of the `Webhook-Signature` header. Required with urls. */
  readonly secret: Redacted.Redacted<string> | undefined
  /** Attempts per event before it is marked failed (replayable through the API). */
  readonly attemptsMax: number
  /** Backoff after the n-th failed attempt: min(backoffMsBase × 2^(n−1), backoffMsMax). */
  readonly backoffMsBase: number
  readonly backoffMsMax: number
  readonly requestTimeoutMs: number
  /** Events delivered at once by this instance. */
  readonly concurrencyMax: number
  /** Events taken from the outbox per poll (the in-memory backlog bound). */
  readonly batchMax: number
  readonly pollIntervalMs: number
  /** Delivered events are deleted this long after delivery (pending and failed ones are kept). */
  readonly deliveredRetentionDays: number
}

export interface LiquidityThresholdsConfig {
  readonly peers: ReadonlyMap<string, bigint>
  /** Keyed by "CODE/scale". */
  readonly assets: ReadonlyMap<string, bigint>
  readonly checkIntervalMs: number
}

/** Open Payments: see src/OpenPayments/ and the README's "Open Payments" section. */
export interface OpenPaymentsConfig {
  /** Public origin of the Open Payments port (no path); default `http://<host>:<openPaymentsPort>`. */
  readonly publicUrl: string | undefined
  /** The node's Ed25519 client key (base64 of a PKCS#8 PEM); generated (and kept in dataDir) when absent. */
  readonly privateKey: Redacted.Redacted<string> | undefined
  readonly keyId: string
  /** Lifetime of the access tokens this node grants. */
  readonly accessTokenLifetimeMs: number
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
  peerRateLimit: { packetsPerSecond: 10_000, burst: 20_000 },
  openPaymentsKeyId: "node-key-1",
  accessTokenLifetimeMs: 10 * 60_000,
  webhooks: {
    attemptsMax: 12,
    backoffMsBase: 1_000,
    backoffMsMax: 10 * 60_000,
    requestTimeoutMs: 5_000,
    concurrencyMax: 4,
    batchMax: 100,
    pollIntervalMs: 500,
    deliveredRetentionDays: 30
  },
  liquidityCheckIntervalMs: 5_000
} as const

/** The production profile: a TigerBeetle ledger or Redis counters (several instances, real money). */
export const isProduction = (config: NodeConfig): boolean => config.tigerbeetle !== undefined || config.redisUrl !== undefined

export { adminTokenDigest, exampleSecretDigests, hashToken, incomingTokenDigest } from "./ConfigSecrets.ts"
export { stripJsonComments } from "./ConfigSources.ts"

export const resolvePeer = (peer: typeof PeerFile.Type): PeerConfig => ({
  id: peer.id,
  asset: peer.asset,
  incomingTokenHashes: peer.incomingTokens.map(incomingTokenDigest),
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
  if (config.publicListener.headersTimeoutMs > config.publicListener.requestTimeoutMs) {
    return "publicListener.headersTimeoutMs: must not exceed publicListener.requestTimeoutMs"
  }
  if (config.minMessageWindowMs * 2 > config.maxHoldTimeMs) {
    return "maxHoldTimeMs: must be at least twice minMessageWindowMs"
  }
  const example = isProduction(config) ? exampleSecretField(config) : undefined
  if (example !== undefined) {
    return `${example}: an example secret from examples/; the production profile (tigerbeetle or redisUrl) refuses to start with it`
  }
  const ports = [config.connectorPort, config.adminPort, config.openPaymentsPort].filter((port) => port !== 0)
  if (new Set(ports).size !== ports.length) {
    return "connectorPort, adminPort, openPaymentsPort: must all differ"
  }
  if (config.webhooks.urls.length > 0 && config.webhooks.secret === undefined) {
    return "webhooks.secret: required with webhooks.urls (receivers check the HMAC-SHA256 signature with it)"
  }
  if (config.webhooks.backoffMsBase > config.webhooks.backoffMsMax) {
    return "webhooks.backoffMsBase: must not exceed webhooks.backoffMsMax"
  }
  // Every instance on one PostgreSQL store must issue and accept the same STREAM credentials.
  if (config.postgresUrl !== undefined && config.streamSecret === undefined) {
    return "streamSecret: required with postgresUrl (one STREAM server secret shared by every instance)"
  }
  return undefined
}

/** One line: Schema's messages put the path on a second line. */
const oneLine = (text: string): string => text.split("\n").map((line) => line.trim()).filter((line) => line !== "").join(" ")

const readConfigFile = (path: string): Effect.Effect<unknown, ConfigError> =>
  Effect.try({
    try: () => JSON.parse(stripJsonComments(readFileSync(path, "utf8"))) as unknown,
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
    const overlay = overlayFromEnv(env)
    const fileOpenPayments = (base as { openPayments?: unknown }).openPayments
    if (overlay.openPayments !== undefined && typeof fileOpenPayments === "object" && fileOpenPayments !== null) {
      overlay.openPayments = { ...fileOpenPayments, ...(overlay.openPayments as object) }
    }
    const fileWebhooks = (base as { webhooks?: unknown }).webhooks
    if (overlay.webhooks !== undefined) {
      const fromFile = typeof fileWebhooks === "object" && fileWebhooks !== null ? fileWebhooks : {}
      overlay.webhooks = { urls: [], ...fromFile, ...(overlay.webhooks as object) }
    }
    const merged = { ...base, ...overlay }
    const decoded = yield* Schema.decodeUnknownEffect(ConfigFile)(merged, { onExcessProperty: "error" }).pipe(
      Effect.mapError((error) =>
        new ConfigError({ message: `invalid configuration: ${nameVariables(oneLine(error.message), env, overlay)}` })
      )
    )
    const config = resolve(decoded)
    const problem = crossCheck(config)
    if (problem !== undefined) {
      return yield* new ConfigError({ message: `invalid configuration: ${nameVariables(problem, env, overlay)}` })
    }
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
  publicListener: { ...defaultListenerLimits, ...file.publicListener },
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
    requestTimeoutMs: file.tigerbeetle.requestTimeoutMs ?? defaults.tigerbeetleRequestTimeoutMs,
    ...(file.tigerbeetle.sessions === undefined ? {} : { transferSessions: file.tigerbeetle.sessions })
  },
  redisUrl: file.redisUrl === undefined ? undefined : Redacted.make(file.redisUrl, { label: "redis url" }),
  postgresUrl: file.postgresUrl === undefined ? undefined : Redacted.make(file.postgresUrl, { label: "postgres url" }),
  openPayments: {
    publicUrl: file.openPayments?.publicUrl,
    privateKey: file.openPayments?.privateKey === undefined ?
      undefined :
      Redacted.make(file.openPayments.privateKey, { label: "open payments private key" }),
    keyId: file.openPayments?.keyId ?? defaults.openPaymentsKeyId,
    accessTokenLifetimeMs: file.openPayments?.accessTokenLifetimeMs ?? defaults.accessTokenLifetimeMs
  },
  webhooks: {
    urls: file.webhooks?.urls ?? [],
    secret: file.webhooks?.secret === undefined ? undefined : Redacted.make(file.webhooks.secret, { label: "webhook secret" }),
    attemptsMax: file.webhooks?.attemptsMax ?? defaults.webhooks.attemptsMax,
    backoffMsBase: file.webhooks?.backoffMsBase ?? defaults.webhooks.backoffMsBase,
    backoffMsMax: file.webhooks?.backoffMsMax ?? defaults.webhooks.backoffMsMax,
    requestTimeoutMs: file.webhooks?.requestTimeoutMs ?? defaults.webhooks.requestTimeoutMs,
    concurrencyMax: file.webhooks?.concurrencyMax ?? defaults.webhooks.concurrencyMax,
    batchMax: file.webhooks?.batchMax ?? defaults.webhooks.batchMax,
    pollIntervalMs: file.webhooks?.pollIntervalMs ?? defaults.webhooks.pollIntervalMs,
    deliveredRetentionDays: file.webhooks?.deliveredRetentionDays ?? defaults.webhooks.deliveredRetentionDays
  },
  liquidityThresholds: {
    peers: new Map(Object.entries(file.liquidityThresholds?.peers ?? {}).map(([id, amount]) => [id, toAmount(amount)])),
    assets: new Map(Object.entries(file.liquidityThresholds?.assets ?? {}).map(([key, amount]) => [key, toAmount(amount)])),
    checkIntervalMs: file.liquidityThresholds?.checkIntervalMs ?? defaults.liquidityCheckIntervalMs
  }
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
