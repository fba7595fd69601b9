/**
 * The embedded ledger: TigerBeetle's semantics on one SQLite file (`node:sqlite`), for the
 * zero-setup profile. This process must be the only writer of the file.
 *
 * Batching. Callers never open a transaction. Each write becomes a request in a bounded queue; one
 * writer fiber takes every request that is waiting (at most `batchSizeMax`), runs them in ONE
 * SQLite transaction (see `LedgerSqliteStore.ts`: each request is decided in memory and written
 * inside its own SAVEPOINT, so one failing chain never fails another) and completes each caller
 * with its own result. Under load, requests arriving while a batch runs form the next batch, so
 * the cost of a commit is shared by everything that arrived meanwhile.
 *
 * Durability. WAL journal with `synchronous = NORMAL` by default: a commit does not wait for
 * fsync, which matters because `node:sqlite` is synchronous and an fsync would stall the whole
 * event loop. Every batch is atomic and the file is never corrupted; committed batches survive a
 * crash of this process; an OS crash or power loss may lose the batches committed since the last
 * WAL checkpoint (the ledger stays balanced, it just goes back in time). Checkpoints run every
 * `checkpointFrames` WAL frames, by the writer between batches rather than inside a COMMIT
 * (`LedgerSqliteCheckpoints.ts`: the fsync then delays no caller of the batch). Set
 * `synchronous: "full"` to fsync the WAL on every batch commit (one fsync per batch, not per call)
 * when that loss is unacceptable.
 *
 * Expiry. Pending transfers expire after their timeout: every batch first expires what is due, and
 * a sweeper fiber triggers a batch every `sweepIntervalMs` when something is due and nothing else
 * is happening. Posting an expired transfer fails with `PendingExpired`, as in TigerBeetle.
 *
 * Restart. On open, every transfer still pending was left by a previous process, which nothing can
 * complete any more: they are all voided (and the number is logged) — except pending withdrawals
 * (`TransferCode.withdrawal`), which the operator posts or voids and which expire at their own
 * timeout, as in TigerBeetle.
 *
 * Bounds (all in `defaults`, overridable per layer):
 * - `requestQueueSizeMax` requests may wait. When it is full, new reservations, transfers and
 *   account creations fail fast with `LedgerUnavailable` (overload must not grow memory), while
 *   post and void wait for room: each settles an existing reservation, so their number is bounded
 *   by the pending reservations, and dropping one would lose money.
 * - `batchSizeMax` requests per transaction; `expiredPerBatchMax` expiries per transaction.
 * - `accountCacheSizeMax` account rows kept in memory (10 000: the hot accounts, i.e. the peers and
 *   the wallet addresses being paid; a node with 100 000 accounts kept them all at 100 000, ~25–30 MiB
 *   of old-generation heap that every major GC marks; an account beyond it is one indexed SELECT).
 * - `busyTimeoutMs` wait for a lock held by another connection (e.g. a long audit read).
 * - `checkpointFrames` WAL frames between checkpoints (SQLite's own automatic checkpoint stays as
 *   a backstop at 10× that, so the WAL file stays bounded).
 *
 * Over 400 lines with this comment on purpose: the writer fiber, its queue, expiry and restart are
 * one lifecycle around one connection. Deciding each request is in `LedgerSqliteStore.ts`, the
 * queued jobs in `LedgerSqliteJobs.ts`, the rules shared with TigerBeetle in `LedgerRules.ts`.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import { DatabaseSync } from "node:sqlite"
import {
  accountQueryProblem,
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
  transferChainProblem
} from "./Ledger.ts"
import { type JournalMismatch, replayJournal } from "./LedgerSqliteJournal.ts"
import { type Checkpoints, makeCheckpoints } from "./LedgerSqliteCheckpoints.ts"
import type { Job } from "./LedgerSqliteJobs.ts"
import { openDatabase, schemaVersion, type StoreOptions } from "./LedgerSqliteSchema.ts"
import { BatchAbort, type BatchParticipant, exitOfThrown, makeStore, type Store } from "./LedgerSqliteStore.ts"

export interface Options {
  /** Database file; `:memory:` for tests (not durable). */
  readonly filename: string
  readonly synchronous?: "normal" | "full"
  readonly batchSizeMax?: number
  readonly requestQueueSizeMax?: number
  readonly sweepIntervalMs?: number
  readonly accountCacheSizeMax?: number
  readonly expiredPerBatchMax?: number
  readonly busyTimeoutMs?: number
  readonly checkpointFrames?: number
}

