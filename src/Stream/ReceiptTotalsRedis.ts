/**
 * Receipt totals in Redis (production): shared by every connector instance, so the cap check and
 * the increments of an `add` are atomic across instances. See `ReceiptTotals.ts` for the contract.
 *
 * Keys (one Redis, not Cluster: the script touches up to four keys, which Cluster only allows in one slot):
 * - `<keyPrefix>c:<connectionKey>`: the connection's committed total, `PX` = TTL, refreshed by each commit.
 * - `<keyPrefix>p:<paymentKey>`: the payment's committed total, no expiry (removed by `deletePayment`).
 * - `<keyPrefix>s:<paymentKey>`: the sum of the payment's pending amounts; `<keyPrefix>h:<paymentKey>`:
 *   hash `packetId -> amount` of its pending packets; `<keyPrefix>z:<paymentKey>`: the same ids
 *   scored by the time they lapse. A call first lapses at most `lapsedPerCallMax` due packets (so
 *   its work is bounded; one not lapsed yet only makes the cap stricter), then decides on
 *   committed + pending sum. At most `pendingPerPaymentMax` pending packets per payment: beyond it
 *   a reserve is `ReceiptStoreUnavailable`.
 * - `<keyPrefix>e:<packetId>`: the packet's record, `"p|c|r amount"` (pending, committed, released),
 *   `PX` = its pending time + `settleGraceMs`; a release of an unknown packet writes an `r` tombstone.
 * Times are Redis's own (`TIME`), so the instances' clocks do not matter. Totals are canonical
 * decimal strings. Keys are not logged (connection keys may be derived from secrets); the Redis URL
 * (it may carry a password) is never put in an error or a log.
 *
 * Every step (add, reserve, commit, release) is ONE Lua script call (`totalsScript`), atomic across
 * instances, run with EVALSHA and, when Redis answers NOSCRIPT (restart, SCRIPT FLUSH, failover),
 * with EVAL, which caches it again. Lua numbers are doubles (exact only to 2^53) and INCRBY is i64,
 * so the script never converts a total to a number: it compares decimal strings (longer is larger,
 * equal lengths compare digit by digit) and adds them digit by digit with a carry. Totals are
 * therefore exact at any size (u128 and beyond).
 *
 * Client behaviour, chosen so that callers fail fast and an add is never applied twice:
 * - `enableOfflineQueue: false`: while disconnected, commands fail at once instead of queueing.
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: a command in flight when
 *   the connection drops fails (its outcome unknown) and is NOT resent on reconnect. A command
 *   that timed out may still run later (a SIGSTOPped Redis runs what it had read when it resumes):
 *   that is why a reserve is only pending, and why commit and release are idempotent per packet.
 * - `commandTimeout` = `commandTimeoutMs`, and every call is also bounded by an Effect timeout of
 *   the same length (a SIGSTOPped or black-holed Redis never hangs a caller).
 * - `retryStrategy`: reconnects in the background forever, waiting at most `reconnectDelayMsMax`
 *   between attempts; callers are never blocked by it.
 * - The layer connects at start (bounded by `connectTimeoutMs`) and fails with
 *   `ReceiptStoreUnavailable` when Redis does not answer, so a misconfigured URL shows at start-up.
 * - Scoped: QUIT (bounded) and disconnect when the layer's scope closes.
 */
import { Effect, Layer } from "effect"
import type { Redis } from "ioredis"
import * as RedisClient from "../Redis.ts"
import {
  type AddRequest,
  addRequestProblem,
  type AddResult,
  checkKey,
  type CommitResult,
  CorruptTotal,
  defaults as totalsDefaults,
  dieIf,
  graceProblem,
  packetRefProblem,
  parseTotal,
  ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReceiptTotalsShape,
  type ReleaseOutcome,
  releasedRefusal,
  remainingUnder,
  reserveRequestProblem,
  ttlMs,
  ttlProblem
} from "./ReceiptTotals.ts"

