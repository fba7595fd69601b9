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
 * Every step (add, reserve, commit, release) is ONE Lua script call (`totalsScript`, in
 * `ReceiptTotalsRedisScript.ts`), atomic across instances, run with EVALSHA and, when Redis answers
 * NOSCRIPT (restart, SCRIPT FLUSH, failover), with EVAL, which caches it again. Lua numbers are doubles (exact only to 2^53) and INCRBY is i64,
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
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Redis } from "ioredis"
import * as RedisClient from "../Redis.ts"
import { corruptMarker, lapsedPerCallMax, totalsScript } from "./ReceiptTotalsRedisScript.ts"
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