export const defaults = {
  synchronous: "normal",
  /** Requests per transaction (TigerBeetle's batch is 8190 events). */
  batchSizeMax: 8190,
  /** Requests waiting for the writer. */
  requestQueueSizeMax: 65_536,
  /** How often the sweeper looks for timed-out reservations. */
  sweepIntervalMs: 100,
  accountCacheSizeMax: 10_000,
  expiredPerBatchMax: 8190,
  busyTimeoutMs: 5_000,
  /** WAL frames between checkpoints (SQLite's own default); see `LedgerSqliteCheckpoints.ts`. */
  checkpointFrames: 1000
} as const satisfies Omit<Required<Options>, "filename">

type Resolved = Required<Options>

// ---------------------------------------------------------------------------------------------
// Requests and the writer fiber
// ---------------------------------------------------------------------------------------------

interface Request {
  readonly job: Job<unknown>
  /** Answered before the batch's other requests (a reservation: its packet goes on to the next hop). */
  readonly first: boolean
  readonly complete: (exit: Exit.Exit<void, unknown>) => void
}

const completeAll = (requests: ReadonlyArray<Request>, exit: Exit.Exit<void, unknown>) => {
  for (const request of requests) request.complete(exit)
}

/** Runs one batch and completes every request in it; never throws. */
const runRequests = (store: Store, requests: ReadonlyArray<Request>, nowMs: number): Effect.Effect<void> => {
  let result: ReturnType<Store["runBatch"]>
  try {
    result = store.runBatch(requests.map((request) => request.job), nowMs)
  } catch (error) {
    completeAll(requests, Exit.die(error))
    return Effect.logError("ledger batch failed unexpectedly", error)
  }
  if (result._tag === "Aborted") {
    completeAll(requests, result.exit)
    return Effect.logError("ledger batch aborted", result.cause)
  }
  // Reservations first: each resumes its packet up to its write to the next hop, whose answer then
  // comes back while the rest of the batch (posts: Fulfills going back) is answered.
  const exits = result.exits
  for (let i = 0; i < requests.length; i++) if (requests[i]!.first) requests[i]!.complete(exits[i]!)
  for (let i = 0; i < requests.length; i++) if (!requests[i]!.first) requests[i]!.complete(exits[i]!)
  return Effect.void
}

/**
 * Takes whatever is waiting, runs it as one batch, repeats; ends when the queue has ended. The
 * batch's callers are resumed synchronously as it completes them (their packets reach their
 * sockets), so the WAL checkpoint after it (when one is due) delays no caller of that batch.
 */
const writer = (
  queue: Queue.Queue<Request, Cause.Done>,
  store: Store,
  clock: Clock.Clock,
  batchSizeMax: number,
  checkpoints: Checkpoints
): Effect.Effect<void> =>
  Effect.gen(function*() {
    while (true) {
      const requests = yield* Queue.takeBetween(queue, 1, batchSizeMax)
      yield* runRequests(store, requests, clock.currentTimeMillisUnsafe())
      const failed = checkpoints.afterBatch()
      if (failed !== undefined) {
        yield* Effect.logWarning("ledger WAL checkpoint failed; the WAL keeps the frames until the next one", failed)
      }
    }
  }).pipe(Effect.catch(() => Effect.void))

type Admission = "failFast" | "wait"

const unavailable = (message: string) => new LedgerUnavailable({ message })

/** One caller waiting for its job's batch (see `makeSubmit`). */
class Waiter implements Request {
  readonly job: Job<unknown>
  readonly first: boolean
  answer: Exit.Exit<void, unknown> | undefined = undefined
  resume: ((exit: Exit.Exit<void, unknown>) => void) | undefined = undefined
  constructor(job: Job<unknown>, first: boolean) {
    this.job = job
    this.first = first
  }
  complete(exit: Exit.Exit<void, unknown>): void {
    if (this.answer !== undefined) return
    this.answer = exit
    this.resume?.(exit)
  }
}