export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string
  readonly keyPrefix?: string
  readonly connectionTtlSeconds?: number
  readonly settleGraceMs?: number
  /** Bound on every Redis call, including the EVALSHA → EVAL fallback. */
  readonly commandTimeoutMs?: number
  /** Bound on connecting at start-up. */
  readonly connectTimeoutMs?: number
  /** Longest wait between reconnection attempts. */
  readonly reconnectDelayMsMax?: number
}

export const redisDefaults = {
  keyPrefix: "ilp:receipts:",
  connectionTtlSeconds: totalsDefaults.connectionTtlSeconds,
  settleGraceMs: totalsDefaults.settleGraceMs,
  commandTimeoutMs: RedisClient.clientDefaults.commandTimeoutMs,
  connectTimeoutMs: RedisClient.clientDefaults.connectTimeoutMs,
  reconnectDelayMsMax: RedisClient.clientDefaults.reconnectDelayMsMax,
  quitTimeoutMs: RedisClient.clientDefaults.quitTimeoutMs
} as const

type Resolved = Required<RedisOptions>

const resolve = (options: RedisOptions): Resolved => ({
  url: options.url,
  keyPrefix: options.keyPrefix ?? redisDefaults.keyPrefix,
  connectionTtlSeconds: options.connectionTtlSeconds ?? redisDefaults.connectionTtlSeconds,
  settleGraceMs: options.settleGraceMs ?? redisDefaults.settleGraceMs,
  commandTimeoutMs: options.commandTimeoutMs ?? redisDefaults.commandTimeoutMs,
  connectTimeoutMs: options.connectTimeoutMs ?? redisDefaults.connectTimeoutMs,
  reconnectDelayMsMax: options.reconnectDelayMsMax ?? redisDefaults.reconnectDelayMsMax
})

// ---------------------------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------------------------

/** Reply error of a stored value that is not a decimal total (a defect, not an outage). */
const corruptMarker = "RECEIPT_TOTALS_CORRUPT"

/** Due pending packets one call lapses (bounds the work of a call; the rest go in later calls). */
export const lapsedPerCallMax = 64

/**
 * KEYS[1] connection total, KEYS[2] packet record, then (with a payment) KEYS[3] payment total,
 * KEYS[4] pending hash, KEYS[5] pending sum, KEYS[6] pending ids by lapse time.
 * ARGV[1] op ("add" | "reserve" | "commit" | "release"), ARGV[2] amount, ARGV[3] connection TTL in
 * ms, ARGV[4] payment cap ("" when none), ARGV[5] packet id, ARGV[6] pending ms, ARGV[7] grace ms,
 * ARGV[8] most pending packets per payment, ARGV[9] most lapses per call.
 * Replies:
 * - add / reserve: {1, connectionTotal[, countedTotal]} accepted; {0, countedTotal} refused;
 *   {0, countedTotal, "released"} a reserve of a released packet; {3} too many pending; {4} the
 *   packet id was reserved before (a defect).
 * - commit: {1, connectionTotal[, paymentTotal]} committed (now or before); {2, "released"|"unknown"}.
 * - release: {1} released; {2} it was committed.
 */
