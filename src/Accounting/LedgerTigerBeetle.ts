/**
 * The production ledger: a TigerBeetle cluster through `tigerbeetle-node`.
 *
 * - `create_transfers` calls (reserve, post, void, transfer) of concurrent packets share requests:
 *   `TigerBeetleBatcher.ts` queues them while requests are in flight and sends them together, over
 *   `transferSessions` client sessions (each runs one request at a time; opened on demand,
 *   evicted ones replaced: `TigerBeetleSessions.ts`).
 *   Lookups and account calls go one call per request (the client batches those itself).
 * - The client has no timeout and waits forever while the cluster is unreachable: every request is
 *   bounded by `requestTimeoutMs` and then fails with `LedgerUnavailable`. The request may still
 *   reach the cluster later; retrying with the same ids is safe (`exists` is success), and a
 *   reservation that lands late simply expires.
 * - At most `requestsInFlightMax` requests may be outstanding in the client (timed-out ones count
 *   until the client gives up on them); beyond that calls fail fast with `LedgerUnavailable`, so a
 *   dead cluster cannot grow memory without bound.
 * - Result codes map onto the typed errors of `Ledger.ts`: `exceeds_credits` / `exceeds_debits`
 *   -> `InsufficientBalance`, `pending_transfer_expired` -> `PendingExpired`, ... Anything that can
 *   only come from a bug (bad ids, unknown accounts, ledger mismatch, id reuse) is a defect.
 * - A chain that failed only because of events that are harmless for this call (`exists`, a post
 *   of an already posted transfer, a void of an expired one) failed as a whole
 *   (`linked_event_failed`) in TigerBeetle: it is re-submitted without those events, which is what
 *   the embedded ledger does in one step. Post and void transfers get fresh ids each round.
 *
 * Just over 400 lines with this comment: the contract's methods side by side. Encoding is in
 * `LedgerTigerBeetleEncoding.ts`, result codes in `LedgerTigerBeetleResults.ts`, request batching in
 * `TigerBeetleBatcher.ts`, client sessions in `TigerBeetleSessions.ts`.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import {
  type Client,
  CreateAccountStatus,
  CreateTransferStatus,
  RequestError,
  type Transfer as TbTransfer,
  TransferFlags
} from "tigerbeetle-node"
import {
  accountQueryProblem,
  type AccountQuery,
  type AccountSpec,
  accountsProblem,
  dieIf,
  Ledger,
  LedgerDefect,
  type LedgerShape,
  LedgerUnavailable,
  lookupProblem,
  mixedChainProblem,
  pendingChainProblem,
  timeoutProblem,
  transferChainProblem,
  type TransferSpec
} from "./Ledger.ts"
import { makeSessions, newClient, type SessionStats, type Sessions } from "./TigerBeetleSessions.ts"
import { type BatchFailure, batchEventsMax, makeTransferBatcher, statusesOf, type Totals, type TransferBatcher } from "./TigerBeetleBatcher.ts"
import {
  encodeAccount,
  encodeSpec,
  encodeChainTransfer,
  encodePost,
  encodeVoid,
  decodeBalance,
  decodeAccount,
  pendingState,
  decodeTransfer
} from "./LedgerTigerBeetleEncoding.ts"
import {
  type Outcome,
  classifyCreate,
  classifyPost,
  classifyVoid,
  verdict
} from "./LedgerTigerBeetleResults.ts"

export interface Options {
  readonly clusterId: bigint
  /** Replica addresses, e.g. `["3000"]` or `["10.0.0.1:3000", "10.0.0.2:3000", "10.0.0.3:3000"]`. */
  readonly replicaAddresses: ReadonlyArray<string>
  /** Bound of every request to the cluster. */
  readonly requestTimeoutMs: number
  readonly requestsInFlightMax?: number
  /** Most transfer events waiting for the next request (beyond: `LedgerUnavailable` at once). */
  readonly eventsQueuedMax?: number
  /** Client sessions sending transfer requests, each with one request in flight (1..16). */
  readonly transferSessions?: number
}

