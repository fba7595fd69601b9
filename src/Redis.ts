/**
 * The Redis client as every Redis-backed store here needs it (receipt totals, rate limits).
 *
 * - Bounded: connecting at start-up, every command (`commandTimeout` plus an Effect timeout on the
 *   whole call, EVALSHA → EVAL fallback included), and QUIT at shutdown.
 * - No offline queue, no retries, no resend of a command in flight when the connection drops: a
 *   re-sent increment could apply twice. Callers see each failure at once as their store's
 *   "unavailable" error; the client reconnects in the background.
 * - The URL may carry a password: it is never logged nor put in an error.
 * - Scripts run with EVALSHA, falling back to EVAL (which caches them again) on NOSCRIPT.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import { Metrics } from "./Connector/Metrics.ts"
import { createHash } from "node:crypto"

export interface ClientOptions {
  readonly url: string
  /** Bound on every Redis call. */
  readonly commandTimeoutMs: number
  /** Bound on connecting at start-up. */
  readonly connectTimeoutMs: number
  /** Longest wait between reconnection attempts. */
  readonly reconnectDelayMsMax: number
}

export const clientDefaults = {
  commandTimeoutMs: 1_000,
  connectTimeoutMs: 5_000,
  reconnectDelayMsMax: 1_000,
  /** Bound on QUIT when the layer closes; the socket is closed either way. */
  quitTimeoutMs: 1_000
} as const

/** The first option that is not a positive integer, as a message; undefined when all are. */
export const clientOptionsProblem = (options: ClientOptions): string | undefined => {
  const positive = ["commandTimeoutMs", "connectTimeoutMs", "reconnectDelayMsMax"] as const
  const bad = positive.find((name) => !Number.isSafeInteger(options[name]) || options[name] <= 0)
  return bad === undefined ? undefined : `${bad} must be a positive integer`
}

export interface Script {
  readonly source: string
  readonly sha: string
}

export const script = (source: string): Script => ({ source, sha: createHash("sha1").update(source).digest("hex") })

const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith("NOSCRIPT")

/** EVALSHA, falling back to EVAL when Redis does not know the script (restart, SCRIPT FLUSH, failover). */
export const evalScript = (
  client: Redis,
  { sha, source }: Script,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string>
): Promise<unknown> =>
  client.evalsha(sha, keys.length, ...keys, ...args).catch((error: unknown) =>
    isNoScript(error) ? client.eval(source, keys.length, ...keys, ...args) : Promise.reject(error)
  )

/** How a store names its failures. */
export interface Failures<E> {
  /** The store's "unavailable" error (outage, timeout). */
  readonly unavailable: (message: string, cause?: unknown) => E
  /** Replies that mean corrupt data (a defect, not an outage). */
  readonly isCorruption: (error: unknown) => boolean
}

/**
 * Runs one Redis call bounded by `timeoutMs`. Outages and timeouts fail with the store's
 * unavailable error; corrupt data and malformed replies are defects.
 */
export const call = <A, E>(
  failures: Failures<E>,
  timeoutMs: number,
  what: string,
  f: () => Promise<A>
): Effect.Effect<A, E> =>
  Effect.tryPromise({ try: f, catch: (cause) => ({ cause }) }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMs,
      orElse: () => Effect.fail({ timedOut: true as const })
    }),
    Effect.catch((failure): Effect.Effect<never, E> => {
      if ("timedOut" in failure) return Effect.fail(failures.unavailable(`Redis ${what} timed out after ${timeoutMs} ms`))
      return failures.isCorruption(failure.cause) ?
        Effect.die(failure.cause) :
        Effect.fail(failures.unavailable(`Redis ${what} failed`, failure.cause))
    })
  )

const newClient = (options: ClientOptions): Redis => {
  const client = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(attempt * 50, options.reconnectDelayMsMax),
    // How long a closing socket may stay open before it is destroyed.
    disconnectTimeout: clientDefaults.quitTimeoutMs
  })
  // Connection errors surface to callers as their store's unavailable error; without a listener
  // ioredis would print each one (with host and port) to the console.
  client.on("error", () => {})
  return client
}

/** QUIT when connected (bounded), then close the socket and stop reconnecting. */
const closeClient = (client: Redis): Effect.Effect<void> => {
  const disconnect = Effect.sync(() => client.disconnect())
  if (client.status !== "ready") return disconnect
  return Effect.promise(() => client.quit().catch(() => "not connected")).pipe(
    Effect.timeoutOption(clientDefaults.quitTimeoutMs),
    Effect.andThen(disconnect)
  )
}

/** Connects (bounded) and loads the scripts (which checks they compile). */
const connect = <E>(
  client: Redis,
  options: ClientOptions,
  scripts: ReadonlyArray<Script>,
  failures: Failures<E>,
  purpose: string
): Effect.Effect<void, E> =>
  Effect.tryPromise({
    try: () => client.connect(),
    catch: (cause) => failures.unavailable(`cannot connect to Redis for ${purpose}`, cause)
  }).pipe(
    Effect.timeoutOrElse({
      duration: options.connectTimeoutMs,
      orElse: () => Effect.fail(failures.unavailable(`connecting to Redis timed out after ${options.connectTimeoutMs} ms`))
    }),
    Effect.andThen(call(failures, options.commandTimeoutMs, "script load", () =>
      Promise.all(scripts.map((s) => client.script("LOAD", s.source))))),
    Effect.asVoid
  )

/**
 * Times every command the client sends (`ilp_redis_command_duration_seconds{store,command}`): one
 * wrapper around `sendCommand`, so every caller is measured, scripts and their fallbacks included.
 */
const instrument = (client: Redis, observe: (command: string, durationMs: number) => void): void => {
  const send = client.sendCommand.bind(client)
  client.sendCommand = ((command: Parameters<Redis["sendCommand"]>[0], stream?: Parameters<Redis["sendCommand"]>[1]) => {
    const startedAt = performance.now()
    const done = () => observe(command.name, performance.now() - startedAt)
    command.promise.then(done, done)
    return send(command, stream)
  }) as Redis["sendCommand"]
}

/**
 * A connected client with `scripts` loaded, closed when the scope closes. Its commands' latency is
 * recorded in `Metrics` when that service is there (labelled with `purpose`).
 */
export const acquireClient = <E>(
  options: ClientOptions,
  scripts: ReadonlyArray<Script>,
  failures: Failures<E>,
  purpose: string
): Effect.Effect<Redis, E, Scope.Scope> =>
  Effect.flatMap(Effect.serviceOption(Metrics), (metrics) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const client = newClient(options)
        if (Option.isSome(metrics)) {
          const store = purpose.replaceAll(" ", "_")
          instrument(client, (command, durationMs) => metrics.value.recordRedis(store, command, durationMs))
        }
        return client
      }),
      closeClient
    ).pipe(Effect.tap((client) => connect(client, options, scripts, failures, purpose))))