/**
 * One request: its job is queued, and the caller's fiber waits for the batch's answer. The answer
 * resumes the fiber directly (or is kept until the fiber waits), rather than through a `Deferred`:
 * two ledger calls per packet, and a Deferred with its waiter list and canceller per call was a
 * measurable share of the packet's allocations (docs/performance/hot-path.md). An interrupted
 * waiter just stops waiting, as with a Deferred: the job, already queued, still runs.
 *
 * `submit(job, admission)` is the request as an Effect (queued when it runs); `submit.enqueue`
 * queues at once and answers the waiting Effect, for callers already inside a running Effect
 * (`Effect.suspend`): the per-packet calls, which then allocate one suspension less each.
 */
const makeSubmit = (queue: Queue.Queue<Request, Cause.Done>, queueSizeMax: number) => {
  const enqueue = <E>(job: Job<E>, admission: Admission): Effect.Effect<void, E | LedgerUnavailable> => {
    // New work (a reservation, fail-fast) is answered before what settles earlier work (post, void).
    const waiter = new Waiter(job as Job<unknown>, admission === "failFast")
    const answered = Effect.callback<void, E | LedgerUnavailable>((resumeFiber) => {
      if (waiter.answer !== undefined) resumeFiber(waiter.answer as Exit.Exit<void, E | LedgerUnavailable>)
      else waiter.resume = resumeFiber as (exit: Exit.Exit<void, unknown>) => void
    })
    if (admission === "failFast") {
      return Queue.offerUnsafe(queue, waiter)
        ? answered
        : Effect.fail(unavailable(`ledger overloaded (${queueSizeMax} requests waiting) or shut down`))
    }
    return Effect.flatMap(
      Queue.offer(queue, waiter),
      (offered) => offered ? answered : Effect.fail(unavailable("ledger shut down"))
    )
  }
  const submit = <E>(job: Job<E>, admission: Admission): Effect.Effect<void, E | LedgerUnavailable> =>
    Effect.suspend(() => enqueue(job, admission))
  return Object.assign(submit, { enqueue })
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/**
 * Reads run directly on the connection, between batches (everything here is synchronous), and see
 * every batch committed so far. A storage error is `LedgerUnavailable`; anything else a defect.
 */
const read = <A>(f: () => A): Effect.Effect<A, LedgerUnavailable> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (error) {
      return exitOfThrown(error)
    }
  })

const makeService = (store: Store, submit: ReturnType<typeof makeSubmit>): LedgerShape => ({
  createAccounts: Effect.fn("Ledger.createAccounts")(function*(accounts) {
    yield* dieIf(accountsProblem(accounts))
    if (accounts.length > 0) yield* submit((tx) => tx.createAccounts(accounts), "failFast")
  }),
  // The three calls every packet makes are plain functions, without an `Effect.fn` span: a span
  // (and the call-site stack trace it captures) costs ~6 µs per call, and these run twice per
  // packet (docs/performance/hot-path.md). Their latency is observed per operation by the ledger stage's
  // metrics instead.
  reserve: (transfers, timeoutSeconds) =>
    Effect.suspend(() => {
      const problem = transferChainProblem(transfers) ?? timeoutProblem(timeoutSeconds)
      if (problem !== undefined) return dieIf(problem)
      return transfers.length > 0 ? submit.enqueue((tx) => tx.createTransfers(transfers, timeoutSeconds), "failFast") : Effect.void
    }),
  post: (ids, alongside) =>
    Effect.suspend(() => {
      const problem = pendingChainProblem(ids)
      if (problem !== undefined) return dieIf(problem)
      return ids.length > 0 ? submit.enqueue((tx) => tx.post(ids, alongside), "wait") : Effect.void
    }),
  voidPending: (ids) =>
    Effect.suspend(() => {
      const problem = pendingChainProblem(ids)
      if (problem !== undefined) return dieIf(problem)
      return ids.length > 0 ? submit.enqueue((tx) => tx.voidPending(ids), "wait") : Effect.void
    }),
  transfer: Effect.fn("Ledger.transfer")(function*(transfers) {
    yield* dieIf(transferChainProblem(transfers))
    if (transfers.length > 0) yield* submit((tx) => tx.createTransfers(transfers, undefined), "failFast")
  }),
  createChain: Effect.fn("Ledger.createChain")(function*(transfers) {
    yield* dieIf(mixedChainProblem(transfers))
    if (transfers.length > 0) yield* submit((tx) => tx.createChain(transfers), "failFast")
  }),
  lookupTransfers: Effect.fn("Ledger.lookupTransfers")(function*(ids) {
    yield* dieIf(lookupProblem(ids))
    const nowMs = yield* Clock.currentTimeMillis
    return yield* read(() => store.lookupTransfers(ids, nowMs))
  }),
  balances: Effect.fn("Ledger.balances")(function*(ids) {
    return yield* read(() => store.balances(ids))
  }),
  listAccounts: Effect.fn("Ledger.listAccounts")(function*(query) {
    yield* dieIf(accountQueryProblem(query))
    return yield* read(() => store.listAccounts(query))
  }),
  countPending: Effect.map(read(() => store.countPending()), Option.some).pipe(
    Effect.withSpan("Ledger.countPending")
  )
})

