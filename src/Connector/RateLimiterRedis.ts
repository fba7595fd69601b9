/**
 * Per-account limits in Redis (production profile): every connector instance takes from the same
 * buckets, so a peer's rate and throughput limits hold across instances (SPEC §1). The semantics are
 * those of `RateLimiter.ts` (one contract suite runs against both layers).
 *
 * One Lua script per limit, each touching ONE key (atomic, and usable on Redis Cluster):
 * - `<keyPrefix>p:<account key>`: hash `t` = tokens (a double, so fractional refill is kept; the
 *   arithmetic is the memory layer's, in the same IEEE doubles, stored with 17 significant digits
 *   so it round-trips), `u` = last update, epoch ms.
 * - `<keyPrefix>a:<account key>`: hash `a` = available amount·ms (a canonical decimal string),
 *   `u` = last update, epoch ms. Lua numbers are doubles (exact only to 2^53) and allowances reach
 *   u64 × periodMs, so the script never turns an amount into a number: it adds, subtracts,
 *   multiplies and compares decimal strings digit by digit. The limit is EXACT for any u64 amount,
 *   with the same continuous refill as the memory layer (not a fixed window).
 * Both scripts run with EVALSHA and, when Redis answers NOSCRIPT (restart, SCRIPT FLUSH, failover),
 * with EVAL, which caches them again.
 *
 * Expiry: every take sets PEXPIRE to the time an empty bucket needs to refill completely
 * (`burst / packetsPerSecond` for packets, `periodMs` for amounts, at most `idleTtlMsMax`), so a
 * key disappears only once it would be full anyway, and a missing key is a full bucket: expiry
 * changes no answer (except past `idleTtlMsMax`, where a bucket that would still be refilling
 * starts full again, erring on the side of letting a quiet account through).
 *
 * Time. `clock: "server"` (the default, production) reads Redis TIME inside the script, so all
 * instances refill by ONE clock and a skewed instance clock can neither mint tokens nor starve an
 * account; the `nowMs` callers pass is then ignored. `clock: "caller"` uses the `nowMs` passed in
 * (integer epoch ms), like the memory layer: for tests that step time exactly (the shared contract
 * suite), or for a deployment that prefers the instances' clocks. Effect's TestClock does not reach
 * Redis in either mode, and keys still expire by Redis's own clock. Redis 5 or later is required
 * (scripts that call TIME before writing need effect replication, the default since Redis 5).
 *
 * Client behaviour (as `Stream/ReceiptTotalsRedis.ts`, for the same reasons): no offline queue
 * (commands fail at once while disconnected), no retry and no resend of a command in flight when
 * the connection drops (a take is never applied twice), `commandTimeout` and an Effect timeout of
 * `commandTimeoutMs` on every call (a hung Redis never holds a packet), reconnection in the
 * background, a bounded connect at start (fails the layer with `RateLimiterUnavailable`, so a bad
 * URL shows at start-up), QUIT and disconnect when the layer's scope closes. Outages and timeouts
 * are `RateLimiterUnavailable` (the stages answer T00); corrupt stored values and malformed replies
 * are defects. The Redis URL (it may carry a password) is never put in an error or a log.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Redis } from "ioredis"
import * as RedisClient from "../Redis.ts"
import { luaDecimal, luaDecimalMul } from "../RedisLuaDecimal.ts"
import type { RateLimitSettings, ThroughputLimitSettings } from "./Account.ts"
import { RateLimiter, type RateLimiterShape, RateLimiterUnavailable } from "./RateLimiter.ts"

export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string
  readonly keyPrefix?: string
  /** Bound on every Redis call, including the EVALSHA → EVAL fallback. */
  readonly commandTimeoutMs?: number
  /** Bound on connecting at start-up. */
  readonly connectTimeoutMs?: number
  /** Longest wait between reconnection attempts. */
  readonly reconnectDelayMsMax?: number
  /** Whose clock refills the buckets: Redis TIME (`"server"`, default) or the `nowMs` passed in. */
  readonly clock?: "server" | "caller"
}

export const redisDefaults = {
  keyPrefix: "ilp:limits:",
  commandTimeoutMs: RedisClient.clientDefaults.commandTimeoutMs,
  connectTimeoutMs: RedisClient.clientDefaults.connectTimeoutMs,
  reconnectDelayMsMax: RedisClient.clientDefaults.reconnectDelayMsMax,
  clock: "server",
  quitTimeoutMs: RedisClient.clientDefaults.quitTimeoutMs,
  /** Longest a bucket key outlives its last take (30 days). */
  idleTtlMsMax: 30 * 24 * 3_600_000,
  /** Longest account key accepted (account keys are `peer:<id>` / `local:<id>`). */
  keyLengthMax: 512
} as const

