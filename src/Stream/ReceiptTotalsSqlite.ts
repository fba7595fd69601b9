/**
 * Receipt totals in SQLite (`node:sqlite`), the embedded default. See `ReceiptTotals.ts` for the
 * contract. (Over 400 lines: the schema, the four write steps and the batch that runs them share
 * private statements and one transaction discipline; split apart, each part would have to export
 * the others' internals.)
 *
 * Atomicity: this process must be the only writer of the file (the node holds its data directory,
 * `DataDirLock.ts`). Each call reads what it needs, decides and writes synchronously (no other
 * fiber can interleave), so the cap check and the writes are one step.
 *
 * Batching: a write (`add`, `reserve`, `commit`, `release`) waits for the next turn of the event
 * loop, and every write that arrived meanwhile (at most `writeBatchMax`) runs in ONE
 * `BEGIN IMMEDIATE` transaction, in arrival order; each caller gets its result once that
 * transaction has committed. One WAL commit per batch instead of one per write (bench/: the
 * per-add commit was ~45 µs of CPU per locally received packet). A storage error fails every write
 * of the batch with `ReceiptStoreUnavailable` (outcome unknown, as the contract says); a corrupt
 * stored total is a defect of that write only. A write, once started, is not interrupted while it
 * waits for its batch.
 *
 * Storage: totals are TEXT decimals computed with BigInt (exact at any size). Connection rows carry
 * `expires_at_ms`; an expired row counts as absent at once. Packet rows (`receipt_packets`) carry
 * their state, amount, lapse and forget times; `receipt_payment_pending` keeps each payment's
 * pending sum and count, so a reserve reads two totals (after lapsing at most 64 due packets of
 * that payment through a partial index) instead of summing its pending rows. Each write batch deletes up to twice its
 * size of forgotten packet rows, and a sweeper deletes at most `sweepBatchMax` expired connection
 * rows and forgotten packet rows every `sweepIntervalMs`. Payment rows never expire.
 *
 * Restart: at open, packets still pending were reserved by a previous process, which can no longer
 * post them (the embedded ledger voids its pending transfers at open too): they are released at
 * once, so the payer can pay the rest without waiting for the lapse.
 *
 * Durability: WAL with `synchronous = NORMAL` (no fsync per write, which would stall the event
 * loop); committed writes survive a crash of this process, an OS crash may lose the last ones. Use
 * its own file rather than the ledger's: two connections to one file would wait on each other's
 * locks.
 */
import { Clock, Effect, Layer, Schedule } from "effect"
import { DatabaseSync, type StatementSync } from "node:sqlite"
import {
  type AddRequest,
  type AddResult,
  addRequestProblem,
  checkKey,
  type CommitResult,
  CorruptTotal,
  decideAdd,
  defaults as totalsDefaults,
  dieIf,
  graceProblem,
  type PacketRef,
  packetRefProblem,
  parseTotal,
  ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReceiptTotalsShape,
  type ReleaseOutcome,
  releasedRefusal,
  type ReserveRequest,
  reserveRequestProblem,
  ttlMs,
  ttlProblem
} from "./ReceiptTotals.ts"

export interface SqliteOptions {
  /** Database file; `:memory:` for tests (not durable). */
  readonly filename: string
  readonly connectionTtlSeconds?: number
  readonly settleGraceMs?: number
  /** How often expired connection rows and forgotten packet rows are deleted. */
  readonly sweepIntervalMs?: number
  /** Rows of each kind deleted per sweep. */
  readonly sweepBatchMax?: number
  /** Wait for a lock held by another connection to the file. */
  readonly busyTimeoutMs?: number
}

/** Writes per transaction. */
export const writeBatchMax = 1_024

export const sqliteDefaults = {
  connectionTtlSeconds: totalsDefaults.connectionTtlSeconds,
  settleGraceMs: totalsDefaults.settleGraceMs,
  sweepIntervalMs: 60_000,
  sweepBatchMax: 1_000,
  busyTimeoutMs: 1_000
} as const

type Resolved = Required<SqliteOptions>