export const totalsScript = `
local function isDecimal(s)
  return s == "0" or string.find(s, "^[1-9][0-9]*$") ~= nil
end

local function corrupt(what)
  error("${corruptMarker} " .. what)
end

-- a > b for canonical decimal strings
local function greater(a, b)
  if #a ~= #b then return #a > #b end
  for k = 1, #a do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x > y end
  end
  return false
end

-- a + b for canonical decimal strings, digit by digit from the right
local function add(a, b)
  local digits = {}
  local i, j, carry = #a, #b, 0
  while i > 0 or j > 0 or carry > 0 do
    local sum = carry
    if i > 0 then sum = sum + string.byte(a, i) - 48; i = i - 1 end
    if j > 0 then sum = sum + string.byte(b, j) - 48; j = j - 1 end
    if sum >= 10 then carry = 1; sum = sum - 10 else carry = 0 end
    digits[#digits + 1] = string.char(48 + sum)
  end
  return string.reverse(table.concat(digits))
end

-- a - b for canonical decimal strings, a >= b
local function sub(a, b)
  if greater(b, a) then corrupt("pending sum is below a pending amount") end
  local digits = {}
  local i, j, borrow = #a, #b, 0
  while i > 0 do
    local d = string.byte(a, i) - 48 - borrow
    if j > 0 then d = d - (string.byte(b, j) - 48); j = j - 1 end
    if d < 0 then d = d + 10; borrow = 1 else borrow = 0 end
    digits[#digits + 1] = string.char(48 + d)
    i = i - 1
  end
  local s = string.gsub(string.reverse(table.concat(digits)), "^0+", "")
  if s == "" then return "0" end
  return s
end

local function total(key)
  local v = redis.call("GET", key)
  if not v then return "0" end
  if not isDecimal(v) then corrupt("stored total is not a decimal number") end
  return v
end

local op, amount, ttlMs, cap, packetId = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local pendingMs, graceMs = tonumber(ARGV[6]), tonumber(ARGV[7])
local pendingMax, lapsedMax = tonumber(ARGV[8]), tonumber(ARGV[9])
local C, E, P, H, S, Z = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local hasPayment = #KEYS == 6
if not (isDecimal(amount) and (cap == "" or isDecimal(cap))) then corrupt("amount or cap is not a decimal number") end

local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- takes one packet out of the payment's pending set (no-op when it is not in it)
local function unpend(id)
  local a = redis.call("HGET", H, id)
  if not a then return end
  if not isDecimal(a) then corrupt("pending amount is not a decimal number") end
  local left = sub(total(S), a)
  if left == "0" then redis.call("DEL", S) else redis.call("SET", S, left) end
  redis.call("HDEL", H, id)
  redis.call("ZREM", Z, id)
end

-- committed + pending, after lapsing at most lapsedMax due packets
local function counted()
  local due = redis.call("ZRANGEBYSCORE", Z, "-inf", now, "LIMIT", 0, lapsedMax)
  for k = 1, #due do unpend(due[k]) end
  return add(total(P), total(S))
end

local function record()
  local v = redis.call("GET", E)
  if not v then return nil, nil end
  local state, a = string.match(v, "^([pcr]) (%d+)$")
  if not state then corrupt("packet record is malformed") end
  return state, a
end

local function commitAmount(a)
  local connection = add(total(C), a)
  redis.call("SET", C, connection, "PX", ttlMs)
  if not hasPayment then return {1, connection} end
  local payment = add(total(P), a)
  redis.call("SET", P, payment)
  return {1, connection, payment}
end

if op == "add" or op == "reserve" then
  local before = "0"
  if op == "reserve" then
    local state = record()
    if state == "r" then
      if hasPayment then before = counted() end
      return {0, before, "released"}
    end
    if state then return {4} end
  end
  if hasPayment then before = counted() end
  local after = add(before, amount)
  if hasPayment and cap ~= "" and greater(after, cap) then return {0, before} end
  if op == "add" then
    local reply = commitAmount(amount)
    if hasPayment then reply[3] = after end
    return reply
  end
  if hasPayment then
    if redis.call("ZCARD", Z) >= pendingMax then return {3} end
    redis.call("HSET", H, packetId, amount)
    redis.call("ZADD", Z, now + pendingMs, packetId)
    redis.call("SET", S, add(total(S), amount))
  end
  redis.call("SET", E, "p " .. amount, "PX", pendingMs + graceMs)
  local connection = add(total(C), amount)
  if hasPayment then return {1, connection, after} end
  return {1, connection}
end

if op == "commit" then
  local state, a = record()
  if not state then return {2, "unknown"} end
  if state == "r" then return {2, "released"} end
  if state == "c" then
    if hasPayment then return {1, total(C), total(P)} end
    return {1, total(C)}
  end
  if hasPayment then unpend(packetId) end
  redis.call("SET", E, "c " .. a, "KEEPTTL")
  return commitAmount(a)
end

if op == "release" then
  local state, a = record()
  if not state then
    redis.call("SET", E, "r 0", "PX", graceMs)
    return {1}
  end
  if state == "c" then return {2} end
  if hasPayment then unpend(packetId) end
  redis.call("SET", E, "r " .. a, "KEEPTTL")
  return {1}
end

return redis.error_reply("unknown receipt totals operation")
`