// ---------------------------------------------------------------------------------------------
// Opening and closing
// ---------------------------------------------------------------------------------------------

const openFailed = (filename: string) => (cause: unknown) =>
  new LedgerUnavailable({ message: `cannot open ledger database ${filename}`, cause })

const acquireDatabase = (options: StoreOptions, open: (options: StoreOptions) => DatabaseSync) =>
  Effect.acquireRelease(
    Effect.try({ try: () => open(options), catch: openFailed(options.filename) }),
    (db) => Effect.sync(() => db.close())
  )

/** Voids every pending transfer left by a previous process, in bounded batches; answers how many. */
const voidLeftovers = (store: Store, nowMs: number, limit: number): Effect.Effect<number, LedgerUnavailable> =>
  Effect.gen(function*() {
    let total = 0
    while (true) {
      let voided = 0
      const result = store.runBatch<never>([(tx) => {
        voided = tx.voidAllPending(limit)
        return Exit.void
      }], nowMs)
      if (result._tag === "Aborted") return yield* result.exit
      yield* result.exits[0] ?? Exit.void
      total += voided
      if (voided < limit) return total
    }
  })

const positiveIntegers = [
  "batchSizeMax",
  "requestQueueSizeMax",
  "sweepIntervalMs",
  "accountCacheSizeMax",
  "expiredPerBatchMax",
  "checkpointFrames"
] as const

/** Why resolved options are unusable, or `undefined`. Pure. */
export const optionsProblem = (options: Resolved): string | undefined =>
  positiveIntegers
    .filter((name) => !Number.isInteger(options[name]) || options[name] < 1)
    .map((name) => `ledger option ${name} must be a positive integer: ${options[name]}`)[0] ??
    (Number.isInteger(options.busyTimeoutMs) && options.busyTimeoutMs >= 0
      ? undefined
      : `ledger option busyTimeoutMs must be a non-negative integer: ${options.busyTimeoutMs}`)

/**
 * The embedded ledger's connection, for a store whose writes must commit in the ledger's
 * transactions (the receipt totals, `Stream/ReceiptTotalsSqlite.ts` `layerInLedger`: a posted
 * packet's receipt write runs in the post's transaction, `Ledger.PostAlongside`). Everything on
 * the connection is synchronous, so the ledger's batches and that store's own transactions never
 * interleave; the store is told when a ledger batch commits or rolls back (`participate`).
 */
export interface LedgerConnectionShape {
  readonly db: DatabaseSync
  readonly participate: (participant: BatchParticipant) => void
}

export class LedgerConnection extends Context.Service<LedgerConnection, LedgerConnectionShape>()(
  "Accounting/LedgerSqlite/LedgerConnection"
) {}

export { BatchAbort, type BatchParticipant }