type Resolved = Required<RedisOptions>

const resolve = (options: RedisOptions): Resolved => ({
  url: options.url,
  keyPrefix: options.keyPrefix ?? redisDefaults.keyPrefix,
  commandTimeoutMs: options.commandTimeoutMs ?? redisDefaults.commandTimeoutMs,
  connectTimeoutMs: options.connectTimeoutMs ?? redisDefaults.connectTimeoutMs,
  reconnectDelayMsMax: options.reconnectDelayMsMax ?? redisDefaults.reconnectDelayMsMax,
  clock: options.clock ?? redisDefaults.clock
})

// ---------------------------------------------------------------------------------------------
// The scripts
// ---------------------------------------------------------------------------------------------

/** Reply error of a stored value or an argument the scripts cannot read (a defect, not an outage). */
const corruptMarker = "RATE_LIMITER_CORRUPT"

/** `now` in epoch ms: the caller's (ARGV) or, when "", Redis TIME truncated to the millisecond. */
const nowFunction = `
local function currentMs(arg)
  if arg == "" then
    local time = redis.call("TIME")
    return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  end
  return tonumber(arg)
end
`

/**
 * KEYS[1] bucket hash. ARGV[1] packets per second, ARGV[2] burst, ARGV[3] now ms ("" = Redis TIME),
 * ARGV[4] idle TTL ms. Replies 1 when a token was taken, 0 when the bucket is empty.
 */
export const packetScript = `${nowFunction}
local rate, burst, ttlMs = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4]
local now = currentMs(ARGV[3])
if not (rate and burst and now) then
  return redis.error_reply("${corruptMarker} packet arguments are not numbers")
end
local state = redis.call("HMGET", KEYS[1], "t", "u")
local tokens, updated = burst, now
if state[1] or state[2] then
  tokens, updated = tonumber(state[1] or ""), tonumber(state[2] or "")
  if not (tokens and updated) then
    return redis.error_reply("${corruptMarker} stored packet bucket is not numeric")
  end
end
-- The memory layer's arithmetic, in the same doubles.
local elapsed = math.max(0, now - updated)
tokens = math.min(burst, tokens + (elapsed * rate) / 1000)
updated = math.max(updated, now)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call("HSET", KEYS[1], "t", string.format("%.17g", tokens), "u", string.format("%.17g", updated))
redis.call("PEXPIRE", KEYS[1], ttlMs)
return taken
`

/**
 * KEYS[1] bucket hash. ARGV[1] capacity = limit amount × periodMs, ARGV[2] refill per ms = limit
 * amount, ARGV[3] needed = packet amount × periodMs (all decimal strings, in amount·ms),
 * ARGV[4] now ms ("" = Redis TIME), ARGV[5] idle TTL ms.
 * Replies 1 when the amount was taken, 0 when it would exceed the allowance (nothing taken).
 */
export const amountScript = `${nowFunction}${luaDecimal}${luaDecimalMul}
local capacity, refillPerMs, needed, ttlMs = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local now = currentMs(ARGV[4])
if not (isDecimal(capacity) and isDecimal(refillPerMs) and isDecimal(needed) and now) then
  return redis.error_reply("${corruptMarker} amount arguments are not decimal numbers")
end
local state = redis.call("HMGET", KEYS[1], "a", "u")
local available, updated = capacity, now
if state[1] or state[2] then
  available, updated = state[1] or "", tonumber(state[2] or "")
  if not (isDecimal(available) and updated) then
    return redis.error_reply("${corruptMarker} stored amount bucket is not decimal")
  end
end
if now > updated then
  available = add(available, mul(string.format("%.0f", now - updated), refillPerMs))
  updated = now
end
if greater(available, capacity) then available = capacity end
local taken = 0
if not greater(needed, available) then
  available = sub(available, needed)
  taken = 1
end
redis.call("HSET", KEYS[1], "a", available, "u", string.format("%.0f", updated))
redis.call("PEXPIRE", KEYS[1], ttlMs)
return taken
`

type Script = RedisClient.Script

const scripts = { packet: RedisClient.script(packetScript), amount: RedisClient.script(amountScript) } as const

const isCorruption = (error: unknown): boolean =>
  error instanceof Error && (error.message.includes(corruptMarker) || error.message.startsWith("WRONGTYPE"))

const evalScript = (client: Redis, s: Script, key: string, args: ReadonlyArray<string>) =>
  RedisClient.evalScript(client, s, [key], args)