const resolve = (options: SqliteOptions): Resolved => ({
  filename: options.filename,
  connectionTtlSeconds: options.connectionTtlSeconds ?? sqliteDefaults.connectionTtlSeconds,
  settleGraceMs: options.settleGraceMs ?? sqliteDefaults.settleGraceMs,
  sweepIntervalMs: options.sweepIntervalMs ?? sqliteDefaults.sweepIntervalMs,
  sweepBatchMax: options.sweepBatchMax ?? sqliteDefaults.sweepBatchMax,
  busyTimeoutMs: options.busyTimeoutMs ?? sqliteDefaults.busyTimeoutMs
})

const optionsProblem = (options: Resolved): string | undefined => {
  const positive = ["sweepIntervalMs", "sweepBatchMax", "busyTimeoutMs"] as const
  const bad = positive.find((name) => !Number.isSafeInteger(options[name]) || options[name] <= 0)
  return bad !== undefined
    ? `${bad} must be a positive integer`
    : ttlProblem(options.connectionTtlSeconds) ?? graceProblem(options.settleGraceMs)
}

// ---------------------------------------------------------------------------------------------
// Schema and statements
// ---------------------------------------------------------------------------------------------

/** `receipt_packets.state`; `lapsed`: pending past its lapse (no longer counted, still committable). */
const PacketState = { pending: 1, committed: 2, released: 3, lapsed: 4 } as const

/** Due pending packets one write lapses (bounds its work; the rest go in later writes). */
const lapsedPerWriteMax = 64

const schema = `
CREATE TABLE IF NOT EXISTS receipt_connection_totals (
  key TEXT PRIMARY KEY,
  total TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipt_connection_totals_expiry ON receipt_connection_totals (expires_at_ms);
CREATE TABLE IF NOT EXISTS receipt_payment_totals (
  key TEXT PRIMARY KEY,
  total TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipt_packets (
  packet_id TEXT PRIMARY KEY,
  state INTEGER NOT NULL,
  amount TEXT NOT NULL,
  payment_key TEXT,
  lapse_at_ms INTEGER NOT NULL,
  forget_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipt_packets_pending ON receipt_packets (payment_key, lapse_at_ms) WHERE state = 1;
CREATE INDEX IF NOT EXISTS receipt_packets_forget ON receipt_packets (forget_at_ms);
CREATE TABLE IF NOT EXISTS receipt_payment_pending (
  key TEXT PRIMARY KEY,
  total TEXT NOT NULL,
  count INTEGER NOT NULL
) WITHOUT ROWID;
`

interface Statements {
  readonly connection: StatementSync
  readonly payment: StatementSync
  readonly putConnection: StatementSync
  readonly putPayment: StatementSync
  readonly deletePayment: StatementSync
  readonly sweep: StatementSync
  readonly packet: StatementSync
  readonly duePending: StatementSync
  readonly pendingTotal: StatementSync
  readonly putPendingTotal: StatementSync
  readonly deletePendingTotal: StatementSync
  readonly deleteAllPendingTotals: StatementSync
  readonly putPacket: StatementSync
  readonly setPacketState: StatementSync
  readonly releasePaymentPending: StatementSync
  readonly releaseAllPending: StatementSync
  readonly sweepPackets: StatementSync
}

const prepare = (db: DatabaseSync): Statements => ({
  connection: db.prepare("SELECT total FROM receipt_connection_totals WHERE key = ? AND expires_at_ms > ?"),
  payment: db.prepare("SELECT total FROM receipt_payment_totals WHERE key = ?"),
  putConnection: db.prepare(
    `INSERT INTO receipt_connection_totals (key, total, expires_at_ms) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET total = excluded.total, expires_at_ms = excluded.expires_at_ms`
  ),
  putPayment: db.prepare(
    `INSERT INTO receipt_payment_totals (key, total) VALUES (?, ?)
     ON CONFLICT (key) DO UPDATE SET total = excluded.total`
  ),
  deletePayment: db.prepare("DELETE FROM receipt_payment_totals WHERE key = ?"),
  sweep: db.prepare(
    `DELETE FROM receipt_connection_totals WHERE key IN
     (SELECT key FROM receipt_connection_totals WHERE expires_at_ms <= ? LIMIT ?)`
  ),
  packet: db.prepare("SELECT state, amount, payment_key FROM receipt_packets WHERE packet_id = ? AND forget_at_ms > ?"),
  duePending: db.prepare(
    "SELECT packet_id, amount FROM receipt_packets WHERE payment_key = ? AND state = 1 AND lapse_at_ms <= ? LIMIT ?"
  ),
  pendingTotal: db.prepare("SELECT total, count FROM receipt_payment_pending WHERE key = ?"),
  putPendingTotal: db.prepare(
    `INSERT INTO receipt_payment_pending (key, total, count) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET total = excluded.total, count = excluded.count`
  ),
  deletePendingTotal: db.prepare("DELETE FROM receipt_payment_pending WHERE key = ?"),
  deleteAllPendingTotals: db.prepare("DELETE FROM receipt_payment_pending"),
  putPacket: db.prepare(
    `INSERT OR REPLACE INTO receipt_packets (packet_id, state, amount, payment_key, lapse_at_ms, forget_at_ms)
     VALUES (?, ?, ?, ?, ?, ?)`
  ),
  setPacketState: db.prepare("UPDATE receipt_packets SET state = ? WHERE packet_id = ?"),
  releasePaymentPending: db.prepare("UPDATE receipt_packets SET state = 3 WHERE payment_key = ? AND state IN (1, 4)"),
  releaseAllPending: db.prepare("UPDATE receipt_packets SET state = 3 WHERE state IN (1, 4)"),
  sweepPackets: db.prepare(
    `DELETE FROM receipt_packets WHERE packet_id IN
     (SELECT packet_id FROM receipt_packets WHERE forget_at_ms <= ? LIMIT ?)`
  )
})