export const defaults = {
  requestsInFlightMax: 4096,
  /** Eight full requests: ~2 700 packets of three events each waiting behind a slow request. */
  eventsQueuedMax: 8 * batchEventsMax,
  /**
   * The most sessions a node opens (on demand, `TigerBeetleSessions.ts`). One by default: on the bench machine
   * 4 halved the calls per request and doubled the cluster's round trip for no measurable gain, and
   * every session takes one of a replica's connected-client slots (32; 8 with `--development`),
   * shared by all instances and tools (docs/performance/tigerbeetle.md, "TigerBeetle sessions").
   */
  transferSessions: 1
} as const

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

type Request = <A>(operation: string, call: (client: Client) => Promise<A>) => Effect.Effect<A, LedgerUnavailable>

const rejected = (operation: string, cause: unknown): Effect.Effect<never, LedgerUnavailable> =>
  cause instanceof RequestError && cause.code === "ERR_TOO_MUCH_DATA"
    ? Effect.die(new LedgerDefect(`TigerBeetle ${operation}: batch too large`))
    : Effect.fail(new LedgerUnavailable({ message: `TigerBeetle ${operation} failed`, cause }))

const makeRequest = (sessions: Pick<Sessions, "primary" | "evicted">, requestTimeoutMs: number, requestsInFlightMax: number): Request => {
  let inFlight = 0
  const settle = () => {
    inFlight--
  }
  return <A>(operation: string, call: (client: Client) => Promise<A>) =>
    Effect.callback<A, LedgerUnavailable>((resume) => {
      if (inFlight >= requestsInFlightMax) {
        resume(Effect.fail(new LedgerUnavailable({ message: `${inFlight} TigerBeetle requests in flight` })))
        return
      }
      inFlight++
      const client = sessions.primary()
      try {
        call(client).then(
          (value) => {
            settle()
            resume(Effect.succeed(value))
          },
          (cause: unknown) => {
            settle()
            sessions.evicted(client, cause)
            resume(rejected(operation, cause))
          }
        )
      } catch (cause) {
        settle()
        resume(rejected(operation, cause))
      }
    }).pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(requestTimeoutMs),
        orElse: () =>
          Effect.fail(
            new LedgerUnavailable({ message: `TigerBeetle ${operation} timed out after ${requestTimeoutMs} ms` })
          )
      })
    )
}

/** What a batcher's failure is for the ledger's caller: `LedgerUnavailable`, or a defect. */
const batchFailure = (failure: BatchFailure): Effect.Effect<never, LedgerUnavailable> =>
  failure.kind === "defect" ?
    Effect.die(new LedgerDefect(failure.message)) :
    failure.kind === "rejected" ?
    rejected("create_transfers", failure.cause) :
    Effect.fail(new LedgerUnavailable({ message: failure.message, cause: failure }))

/**
 * Submits `items` as one linked chain through the batcher, re-submitting what failed only for
 * harmless neighbours. Every round encodes the events anew (post and void transfers get fresh ids
 * each round). The round where nearly every call ends (every event done) is one callback: no
 * generator, no arrays of outcomes, nothing kept but the events and the callbacks (two calls per
 * packet; docs/performance/tigerbeetle.md).
 */
const submitChain = <I, E>(
  batcher: TransferBatcher,
  items: ReadonlyArray<I>,
  encode: (item: I, linked: boolean) => TbTransfer,
  classify: (item: I, status: CreateTransferStatus) => Outcome<E>
): Effect.Effect<void, E | LedgerUnavailable> =>
  Effect.callback<void, E | LedgerUnavailable>((resume) => submitChainWith(batcher, items, encode, classify, () => resume(Effect.void), resume))

/**
 * `submitChain`'s first round without an Effect: `done` when every event is done; otherwise `rest`
 * gets what `submitChain` would go on with (the next round, or the call's failure).
 */