/** The scripts reply 1 (taken) or 0 (refused); anything else is a defect. */
const parseTaken = (reply: unknown): boolean => {
  if (reply === 1) return true
  if (reply === 0) return false
  throw new Error(`RateLimiter: unexpected reply from the script (${typeof reply})`)
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

const clampTtlMs = (ms: number): string =>
  String(Math.min(redisDefaults.idleTtlMsMax, Math.max(1, Math.ceil(ms))))

/** How long an empty packet bucket takes to refill to `burst`. */
export const packetBucketIdleTtlMs = (settings: RateLimitSettings): string =>
  clampTtlMs((settings.burst * 1000) / settings.packetsPerSecond)

/** How long an empty amount bucket takes to refill: one period. */
export const amountBucketIdleTtlMs = (settings: ThroughputLimitSettings): string => clampTtlMs(settings.periodMs)

/** Programmer errors (the config and the decoder guarantee these), reported as defects. */
const requestProblem = (key: string, nowMs: number): string | undefined =>
  key.length === 0 || key.length > redisDefaults.keyLengthMax
    ? `RateLimiter: account key must have 1 to ${redisDefaults.keyLengthMax} characters`
    : Number.isFinite(nowMs)
    ? undefined
    : "RateLimiter: nowMs must be a finite number"

const dieIf = (problem: string | undefined): Effect.Effect<void> =>
  problem === undefined ? Effect.void : Effect.die(new Error(problem))

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

const unavailable = (message: string, cause?: unknown) => new RateLimiterUnavailable({ message, cause })

const failures: RedisClient.Failures<RateLimiterUnavailable> = { unavailable, isCorruption }

/** One Redis call bounded by `timeoutMs`: outages fail with `RateLimiterUnavailable`, corruption dies. */
const call = <A>(timeoutMs: number, what: string, f: () => Promise<A>) =>
  RedisClient.call(failures, timeoutMs, what, f)

const makeService = (client: Redis, options: Resolved): RateLimiterShape => {
  const packetKey = (key: string) => `${options.keyPrefix}p:${key}`
  const amountKey = (key: string) => `${options.keyPrefix}a:${key}`
  const now = (nowMs: number): string => options.clock === "server" ? "" : String(Math.floor(nowMs))
  const take = (what: string, s: Script, key: string, args: ReadonlyArray<string>) =>
    Effect.map(call(options.commandTimeoutMs, what, () => evalScript(client, s, key, args)), parseTaken)
  return {
    takePacket: Effect.fn("RateLimiter.takePacket")(function*(key, settings, nowMs) {
      yield* dieIf(requestProblem(key, nowMs))
      return yield* take("takePacket", scripts.packet, packetKey(key), [
        String(settings.packetsPerSecond),
        String(settings.burst),
        now(nowMs),
        packetBucketIdleTtlMs(settings)
      ])
    }),
    takeAmount: Effect.fn("RateLimiter.takeAmount")(function*(key, settings, amount, nowMs) {
      yield* dieIf(requestProblem(key, nowMs))
      if (amount < 0n) return yield* Effect.die(new Error("RateLimiter: amount must not be negative"))
      const period = BigInt(settings.periodMs)
      return yield* take("takeAmount", scripts.amount, amountKey(key), [
        (settings.amount * period).toString(),
        settings.amount.toString(),
        (amount * period).toString(),
        now(nowMs),
        amountBucketIdleTtlMs(settings)
      ])
    })
  }
}

// ---------------------------------------------------------------------------------------------
// The client's life
// ---------------------------------------------------------------------------------------------

const optionsProblem = (options: Resolved): string | undefined => {
  const problem = RedisClient.clientOptionsProblem(options)
  return problem === undefined ? undefined : `RateLimiter: ${problem}`
}

const acquireClient = (options: Resolved) =>
  RedisClient.acquireClient(options, [scripts.packet, scripts.amount], failures, "rate limits")

/**
 * Rate and throughput limits in Redis at `options.url`, shared by every instance using it. Scoped:
 * the client quits when the layer's scope closes. Fails with `RateLimiterUnavailable` when Redis
 * does not answer at start-up.
 */
export const layerRedis = (options: RedisOptions): Layer.Layer<RateLimiter, RateLimiterUnavailable> =>
  Layer.effect(
    RateLimiter,
    Effect.gen(function*() {
      const resolved = resolve(options)
      yield* dieIf(optionsProblem(resolved))
      const client = yield* acquireClient(resolved)
      return makeService(client, resolved)
    })
  )