const totals = RedisClient.script(totalsScript)

const isCorruption = (error: unknown): boolean =>
  error instanceof CorruptTotal ||
  (error instanceof Error && (error.message.includes(corruptMarker) || error.message.startsWith("WRONGTYPE")))

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

const malformed = (reply: unknown): never => {
  throw new Error(`ReceiptTotals: unexpected reply from the totals script (${typeof reply})`)
}

const busy = "too many packets pending for one payment"

/**
 * Turns an add or reserve reply into a result; a malformed reply or a packet id reserved twice is
 * a defect (thrown); `busy` is answered for "too many pending".
 */
export const parseAddReply = (reply: unknown, request: AddRequest): AddResult | typeof busy => {
  if (!Array.isArray(reply)) return malformed(reply)
  const [accepted, first, second] = reply as Array<unknown>
  if (accepted === 0) {
    const paymentTotal = parseTotal(first)
    return second === "released"
      ? releasedRefusal(paymentTotal)
      : { accepted: false, paymentTotal, remaining: remainingUnder(request.payment?.cap ?? 0n, paymentTotal) }
  }
  if (accepted === 3) return busy
  if (accepted === 4) throw new Error("ReceiptTotals: packet id reserved twice")
  if (accepted !== 1) return malformed(reply)
  const connectionTotal = parseTotal(first)
  return request.payment === undefined
    ? { accepted: true, connectionTotal }
    : { accepted: true, connectionTotal, paymentTotal: parseTotal(second) }
}

export const parseCommitReply = (reply: unknown): CommitResult => {
  if (!Array.isArray(reply)) return malformed(reply)
  const [code, first, second] = reply as Array<unknown>
  if (code === 2) return first === "released" ? { outcome: "released" } : { outcome: "unknown" }
  if (code !== 1) return malformed(reply)
  const connectionTotal = parseTotal(first)
  return second === undefined
    ? { outcome: "committed", connectionTotal }
    : { outcome: "committed", connectionTotal, paymentTotal: parseTotal(second) }
}

export const parseReleaseReply = (reply: unknown): ReleaseOutcome => {
  if (!Array.isArray(reply)) return malformed(reply)
  const [code] = reply as Array<unknown>
  return code === 1 ? "released" : code === 2 ? "committed" : malformed(reply)
}

const parseStored = (stored: string | null): bigint => stored === null ? 0n : parseTotal(stored)

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

const unavailable = (message: string, cause?: unknown) => new ReceiptStoreUnavailable({ message, cause })

const failures: RedisClient.Failures<ReceiptStoreUnavailable> = { unavailable, isCorruption }

/** One Redis call bounded by `timeoutMs`: outages fail with `ReceiptStoreUnavailable`, corruption dies. */
const call = <A>(timeoutMs: number, what: string, f: () => Promise<A>) =>
  RedisClient.call(failures, timeoutMs, what, f)