const submitChainWith = <I, E>(
  batcher: TransferBatcher,
  items: ReadonlyArray<I>,
  encode: (item: I, linked: boolean) => TbTransfer,
  classify: (item: I, status: CreateTransferStatus) => Outcome<E>,
  done: () => void,
  rest: (rest: Effect.Effect<void, E | LedgerUnavailable>) => void
): void => {
  const events = new Array<TbTransfer>(items.length)
  for (let i = 0; i < items.length; i++) events[i] = encode(items[i]!, i < items.length - 1)
  batcher.submitWith(
    events,
    (results, offset) => {
      for (let i = 0; i < items.length; i++) {
        if (classify(items[i]!, results[offset + i]!.status)._tag !== "Done") {
          return rest(settleChain(batcher, items, statusesOf(results, offset, items.length), encode, classify))
        }
      }
      done()
    },
    (failure) => rest(batchFailure(failure))
  )
}

/** A round where some event was not done: the chain's verdict, and the next round if it is to be re-submitted. */
const settleChain = <I, E>(
  batcher: TransferBatcher,
  items: ReadonlyArray<I>,
  statuses: ReadonlyArray<CreateTransferStatus>,
  encode: (item: I, linked: boolean) => TbTransfer,
  classify: (item: I, status: CreateTransferStatus) => Outcome<E>
): Effect.Effect<void, E | LedgerUnavailable> => {
  const next = verdict(items, items.map((item, i) => classify(item, statuses[i]!)))
  if (next._tag === "Die") return Effect.die(new LedgerDefect(next.message))
  if (next._tag === "Fail") return Effect.fail(next.error)
  return next._tag === "Resubmit" ? submitChain(batcher, next.items, encode, classify) : Effect.void
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

const accountStatusName = (status: CreateAccountStatus): string => CreateAccountStatus[status] ?? String(status)

const createAccounts = (request: Request, accounts: ReadonlyArray<AccountSpec>) =>
  Effect.gen(function*() {
    const results = yield* request("create_accounts", (client) => client.createAccounts(accounts.map(encodeAccount)))
    const refused = results.findIndex((result) =>
      result.status !== CreateAccountStatus.created && result.status !== CreateAccountStatus.exists
    )
    if (refused === -1) return
    const status = accountStatusName(results[refused]!.status)
    return yield* Effect.die(new LedgerDefect(`TigerBeetle refused account ${accounts[refused]?.id}: ${status}`))
  })

const lookupBalances = (request: Request, ids: ReadonlyArray<bigint>) =>
  Effect.gen(function*() {
    if (ids.length === 0) return []
    const found = yield* request("lookup_accounts", (client) => client.lookupAccounts([...ids]))
    const byId = new Map(found.map((account) => [account.id, decodeBalance(account)]))
    return ids.flatMap((id) => {
      const balance = byId.get(id)
      return balance === undefined ? [] : [balance]
    })
  })

const queryAccounts = (request: Request, query: AccountQuery) =>
  Effect.map(
    request("query_accounts", (client) =>
      client.queryAccounts({
        user_data_128: 0n,
        user_data_64: 0n,
        user_data_32: 0,
        ledger: query.ledger ?? 0,
        code: 0,
        timestamp_min: query.timestampMin ?? 0n,
        timestamp_max: 0n,
        limit: query.limit,
        flags: 0
      })),
    (accounts) => accounts.map(decodeAccount)
  )

/** Resolutions read per pending transfer: one post or void, plus room for an (impossible) extra. */
const resolutionsPerPendingMax = 4

const lookupTransfers = (request: Request, ids: ReadonlyArray<bigint>) =>
  Effect.gen(function*() {
    if (ids.length === 0) return []
    const found = yield* request("lookup_transfers", (client) => client.lookupTransfers([...ids]))
    const byId = new Map(
      found
        .filter((t) => (t.flags & (TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer)) === 0)
        .map((t) => [t.id, t])
    )
    const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
    return yield* Effect.forEach(ids.filter((id) => byId.has(id)), (id) => {
      const transfer = byId.get(id)!
      if ((transfer.flags & TransferFlags.pending) === 0) return Effect.succeed(decodeTransfer(transfer, "posted"))
      return Effect.map(
        request("query_transfers", (client) =>
          client.queryTransfers({
            user_data_128: id,
            user_data_64: 0n,
            user_data_32: 0,
            ledger: 0,
            code: 0,
            timestamp_min: 0n,
            timestamp_max: 0n,
            limit: resolutionsPerPendingMax,
            flags: 0
          })),
        (resolutions) => decodeTransfer(transfer, pendingState(transfer, resolutions, nowNs))
      )
    }, { concurrency: 16 })
  })

/** Most ids per lookup (TigerBeetle's batch limit). */
const lookupIdsMax = 8189

const chunks = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

const encodePending = (timeoutSeconds: number) => (spec: TransferSpec, linked: boolean) => encodeSpec(spec, timeoutSeconds, linked)
const encodePosted = (spec: TransferSpec, linked: boolean) => encodeSpec(spec, undefined, linked)

const makeService = (request: Request, batcher: TransferBatcher): LedgerShape => ({
  createAccounts: Effect.fn("Ledger.createAccounts")(function*(accounts) {
    yield* dieIf(accountsProblem(accounts))
    if (accounts.length > 0) yield* createAccounts(request, accounts)
  }),
  // The per-packet calls carry no span (~6 µs each, as in LedgerSqlite) and no generator: checked,
  // then one callback (`submitChain`; docs/performance/tigerbeetle.md).
  reserve: (transfers, timeoutSeconds) => {
    const problem = transferChainProblem(transfers) ?? timeoutProblem(timeoutSeconds)
    return problem !== undefined ?
      Effect.die(new LedgerDefect(problem)) :
      submitChain(batcher, transfers, encodePending(timeoutSeconds), classifyCreate)
  },
  post: (ids) => {
    const problem = pendingChainProblem(ids)
    return problem !== undefined ? Effect.die(new LedgerDefect(problem)) : submitChain(batcher, ids, encodePost, classifyPost)
  },
  // The post after the reply (LedgerReservation.ts) without a fiber: `post`'s first round as a callback.
  postWith: (ids, done, rest) => {
    const problem = pendingChainProblem(ids)
    if (problem !== undefined) return rest(Effect.die(new LedgerDefect(problem)))
    submitChainWith(batcher, ids, encodePost, classifyPost, done, rest)
  },
  voidPending: (ids) => {
    const problem = pendingChainProblem(ids)
    return problem !== undefined ? Effect.die(new LedgerDefect(problem)) : submitChain(batcher, ids, encodeVoid, classifyVoid)
  },
  transfer: Effect.fn("Ledger.transfer")(function*(transfers) {
    yield* dieIf(transferChainProblem(transfers))
    yield* submitChain(batcher, transfers, encodePosted, classifyCreate)
  }),
  createChain: Effect.fn("Ledger.createChain")(function*(transfers) {
    yield* dieIf(mixedChainProblem(transfers))
    yield* submitChain(batcher, transfers, encodeChainTransfer, classifyCreate)
  }),
  lookupTransfers: Effect.fn("Ledger.lookupTransfers")(function*(ids) {
    yield* dieIf(lookupProblem(ids))
    return yield* lookupTransfers(request, ids)
  }),
  balances: Effect.fn("Ledger.balances")(function*(ids) {
    const pages = yield* Effect.forEach(chunks(ids, lookupIdsMax), (page) => lookupBalances(request, page))
    return pages.flat()
  }),
  listAccounts: Effect.fn("Ledger.listAccounts")(function*(query) {
    yield* dieIf(accountQueryProblem(query))
    return yield* queryAccounts(request, query)
  }),
  // TigerBeetle has no index on transfer state: pending amounts come from the account balances.
  countPending: Effect.succeed(Option.none())
})

const connect = (options: Options, max: number, ready: () => void) =>
  Effect.gen(function*() {
    // Warnings from the client's callbacks go to the layer's logger.
    const run = Effect.runForkWith(yield* Effect.context<never>())
    const warn = (message: string) => void run(Effect.logWarning(message))
    return yield* Effect.acquireRelease(
      Effect.try({
        try: () => makeSessions(options, max, newClient(options), warn, ready),
        catch: (cause) => new LedgerUnavailable({ message: "cannot create TigerBeetle client", cause })
      }),
      (sessions) => Effect.sync(() => sessions.closeAll())
    )
  })

/** One line on the transfer requests a batcher sent. Pure. */
export const describeTotals = (totals: Totals, sessions?: SessionStats): string => {
  const per = (sum: number, n: number) => (n === 0 ? "0" : (sum / n).toFixed(2))
  return `TigerBeetle transfer requests: ${totals.requests} requests, ${totals.calls} calls, ${totals.events} events; ` +
    `${per(totals.calls, totals.requests)} calls per request; ` +
    `mean round trip ${per(totals.roundTripMs, totals.requests)} ms; mean queue wait ${per(totals.queuedMs, totals.calls)} ms ` +
    `(${totals.behindCalls} calls behind a request in flight, mean ${per(totals.behindMs, totals.behindCalls)} ms; ` +
    `the others ${per(totals.queuedMs - totals.behindMs, totals.calls - totals.behindCalls)} ms); ` +
    `largest request ${totals.eventsMaxPerRequest} events` +
    (sessions === undefined ?
      "" :
      `; sessions ${sessions.open} open, ${sessions.opened} opened, ${sessions.refused} not answered, ` +
        `${sessions.evictions} evicted`)
}

/** Why options are unusable, or `undefined`. Pure. */
export const optionsProblem = (options: Options): string | undefined => {
  if (!Number.isInteger(options.requestTimeoutMs) || options.requestTimeoutMs < 1) {
    return `TigerBeetle requestTimeoutMs must be a positive integer: ${options.requestTimeoutMs}`
  }
  const sessions = options.transferSessions ?? defaults.transferSessions
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > 16) {
    return `TigerBeetle transferSessions must be an integer in 1..16: ${sessions}`
  }
  const inFlightMax = options.requestsInFlightMax ?? defaults.requestsInFlightMax
  if (!Number.isInteger(inFlightMax) || inFlightMax < 1) {
    return `TigerBeetle requestsInFlightMax must be a positive integer: ${inFlightMax}`
  }
  return options.replicaAddresses.length === 0 ? "TigerBeetle needs at least one replica address" : undefined
}