const openDatabase = (options: Resolved): DatabaseSync => {
  const db = new DatabaseSync(options.filename, { timeout: options.busyTimeoutMs })
  try {
    db.exec("PRAGMA journal_mode = WAL")
    db.exec("PRAGMA synchronous = NORMAL")
    db.exec(schema)
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

// ---------------------------------------------------------------------------------------------
// Synchronous steps
// ---------------------------------------------------------------------------------------------

const readTotal = (statement: StatementSync, ...params: Array<string | number>): bigint => {
  const row = statement.get(...params) as { readonly total?: unknown } | undefined
  return row === undefined ? 0n : parseTotal(row.total)
}

const inTransaction = <A>(db: DatabaseSync, f: () => A): A => {
  db.exec("BEGIN IMMEDIATE")
  try {
    const result = f()
    db.exec("COMMIT")
    return result
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK")
    throw error
  }
}

/**
 * Runs a synchronous storage step: storage errors fail with `ReceiptStoreUnavailable`, corrupt
 * totals are defects.
 */
const tryStore = <A>(f: () => A): Effect.Effect<A, ReceiptStoreUnavailable> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (error) {
      return error instanceof CorruptTotal
        ? Effect.die(error)
        : Effect.fail(new ReceiptStoreUnavailable({ message: "receipt totals storage error", cause: error }))
    }
  })

/** Thrown inside a batch for one write that must fail (or die) alone: the batch goes on. */
class WriteRefused extends Error {
  readonly outcome: Effect.Effect<never, ReceiptStoreUnavailable>
  constructor(outcome: Effect.Effect<never, ReceiptStoreUnavailable>) {
    super("receipt write refused")
    this.outcome = outcome
  }
}

type Write =
  | { readonly kind: "add"; readonly request: AddRequest }
  | { readonly kind: "reserve"; readonly request: ReserveRequest }
  | { readonly kind: "commit"; readonly packet: PacketRef }
  | { readonly kind: "release"; readonly packet: PacketRef }

type WriteResult = AddResult | CommitResult | ReleaseOutcome

interface StepContext {
  readonly statements: Statements
  readonly connectionTtlMs: number
  readonly settleGraceMs: number
  readonly nowMs: number
}

interface StoredPacket {
  readonly state: number
  readonly amount: bigint
  readonly paymentKey: string | undefined
}

const readPacket = (ctx: StepContext, packetId: string): StoredPacket | undefined => {
  const row = ctx.statements.packet.get(packetId, ctx.nowMs) as Record<string, unknown> | undefined
  if (row === undefined) return undefined
  return {
    state: Number(row["state"]),
    amount: parseTotal(row["amount"]),
    paymentKey: typeof row["payment_key"] === "string" ? row["payment_key"] : undefined
  }
}

/** The payment's pending sum and count (0 when absent). */
const readPending = (ctx: StepContext, paymentKey: string): { readonly total: bigint; readonly count: number } => {
  const row = ctx.statements.pendingTotal.get(paymentKey) as Record<string, unknown> | undefined
  return row === undefined ? { total: 0n, count: 0 } : { total: parseTotal(row["total"]), count: Number(row["count"]) }
}

