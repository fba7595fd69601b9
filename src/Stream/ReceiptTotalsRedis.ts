/**
 * Receipt totals in Redis (production): shared by every connector instance, so the cap check and
 * the increments of an `add` are atomic across instances. See `ReceiptTotals.ts` for the contract.
 *
 * Keys (one Redis, not Cluster: the script touches two keys, which Cluster only allows in one slot):
 * - `<keyPrefix>c:<connectionKey>`: the connection's total, `PX` = TTL, refreshed by each accepted add.
 * - `<keyPrefix>p:<paymentKey>`: the payment's total, no expiry (removed by `deletePayment`).
 * Totals are canonical decimal strings. Keys are not logged (connection keys may be derived from
 * secrets); the Redis URL (it may carry a password) is never put in an error or a log.
 *
 * The atomic step is ONE Lua script (`addScript`), run with EVALSHA and, when Redis answers NOSCRIPT
 * (restart, SCRIPT FLUSH, failover), with EVAL, which caches it again. Lua numbers are doubles
 * (exact only to 2^53) and INCRBY is i64, so the script never converts a total to a number: it
 * compares decimal strings (longer is larger, equal lengths compare digit by digit) and adds them
 * digit by digit with a carry. Totals are therefore exact at any size (u128 and beyond).
 *
 * Client behaviour, chosen so that callers fail fast and an add is never applied twice:
 * - `enableOfflineQueue: false`: while disconnected, commands fail at once instead of queueing.
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: a command in flight when
 *   the connection drops fails (its outcome unknown) and is NOT resent on reconnect, which could
 *   add the same amount twice.
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
  CorruptTotal,
  defaults as totalsDefaults,
  dieIf,
  parseTotal,
  ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReceiptTotalsShape,
  remainingUnder,
  ttlMs,
  ttlProblem
} from "./ReceiptTotals.ts"

export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string
  readonly keyPrefix?: string
  readonly connectionTtlSeconds?: number
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
  commandTimeoutMs: options.commandTimeoutMs ?? redisDefaults.commandTimeoutMs,
  connectTimeoutMs: options.connectTimeoutMs ?? redisDefaults.connectTimeoutMs,
  reconnectDelayMsMax: options.reconnectDelayMsMax ?? redisDefaults.reconnectDelayMsMax
})

// ---------------------------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------------------------

/** Reply error of a stored value that is not a decimal total (a defect, not an outage). */
const corruptMarker = "RECEIPT_TOTALS_CORRUPT"

/**
 * KEYS[1] connection total, KEYS[2] payment total (optional).
 * ARGV[1] amount, ARGV[2] connection TTL in ms, ARGV[3] payment cap ("" when none).
 * Replies {1, connectionTotal[, paymentTotal]} when accepted, {0, paymentTotal} when refused.
 */
export const addScript = `
local function isDecimal(s)
  return s == "0" or string.find(s, "^[1-9][0-9]*$") ~= nil
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

local amount, ttlMs, cap = ARGV[1], ARGV[2], ARGV[3]
local hasPayment = #KEYS == 2
local connectionTotal = redis.call("GET", KEYS[1]) or "0"
local paymentTotal = "0"
if hasPayment then paymentTotal = redis.call("GET", KEYS[2]) or "0" end
if not (isDecimal(connectionTotal) and isDecimal(paymentTotal)) then
  return redis.error_reply("${corruptMarker} stored total is not a decimal number")
end
if not (isDecimal(amount) and (cap == "" or isDecimal(cap))) then
  return redis.error_reply("${corruptMarker} amount or cap is not a decimal number")
end

local newPaymentTotal = add(paymentTotal, amount)
if hasPayment and cap ~= "" and greater(newPaymentTotal, cap) then
  return {0, paymentTotal}
end
local newConnectionTotal = add(connectionTotal, amount)
redis.call("SET", KEYS[1], newConnectionTotal, "PX", ttlMs)
if hasPayment then
  redis.call("SET", KEYS[2], newPaymentTotal)
  return {1, newConnectionTotal, newPaymentTotal}
end
return {1, newConnectionTotal}
`

const add = RedisClient.script(addScript)

const isCorruption = (error: unknown): boolean =>
  error instanceof CorruptTotal ||
  (error instanceof Error && (error.message.includes(corruptMarker) || error.message.startsWith("WRONGTYPE")))

const evalAdd = (client: Redis, keys: ReadonlyArray<string>, args: ReadonlyArray<string>): Promise<unknown> =>
  RedisClient.evalScript(client, add, keys, args)

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

const malformed = (reply: unknown): never => {
  throw new Error(`ReceiptTotals: unexpected reply from the add script (${typeof reply})`)
}

/** Turns the script's reply into a result; a malformed reply is a defect (thrown). */
export const parseAddReply = (reply: unknown, request: AddRequest): AddResult => {
  if (!Array.isArray(reply)) return malformed(reply)
  const [accepted, first, second] = reply as Array<unknown>
  if (accepted === 0) {
    const paymentTotal = parseTotal(first)
    return { accepted: false, paymentTotal, remaining: remainingUnder(request.payment?.cap ?? 0n, paymentTotal) }
  }
  if (accepted !== 1) return malformed(reply)
  const connectionTotal = parseTotal(first)
  return request.payment === undefined
    ? { accepted: true, connectionTotal }
    : { accepted: true, connectionTotal, paymentTotal: parseTotal(second) }
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
  const connectionTtl = String(ttlMs(options.connectionTtlSeconds))
  const bounded = <A>(what: string, f: () => Promise<A>) => call(options.commandTimeoutMs, what, f)
  return {
    add: Effect.fn("ReceiptTotals.add")(function*(request) {
      yield* dieIf(addRequestProblem(request))
      const keys = request.payment === undefined
        ? [connectionKey(request.connectionKey)]
        : [connectionKey(request.connectionKey), paymentKey(request.payment.key)]
      const args = [request.amount.toString(), connectionTtl, request.payment?.cap?.toString() ?? ""]
      const reply = yield* bounded("add", () => evalAdd(client, keys, args))
      return parseAddReply(reply, request)
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
      yield* bounded("del", () => client.del(paymentKey(key)))
    })
  }
}

// ---------------------------------------------------------------------------------------------
// The client's life
// ---------------------------------------------------------------------------------------------

const optionsProblem = (options: Resolved): string | undefined =>
  RedisClient.clientOptionsProblem(options) ?? ttlProblem(options.connectionTtlSeconds)

const acquireClient = (options: Resolved) => RedisClient.acquireClient(options, [add], failures, "receipt totals")

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