const make = Effect.fnUntraced(function*(options: Options) {
  const resolved: Resolved = { ...defaults, ...options }
  yield* dieIf(optionsProblem(resolved))
  const db = yield* acquireDatabase(resolved, openDatabase)
  const store = makeStore(db, resolved)
  const clock = yield* Clock.Clock
  const voided = yield* voidLeftovers(store, clock.currentTimeMillisUnsafe(), resolved.expiredPerBatchMax)
  yield* voided > 0
    ? Effect.logWarning(`ledger opened: voided ${voided} pending transfers left by a previous process`)
    : Effect.logInfo("ledger opened: voided 0 pending transfers left by a previous process")

  const queue = yield* Queue.bounded<Request, Cause.Done>(resolved.requestQueueSizeMax)
  const submit = makeSubmit(queue, resolved.requestQueueSizeMax)
  const checkpoints = makeCheckpoints(db, resolved.checkpointFrames)
  const writerFiber = yield* Effect.forkScoped(writer(queue, store, clock, resolved.batchSizeMax, checkpoints))
  // Finalizers run in reverse: stop the sweeper, then drain the queue, then close the database.
  yield* Effect.addFinalizer(() => Effect.andThen(Queue.end(queue), Fiber.await(writerFiber)))
  yield* Effect.forkScoped(sweeper(store, clock, submit, resolved.sweepIntervalMs))
  return Context.make(Ledger, makeService(store, submit)).pipe(
    Context.add(LedgerConnection, { db, participate: store.participate })
  )
})

/** Triggers a batch (which expires what is due) whenever a reservation has timed out. */
const sweeper = (
  store: Store,
  clock: Clock.Clock,
  submit: ReturnType<typeof makeSubmit>,
  sweepIntervalMs: number
): Effect.Effect<void> =>
  Effect.suspend(() =>
    store.hasDueExpiries(clock.currentTimeMillisUnsafe())
      ? Effect.ignore(submit(() => Exit.void, "failFast"))
      : Effect.void
  ).pipe(
    Effect.catchDefect((defect) => Effect.logError("ledger sweeper failed", defect)),
    Effect.repeat(Schedule.spaced(sweepIntervalMs)),
    Effect.asVoid
  )

/**
 * The embedded ledger on `options.filename`. Scoped: the queue is drained and the database closed
 * when the layer's scope closes. Fails with `LedgerUnavailable` when the file cannot be opened.
 */
export const layer = (options: Options): Layer.Layer<Ledger, LedgerUnavailable> => layerWithConnection(options)

/** `layer`, with its connection for stores that commit in its transactions (`LedgerConnection`). */
export const layerWithConnection = (options: Options): Layer.Layer<Ledger | LedgerConnection, LedgerUnavailable> =>
  Layer.effectContext(make(options))

// ---------------------------------------------------------------------------------------------
// Read-only snapshot (for the audit of a live database)
// ---------------------------------------------------------------------------------------------

const openReadOnly = (options: StoreOptions): DatabaseSync => {
  const db = new DatabaseSync(options.filename, { readOnly: true, timeout: options.busyTimeoutMs })
  try {
    const version = Number((db.prepare("PRAGMA user_version").get() as Record<string, unknown>)["user_version"])
    if (version !== schemaVersion) throw new Error(`not a ledger database (schema version ${version})`)
    db.exec("BEGIN")
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

const readOnlyWrite = Effect.die(new LedgerDefect("this ledger was opened read-only"))

/**
 * A read-only view of a ledger file, safe to open while a node is running on it: it neither
 * voids pending transfers nor expires them, and it reads ONE consistent snapshot (a read
 * transaction held for the life of the layer). Writes are defects.
 */
export const layerReadOnly = (options: { readonly filename: string }): Layer.Layer<Ledger, LedgerUnavailable> =>
  Layer.effect(
    Ledger,
    Effect.gen(function*() {
      const resolved: Resolved = { ...defaults, ...options }
      const db = yield* acquireDatabase(resolved, openReadOnly)
      const store = makeStore(db, resolved)
      const service = makeService(store, Object.assign(() => readOnlyWrite, { enqueue: () => readOnlyWrite }))
      return service
    })
  )

/**
 * Replays the journal of a ledger file (read-only, one snapshot) and answers the accounts whose
 * stored balances differ from what their transfers add up to: at most `mismatchesMax` of them,
 * with the total count.
 */
export const verifyJournal = (options: { readonly filename: string; readonly mismatchesMax?: number }) =>
  Effect.scoped(Effect.gen(function*() {
    const db = yield* acquireDatabase({ ...defaults, ...options }, openReadOnly)
    const mismatchesMax = options.mismatchesMax ?? 1_000
    const mismatches: Array<JournalMismatch> = []
    let total = 0
    yield* read(() =>
      replayJournal(db, (mismatch) => {
        total++
        if (mismatches.length < mismatchesMax) mismatches.push(mismatch)
      })
    )
    return { mismatches, total } as const
  }))