/** Adds `amount` (negative: takes away) and `count` to the payment's pending sum. */
const adjustPending = (ctx: StepContext, paymentKey: string, amount: bigint, count: number): void => {
  const pending = readPending(ctx, paymentKey)
  const total = pending.total + amount
  const left = pending.count + count
  if (total < 0n || left < 0) throw new CorruptTotal("pending receipt total went below zero")
  if (left === 0) ctx.statements.deletePendingTotal.run(paymentKey)
  else ctx.statements.putPendingTotal.run(paymentKey, total.toString(), left)
}

/** Lapses at most `lapsedPerWriteMax` of the payment's due pending packets. */
const lapseDue = (ctx: StepContext, paymentKey: string): void => {
  const due = ctx.statements.duePending.all(paymentKey, ctx.nowMs, lapsedPerWriteMax) as Array<Record<string, unknown>>
  for (const row of due) {
    ctx.statements.setPacketState.run(PacketState.lapsed, String(row["packet_id"]))
    adjustPending(ctx, paymentKey, -parseTotal(row["amount"]), -1)
  }
}

/** Committed + pending (after lapsing what is due); the pending count for the bound. */
const countedTotal = (ctx: StepContext, paymentKey: string): { readonly total: bigint; readonly count: number } => {
  lapseDue(ctx, paymentKey)
  const pending = readPending(ctx, paymentKey)
  return { total: readTotal(ctx.statements.payment, paymentKey) + pending.total, count: pending.count }
}

const decide = (ctx: StepContext, request: AddRequest): AddResult =>
  decideAdd({
    connectionTotal: readTotal(ctx.statements.connection, request.connectionKey, ctx.nowMs),
    paymentTotal: request.payment === undefined ? 0n : countedTotal(ctx, request.payment.key).total
  }, request)

/** Adds `amount` to the committed totals; answers the new ones. */
const commitAmount = (ctx: StepContext, connectionKey: string, paymentKey: string | undefined, amount: bigint) => {
  const connectionTotal = readTotal(ctx.statements.connection, connectionKey, ctx.nowMs) + amount
  ctx.statements.putConnection.run(connectionKey, connectionTotal.toString(), ctx.nowMs + ctx.connectionTtlMs)
  if (paymentKey === undefined) return { connectionTotal }
  const paymentTotal = readTotal(ctx.statements.payment, paymentKey) + amount
  ctx.statements.putPayment.run(paymentKey, paymentTotal.toString())
  return { connectionTotal, paymentTotal }
}

const addStep = (ctx: StepContext, request: AddRequest): AddResult => {
  const result = decide(ctx, request)
  if (result.accepted) commitAmount(ctx, request.connectionKey, request.payment?.key, request.amount)
  return result
}

const reserveStep = (ctx: StepContext, request: ReserveRequest): AddResult => {
  const existing = readPacket(ctx, request.packetId)
  if (existing?.state === PacketState.released) {
    return releasedRefusal(request.payment === undefined ? 0n : countedTotal(ctx, request.payment.key).total)
  }
  if (existing !== undefined) throw new WriteRefused(Effect.die(new Error("ReceiptTotals: packet id reserved twice")))
  const result = decide(ctx, request)
  if (!result.accepted) return result
  if (request.payment !== undefined) {
    // `decide` lapsed what was due: the count is current.
    if (readPending(ctx, request.payment.key).count >= totalsDefaults.pendingPerPaymentMax) {
      throw new WriteRefused(Effect.fail(new ReceiptStoreUnavailable({ message: "too many packets pending for one payment" })))
    }
    adjustPending(ctx, request.payment.key, request.amount, 1)
  }
  const lapseAtMs = ctx.nowMs + request.pendingMs
  ctx.statements.putPacket.run(
    request.packetId,
    PacketState.pending,
    request.amount.toString(),
    request.payment?.key ?? null,
    lapseAtMs,
    lapseAtMs + ctx.settleGraceMs
  )
  return result
}