/**
 * The TigerBeetle ledger. Scoped: the client is destroyed when the layer's scope closes (its
 * outstanding requests then fail with `LedgerUnavailable`).
 */
export const layer = (options: Options): Layer.Layer<Ledger, LedgerUnavailable> =>
  Layer.effect(
    Ledger,
    Effect.gen(function*() {
      yield* dieIf(optionsProblem(options))
      // A client session has one request in flight at a time: more sessions let transfer requests
      // overlap, so a call waits for a free session rather than for the request before it.
      const sessionsMax = options.transferSessions ?? defaults.transferSessions
      let batcher: TransferBatcher | undefined
      const sessions = yield* connect(options, sessionsMax, () => batcher?.pump())
      const inFlightMax = options.requestsInFlightMax ?? defaults.requestsInFlightMax
      batcher = makeTransferBatcher(sessions.createTransfers, {
        requestTimeoutMs: options.requestTimeoutMs,
        requestsInFlightMax: inFlightMax,
        eventsQueuedMax: options.eventsQueuedMax ?? defaults.eventsQueuedMax,
        inFlightRequestsSent: sessions.count,
        saturated: sessions.wanted
      })
      // Where transfer calls waited over the client's life, for operators and the bench (docs/performance/tigerbeetle.md).
      yield* Effect.addFinalizer(() => Effect.logInfo(describeTotals(batcher.stats().totals, sessions.stats())))
      return makeService(makeRequest(sessions, options.requestTimeoutMs, inFlightMax), batcher)
    })
  )