const makeService = (client: Redis, options: Resolved): ReceiptTotalsShape => {
  const connectionKey = (key: string) => `${options.keyPrefix}c:${key}`
  const paymentKey = (key: string) => `${options.keyPrefix}p:${key}`
  const pendingKey = (key: string) => `${options.keyPrefix}h:${key}`
  const pendingSumKey = (key: string) => `${options.keyPrefix}s:${key}`
  const lapseKey = (key: string) => `${options.keyPrefix}z:${key}`
  const packetKey = (key: string) => `${options.keyPrefix}e:${key}`
  const connectionTtl = String(ttlMs(options.connectionTtlSeconds))
  const grace = String(options.settleGraceMs)
  const pendingMax = String(totalsDefaults.pendingPerPaymentMax)
  const lapsedMax = String(lapsedPerCallMax)
  const bounded = <A>(what: string, f: () => Promise<A>) => call(options.commandTimeoutMs, what, f)
  const keysOf = (connection: string, packetId: string, payment: string | undefined) =>
    payment === undefined
      ? [connectionKey(connection), packetKey(packetId)]
      : [
        connectionKey(connection),
        packetKey(packetId),
        paymentKey(payment),
        pendingKey(payment),
        pendingSumKey(payment),
        lapseKey(payment)
      ]
  const run = (
    op: string,
    keys: ReadonlyArray<string>,
    args: { amount?: bigint; cap?: bigint | undefined; packetId?: string; pendingMs?: number }
  ) =>
    bounded(op, () =>
      RedisClient.evalScript(client, totals, keys, [
        op,
        (args.amount ?? 0n).toString(),
        connectionTtl,
        args.cap?.toString() ?? "",
        args.packetId ?? "",
        String(args.pendingMs ?? 1),
        grace,
        pendingMax,
        lapsedMax
      ]))
  const addResult = (reply: unknown, request: AddRequest) =>
    Effect.flatMap(
      Effect.try({ try: () => parseAddReply(reply, request), catch: (error) => error }).pipe(Effect.orDie),
      (result) => result === busy ? Effect.fail(unavailable(busy)) : Effect.succeed(result)
    )
  return {
    add: Effect.fn("ReceiptTotals.add")(function*(request) {
      yield* dieIf(addRequestProblem(request))
      // The packet key is never written by `add`: a fixed name keeps the key list uniform.
      const keys = keysOf(request.connectionKey, "-", request.payment?.key)
      const reply = yield* run("add", keys, { amount: request.amount, cap: request.payment?.cap })
      return yield* addResult(reply, request)
    }),
    reserve: Effect.fn("ReceiptTotals.reserve")(function*(request) {
      yield* dieIf(reserveRequestProblem(request))
      const keys = keysOf(request.connectionKey, request.packetId, request.payment?.key)
      const reply = yield* run("reserve", keys, {
        amount: request.amount,
        cap: request.payment?.cap,
        packetId: request.packetId,
        pendingMs: request.pendingMs
      })
      return yield* addResult(reply, request)
    }),
    commit: Effect.fn("ReceiptTotals.commit")(function*(packet) {
      yield* dieIf(packetRefProblem(packet))
      const reply = yield* run("commit", keysOf(packet.connectionKey, packet.packetId, packet.paymentKey), {
        packetId: packet.packetId
      })
      return parseCommitReply(reply)
    }),
    release: Effect.fn("ReceiptTotals.release")(function*(packet) {
      yield* dieIf(packetRefProblem(packet))
      const reply = yield* run("release", keysOf(packet.connectionKey, packet.packetId, packet.paymentKey), {
        packetId: packet.packetId
      })
      return parseReleaseReply(reply)
    }),
    get: Effect.fn("ReceiptTotals.get")(function*(key) {
      yield* checkKey("connection key", key)
      return parseStored(yield* bounded("get", () => client.get(connectionKey(key))))
    }),
    paymentTotal: Effect.fn("ReceiptTotals.paymentTotal")(function*(key) {
      yield* checkKey("payment key", key)
      return parseStored(yield* bounded("get", () => client.get(paymentKey(key))))
    }),
    deletePayment: Effect.fn("ReceiptTotals.deletePayment")(function*(key) {
      yield* checkKey("payment key", key)
      yield* bounded("del", () => client.del(paymentKey(key), pendingKey(key), pendingSumKey(key), lapseKey(key)))
    })
  }
}

// ---------------------------------------------------------------------------------------------
// The client's life
// ---------------------------------------------------------------------------------------------

const optionsProblem = (options: Resolved): string | undefined =>
  RedisClient.clientOptionsProblem(options) ?? ttlProblem(options.connectionTtlSeconds) ??
    graceProblem(options.settleGraceMs)

const acquireClient = (options: Resolved) => RedisClient.acquireClient(options, [totals], failures, "receipt totals")

/**
 * Receipt totals in Redis at `options.url`. Scoped: the client quits when the layer's scope closes.
 * Fails with `ReceiptStoreUnavailable` when Redis does not answer at start-up.
 */
export const layerRedis = (options: RedisOptions): Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable> =>
  Layer.effect(
    ReceiptTotals,
    Effect.gen(function*() {
      const resolved = resolve(options)
      yield* dieIf(optionsProblem(resolved))
      const client = yield* acquireClient(resolved)
      return makeService(client, resolved)
    })
  )