const commitStep = (ctx: StepContext, packet: PacketRef): CommitResult => {
  const stored = readPacket(ctx, packet.packetId)
  if (stored === undefined) return { outcome: "unknown" }
  if (stored.state === PacketState.released) return { outcome: "released" }
  if (stored.state === PacketState.committed) {
    const connectionTotal = readTotal(ctx.statements.connection, packet.connectionKey, ctx.nowMs)
    return stored.paymentKey === undefined
      ? { outcome: "committed", connectionTotal }
      : { outcome: "committed", connectionTotal, paymentTotal: readTotal(ctx.statements.payment, stored.paymentKey) }
  }
  if (stored.state === PacketState.pending && stored.paymentKey !== undefined) {
    adjustPending(ctx, stored.paymentKey, -stored.amount, -1)
  }
  ctx.statements.setPacketState.run(PacketState.committed, packet.packetId)
  return { outcome: "committed", ...commitAmount(ctx, packet.connectionKey, stored.paymentKey, stored.amount) }
}

const releaseStep = (ctx: StepContext, packet: PacketRef): ReleaseOutcome => {
  const stored = readPacket(ctx, packet.packetId)
  if (stored?.state === PacketState.committed) return "committed"
  if (stored === undefined) {
    // A tombstone: a reserve of this packet that arrives later is refused.
    ctx.statements.putPacket.run(
      packet.packetId,
      PacketState.released,
      "0",
      packet.paymentKey ?? null,
      ctx.nowMs,
      ctx.nowMs + ctx.settleGraceMs
    )
  } else if (stored.state === PacketState.pending || stored.state === PacketState.lapsed) {
    if (stored.state === PacketState.pending && stored.paymentKey !== undefined) {
      adjustPending(ctx, stored.paymentKey, -stored.amount, -1)
    }
    ctx.statements.setPacketState.run(PacketState.released, packet.packetId)
  }
  return "released"
}

const step = (ctx: StepContext, write: Write): WriteResult => {
  switch (write.kind) {
    case "add":
      return addStep(ctx, write.request)
    case "reserve":
      return reserveStep(ctx, write.request)
    case "commit":
      return commitStep(ctx, write.packet)
    case "release":
      return releaseStep(ctx, write.packet)
  }
}

interface PendingWrite {
  readonly write: Write
  readonly nowMs: number
  readonly resume: (outcome: Effect.Effect<WriteResult, ReceiptStoreUnavailable>) => void
}

/** Collects writes and commits them in batches (see the module comment). `flush` runs what waits now. */
const makeWriteBatcher = (db: DatabaseSync, statements: Statements, connectionTtlMs: number, settleGraceMs: number) => {
  let waiting: Array<PendingWrite> = []
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    const batch = waiting.length <= writeBatchMax ? waiting : waiting.slice(0, writeBatchMax)
    waiting = batch === waiting ? [] : waiting.slice(writeBatchMax)
    if (waiting.length > 0) schedule()
    if (batch.length === 0) return
    const outcomes: Array<Effect.Effect<WriteResult, ReceiptStoreUnavailable>> = []
    try {
      inTransaction(db, () => {
        // Forgotten packet rows go in the same transaction, up to twice as many as this batch may
        // create, so they never pile up faster than they are deleted.
        statements.sweepPackets.run(batch[0]!.nowMs, 2 * batch.length)
        for (const item of batch) {
          const ctx: StepContext = { statements, connectionTtlMs, settleGraceMs, nowMs: item.nowMs }
          try {
            outcomes.push(Effect.succeed(step(ctx, item.write)))
          } catch (error) {
            // Every step reads (and may refuse) before it writes: a refused write leaves nothing behind.
            if (error instanceof WriteRefused) outcomes.push(error.outcome)
            else if (error instanceof CorruptTotal) outcomes.push(Effect.die(error))
            else throw error
          }
        }
      })
    } catch (error) {
      const failure = Effect.fail(new ReceiptStoreUnavailable({ message: "receipt totals storage error", cause: error }))
      for (const item of batch) item.resume(failure)
      return
    }
    batch.forEach((item, i) => item.resume(outcomes[i]!))
  }
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(flush)
  }
  const write = <A extends WriteResult>(write: Write): Effect.Effect<A, ReceiptStoreUnavailable> =>
    Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
      Effect.uninterruptible(Effect.callback<WriteResult, ReceiptStoreUnavailable>((resume) => {
        waiting.push({ write, nowMs, resume })
        schedule()
      }))) as Effect.Effect<A, ReceiptStoreUnavailable>
  return { write, flush }
}

const makeService = (
  db: DatabaseSync,
  statements: Statements,
  batcher: ReturnType<typeof makeWriteBatcher>
): ReceiptTotalsShape => ({
  // Per packet: plain functions, without an `Effect.fn` span (~6 µs per call; docs/performance.md).
  add: (request) =>
    Effect.andThen(dieIf(addRequestProblem(request)), batcher.write<AddResult>({ kind: "add", request })),
  reserve: (request) =>
    Effect.andThen(dieIf(reserveRequestProblem(request)), batcher.write<AddResult>({ kind: "reserve", request })),
  commit: (packet) =>
    Effect.andThen(dieIf(packetRefProblem(packet)), batcher.write<CommitResult>({ kind: "commit", packet })),
  release: (packet) =>
    Effect.andThen(dieIf(packetRefProblem(packet)), batcher.write<ReleaseOutcome>({ kind: "release", packet })),
  get: Effect.fn("ReceiptTotals.get")(function*(key) {
    yield* checkKey("connection key", key)
    const nowMs = yield* Clock.currentTimeMillis
    return yield* tryStore(() => readTotal(statements.connection, key, nowMs))
  }),
  paymentTotal: Effect.fn("ReceiptTotals.paymentTotal")(function*(key) {
    yield* checkKey("payment key", key)
    return yield* tryStore(() => readTotal(statements.payment, key))
  }),
  deletePayment: Effect.fn("ReceiptTotals.deletePayment")(function*(key) {
    yield* checkKey("payment key", key)
    yield* tryStore(() => inTransaction(db, () => {
      statements.deletePayment.run(key)
      statements.releasePaymentPending.run(key)
      statements.deletePendingTotal.run(key)
    }))
  })
})

// ---------------------------------------------------------------------------------------------
// Opening, sweeping, closing
// ---------------------------------------------------------------------------------------------

/**
 * Deletes at most `batchMax` expired connection rows and forgotten packet rows every `intervalMs`;
 * errors are logged.
 */
const sweeper = (statements: Statements, intervalMs: number, batchMax: number): Effect.Effect<void> =>
  Clock.currentTimeMillis.pipe(
    Effect.flatMap((nowMs) =>
      tryStore(() => {
        statements.sweep.run(nowMs, batchMax)
        statements.sweepPackets.run(nowMs, batchMax)
      })
    ),
    Effect.catchCause((cause) => Effect.logWarning("receipt totals sweep failed", cause)),
    Effect.repeat(Schedule.spaced(intervalMs)),
    Effect.asVoid
  )

const acquireDatabase = (options: Resolved) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => openDatabase(options),
      catch: (cause) => new ReceiptStoreUnavailable({ message: "cannot open the receipt totals database", cause })
    }),
    (db) => Effect.sync(() => db.close())
  )

/** Releases what a previous process left pending (see the module comment); answers how many. */
const releaseLeftovers = (db: DatabaseSync, statements: Statements) =>
  tryStore(() =>
    inTransaction(db, () => {
      statements.deleteAllPendingTotals.run()
      return Number(statements.releaseAllPending.run().changes)
    })
  )

/**
 * Receipt totals in the SQLite file `options.filename` (`:memory:` allowed). Scoped: the sweeper
 * stops and the database closes with the layer's scope. Fails with `ReceiptStoreUnavailable` when
 * the file cannot be opened.
 */
export const layerSqlite = (options: SqliteOptions): Layer.Layer<ReceiptTotals, ReceiptStoreUnavailable> =>
  Layer.effect(
    ReceiptTotals,
    Effect.gen(function*() {
      const resolved = resolve(options)
      yield* dieIf(optionsProblem(resolved))
      const db = yield* acquireDatabase(resolved)
      const statements = prepare(db)
      const released = yield* releaseLeftovers(db, statements)
      if (released > 0) yield* Effect.logInfo(`released ${released} pending receipt total(s) left by a previous process`)
      const batcher = makeWriteBatcher(db, statements, ttlMs(resolved.connectionTtlSeconds), resolved.settleGraceMs)
      // Runs before the database closes (finalizers run in reverse): writes still waiting are committed.
      yield* Effect.addFinalizer(() => Effect.sync(batcher.flush))
      yield* Effect.forkScoped(sweeper(statements, resolved.sweepIntervalMs, resolved.sweepBatchMax))
      return makeService(db, statements, batcher)
    })
  )
