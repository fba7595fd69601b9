/**
 * The production payments store (`PaymentsStore` on PostgreSQL), shared by every instance.
 *
 * Amounts are NUMERIC(39,0) (u128 fits; the driver answers them as decimal strings, converted to
 * bigint here, never through a float); times are BIGINT epoch milliseconds. Every write that races
 * across instances is one conditional statement (`UPDATE … WHERE state IN …`, `outcome IS NULL`,
 * the lease predicate), so PostgreSQL's row lock decides it. Migrations: `StorePostgresSchema.ts`, applied
 * at start by `Store/Postgres.ts`'s runner under an advisory lock.
 *
 * The events outbox lives in this same layer because an event is written in the transaction of the
 * change that causes it (an insert or a conditional transition here). Row mapping: `StoreRows.ts`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { migrate } from "../Store/Postgres.ts"
import { randomUUID } from "node:crypto"
import { num, type Row, rowReaders } from "./StoreRows.ts"
import { migrations } from "./StorePostgresSchema.ts"
import {
  eventErrorCharsMax,
  type EventType,
  incomingEventData,
  incomingEventType,
  liquidityEventData,
  outgoingEventData,
  outgoingEventType,
  type OutgoingPaymentRecord,
  PaymentsStore,
  type PaymentsStoreShape
} from "./Store.ts"

const { eventFromRow, incomingFromRow, outgoingFromRow, quoteFromRow, walletFromRow } = rowReaders((value) => value === true)

/** PostgreSQL's unique_violation (SQLSTATE 23505), found in the error's cause chain. */
const isUniqueViolation = (error: SqlError): boolean => {
  let cause: unknown = error
  for (let depth = 0; depth < 8 && typeof cause === "object" && cause !== null; depth++) {
    if ((cause as { code?: unknown }).code === "23505") return true
    cause = (cause as { cause?: unknown }).cause
  }
  return false
}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* migrate(migrations)

  /** Store faults are defects (see Store.ts), with the failing statement named. */
  const q = <A>(name: string, effect: Effect.Effect<A, SqlError>): Effect.Effect<A> =>
    effect.pipe(Effect.orDie, Effect.withSpan(`PaymentsStore.${name}`))

  const first = <A>(rows: ReadonlyArray<Row>, from: (row: Row) => A): A | undefined =>
    rows[0] === undefined ? undefined : from(rows[0])

  const writeEvent = (type: EventType, resourceId: string, data: string, at: number) =>
    sql`INSERT INTO events (id, type, resource_id, data, created_at, state, attempts, next_attempt_at)
        VALUES (${randomUUID()}, ${type}, ${resourceId}, ${data}, ${at}, 'pending', 0, ${at})`

  const store: PaymentsStoreShape = {
    walletAddresses: {
      insert: (r) =>
        sql`INSERT INTO wallet_addresses (id, url, path, asset_code, asset_scale, public_name, active, created_at)
            VALUES (${r.id}, ${r.url}, ${r.path}, ${r.assetCode}, ${r.assetScale}, ${r.publicName}, ${r.active}, ${r.createdAt})`
          .pipe(
            Effect.as("inserted" as const),
            Effect.catch((error) => isUniqueViolation(error) ? Effect.succeed("conflict" as const) : Effect.fail(error)),
            (effect) => q("walletAddresses.insert", effect)
          ),
      byId: (id) =>
        q("walletAddresses.byId", Effect.map(sql<Row>`SELECT * FROM wallet_addresses WHERE id = ${id}`, (rows) => first(rows, walletFromRow))),
      byPath: (path) =>
        q("walletAddresses.byPath", Effect.map(sql<Row>`SELECT * FROM wallet_addresses WHERE path = ${path}`, (rows) => first(rows, walletFromRow))),
      page: ({ limit, after }) =>
        q(
          "walletAddresses.page",
          Effect.map(sql<Row>`SELECT * FROM wallet_addresses WHERE id > ${after} ORDER BY id LIMIT ${limit}`, (rows) => rows.map(walletFromRow))
        ),
      setActive: (id, active) =>
        q(
          "walletAddresses.setActive",
          Effect.map(sql<Row>`UPDATE wallet_addresses SET active = ${active} WHERE id = ${id} RETURNING id`, (rows) => rows.length === 1)
        )
    },
    incomingPayments: {
      insert: (r) =>
        q(
          "incomingPayments.insert",
          sql.withTransaction(Effect.gen(function*() {
            yield* sql`INSERT INTO incoming_payments (id, wallet_address_id, incoming_amount, expires_at, metadata, state, created_at, completed_at)
              VALUES (${r.id}, ${r.walletAddressId}, ${r.incomingAmount === null ? null : r.incomingAmount.toString()}::numeric,
                ${r.expiresAt}, ${r.metadata}, ${r.state}, ${r.createdAt}, ${r.completedAt})`
            yield* writeEvent("incoming_payment.created", r.id, incomingEventData(r), r.createdAt)
          }))
        ),
      byId: (id) =>
        q("incomingPayments.byId", Effect.map(sql<Row>`SELECT * FROM incoming_payments WHERE id = ${id}`, (rows) => first(rows, incomingFromRow))),
      page: (walletAddressId, { limit, after }) =>
        q(
          "incomingPayments.page",
          Effect.map(
            sql<Row>`SELECT * FROM incoming_payments WHERE wallet_address_id = ${walletAddressId} AND id > ${after} ORDER BY id LIMIT ${limit}`,
            (rows) => rows.map(incomingFromRow)
          )
        ),
      transition: (id, { from, to, completedAt }) =>
        q(
          "incomingPayments.transition",
          sql.withTransaction(Effect.gen(function*() {
            const rows = yield* sql<Row>`UPDATE incoming_payments SET state = ${to}, completed_at = ${completedAt}
              WHERE id = ${id} AND state IN ${sql.in(from)} RETURNING *`
            const type = incomingEventType(to)
            if (rows[0] !== undefined && type !== undefined) {
              const record = incomingFromRow(rows[0])
              yield* writeEvent(type, id, incomingEventData(record), completedAt ?? record.expiresAt ?? record.createdAt)
            }
            return rows.length === 1
          }))
        ),
      overdue: (now, limit) =>
        q(
          "incomingPayments.overdue",
          Effect.map(
            sql<Row>`SELECT id FROM incoming_payments WHERE state IN ('pending', 'processing') AND expires_at <= ${now}
              ORDER BY expires_at LIMIT ${limit}`,
            (rows) => rows.map((row) => String(row.id))
          )
        )
    },
    quotes: {
      insert: (r) =>
        q(
          "quotes.insert",
          Effect.asVoid(sql`INSERT INTO quotes (id, wallet_address_id, receiver_kind, receiver, shared_secret, payment_type, debit_amount,
              debit_asset_code, debit_asset_scale, receive_amount, receive_asset_code, receive_asset_scale, max_packet_amount,
              min_exchange_rate, low_estimated_exchange_rate, high_estimated_exchange_rate, expires_at, created_at)
            VALUES (${r.id}, ${r.walletAddressId}, ${r.receiverKind}, ${r.receiver}, ${r.sharedSecret}, ${r.paymentType},
              ${r.debitAmount.toString()}::numeric, ${r.debitAssetCode}, ${r.debitAssetScale}, ${r.receiveAmount.toString()}::numeric,
              ${r.receiveAssetCode}, ${r.receiveAssetScale}, ${r.maxPacketAmount.toString()}::numeric, ${r.minExchangeRate},
              ${r.lowEstimatedExchangeRate}, ${r.highEstimatedExchangeRate}, ${r.expiresAt}, ${r.createdAt})`)
        ),
      byId: (id) => q("quotes.byId", Effect.map(sql<Row>`SELECT * FROM quotes WHERE id = ${id}`, (rows) => first(rows, quoteFromRow)))
    },
    outgoingPayments: {
      insert: (r) =>
        sql`INSERT INTO outgoing_payments (id, quote_id, wallet_address_id, state, sent_amount, delivered_amount, attempts, created_at, updated_at)
            VALUES (${r.id}, ${r.quoteId}, ${r.walletAddressId}, 'funding', 0, 0, 0, ${r.createdAt}, ${r.createdAt})`.pipe(
          Effect.as("inserted" as const),
          Effect.catch((error) => isUniqueViolation(error) ? Effect.succeed("quoteUsed" as const) : Effect.fail(error)),
          (effect) => q("outgoingPayments.insert", effect)
        ),
      byId: (id) =>
        q("outgoingPayments.byId", Effect.map(sql<Row>`SELECT * FROM outgoing_payments WHERE id = ${id}`, (rows) => first(rows, outgoingFromRow))),
      byQuote: (quoteId) =>
        q(
          "outgoingPayments.byQuote",
          Effect.map(sql<Row>`SELECT * FROM outgoing_payments WHERE quote_id = ${quoteId}`, (rows) => first(rows, outgoingFromRow))
        ),
      removeFunding: (id) =>
        q("outgoingPayments.removeFunding", Effect.asVoid(sql`DELETE FROM outgoing_payments WHERE id = ${id} AND state = 'funding'`)),
      page: (walletAddressId, { limit, after }) =>
        q(
          "outgoingPayments.page",
          Effect.map(
            sql<Row>`SELECT * FROM outgoing_payments WHERE wallet_address_id = ${walletAddressId} AND id > ${after} ORDER BY id LIMIT ${limit}`,
            (rows) => rows.map(outgoingFromRow)
          )
        ),
      unleased: (now, cursor, limit) =>
        q(
          "outgoingPayments.unleased",
          Effect.map(
            sql<Row>`SELECT id, created_at FROM outgoing_payments WHERE state IN ('funding', 'sending')
              AND (lease_expires_at IS NULL OR lease_expires_at <= ${now})
              AND (created_at > ${cursor.createdAt} OR (created_at = ${cursor.createdAt} AND id > ${cursor.id}))
              ORDER BY created_at, id LIMIT ${limit}`,
            (rows) => rows.map((row) => ({ id: String(row.id), createdAt: num(row.created_at) }))
          )
        ),
      update: (id, patch, at) =>
        q(
          "outgoingPayments.update",
          sql.withTransaction(Effect.gen(function*() {
            // The row lock (FOR UPDATE) makes the state read and the change one step: two instances
            // moving the same payment to the same state write its event once.
            const before = yield* sql<Row>`SELECT state FROM outgoing_payments WHERE id = ${id} FOR UPDATE`
            const rows = yield* sql<Row>`UPDATE outgoing_payments SET
                updated_at = ${at},
                state = COALESCE(${patch.state ?? null}, state),
                sent_amount = COALESCE(${patch.sentAmount?.toString() ?? null}::numeric, sent_amount),
                delivered_amount = COALESCE(${patch.deliveredAmount?.toString() ?? null}::numeric, delivered_amount),
                error = CASE WHEN ${patch.error !== undefined} AND outcome IS NULL THEN ${patch.error ?? null} ELSE error END
              WHERE id = ${id} RETURNING *`
            if (before[0] === undefined || rows[0] === undefined || patch.state === undefined) return
            const type = outgoingEventType(String(before[0].state) as OutgoingPaymentRecord["state"], patch.state)
            if (type !== undefined) yield* writeEvent(type, id, outgoingEventData(outgoingFromRow(rows[0])), at)
          }))
        ),
      recordProgress: (id, owner, progress, at) =>
        q(
          "outgoingPayments.recordProgress",
          Effect.map(
            sql<Row>`UPDATE outgoing_payments SET sent_amount = ${progress.sentAmount.toString()}::numeric,
                delivered_amount = ${progress.deliveredAmount.toString()}::numeric, updated_at = ${at}
              WHERE id = ${id} AND lease_owner = ${owner} RETURNING id`,
            (rows) => rows.length === 1
          )
        ),
      addAttempt: (id, at) =>
        q(
          "outgoingPayments.addAttempt",
          Effect.asVoid(sql`UPDATE outgoing_payments SET attempts = attempts + 1, updated_at = ${at} WHERE id = ${id}`)
        ),
      decide: (id, d, at) =>
        q(
          "outgoingPayments.decide",
          Effect.map(
            sql<Row>`UPDATE outgoing_payments SET outcome = ${d.outcome}, error = ${d.error},
                sent_amount = COALESCE(${d.sentAmount === null ? null : d.sentAmount.toString()}::numeric, sent_amount), updated_at = ${at}
              WHERE id = ${id} AND outcome IS NULL RETURNING id`,
            (rows) => rows.length === 1
          )
        ),
      lease: (id, owner, now, until) =>
        q(
          "outgoingPayments.lease",
          Effect.map(
            sql<Row>`UPDATE outgoing_payments SET lease_owner = ${owner}, lease_expires_at = ${until}
              WHERE id = ${id} AND state IN ('funding', 'sending')
                AND (lease_owner IS NULL OR lease_owner = ${owner} OR lease_expires_at <= ${now}) RETURNING id`,
            (rows) => rows.length === 1
          )
        ),
      release: (id, owner) =>
        q(
          "outgoingPayments.release",
          Effect.asVoid(sql`UPDATE outgoing_payments SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ${id} AND lease_owner = ${owner}`)
        )
    },
    events: {
      byId: (id) => q("events.byId", Effect.map(sql<Row>`SELECT * FROM events WHERE id = ${id}`, (rows) => first(rows, eventFromRow))),
      list: ({ limit, before, state }) =>
        q(
          "events.list",
          Effect.map(
            sql<Row>`SELECT * FROM events WHERE (${before} = 0 OR seq < ${before})
              AND (${state ?? null}::text IS NULL OR state = ${state ?? null}) ORDER BY seq DESC LIMIT ${limit}`,
            (rows) => rows.map(eventFromRow)
          )
        ),
      due: (now, limit) =>
        q(
          "events.due",
          Effect.map(
            sql<Row>`SELECT id FROM events WHERE state = 'pending' AND next_attempt_at <= ${now}
              AND (lease_expires_at IS NULL OR lease_expires_at <= ${now}) ORDER BY seq LIMIT ${limit}`,
            (rows) => rows.map((row) => String(row.id))
          )
        ),
      claim: (id, owner, now, until) =>
        q(
          "events.claim",
          Effect.map(
            sql<Row>`UPDATE events SET lease_owner = ${owner}, lease_expires_at = ${until}
              WHERE id = ${id} AND state = 'pending'
                AND (lease_owner IS NULL OR lease_owner = ${owner} OR lease_expires_at <= ${now}) RETURNING id`,
            (rows) => rows.length === 1
          )
        ),
      attempted: (id, owner, result) =>
        q(
          "events.attempted",
          Effect.map(
            sql<Row>`UPDATE events SET state = ${result._tag === "retry" ? "pending" : result._tag}, attempts = attempts + 1,
                last_attempt_at = ${result.at},
                last_error = ${result._tag === "delivered" ? null : result.error.slice(0, eventErrorCharsMax)},
                next_attempt_at = ${result._tag === "retry" ? result.nextAttemptAt : result.at},
                delivered_at = ${result._tag === "delivered" ? result.at : null},
                lease_owner = NULL, lease_expires_at = NULL
              WHERE id = ${id} AND lease_owner = ${owner} RETURNING id`,
            (rows) => rows.length === 1
          )
        ),
      replay: (id, now) =>
        q(
          "events.replay",
          Effect.map(
            sql<Row>`UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = ${now}, delivered_at = NULL,
                lease_owner = NULL, lease_expires_at = NULL WHERE id = ${id} RETURNING *`,
            (rows) => first(rows, eventFromRow)
          )
        ),
      backlog: () =>
        q("events.backlog", Effect.map(sql<Row>`SELECT COUNT(*) AS n FROM events WHERE state = 'pending'`, (rows) => num(rows[0]?.n ?? 0))),
      prune: (deliveredBefore, limit) =>
        q(
          "events.prune",
          Effect.map(
            sql<Row>`DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE state = 'delivered'
              AND delivered_at < ${deliveredBefore} ORDER BY seq LIMIT ${limit}) RETURNING seq`,
            (rows) => rows.length
          )
        ),
      liquidityLow: (low, below, event) =>
        q(
          "events.liquidityLow",
          sql.withTransaction(Effect.gen(function*() {
            const key = `${low.kind}:${low.id}`
            // Insert-or-lock the row, then compare: concurrent instances serialise on it.
            yield* sql`INSERT INTO liquidity_alerts (key, below) VALUES (${key}, FALSE) ON CONFLICT (key) DO NOTHING`
            const rows = yield* sql<Row>`SELECT below FROM liquidity_alerts WHERE key = ${key} FOR UPDATE`
            const was = rows[0]?.below === true
            if (was === below) return false
            yield* sql`UPDATE liquidity_alerts SET below = ${below} WHERE key = ${key}`
            if (!below) return false
            yield* sql`INSERT INTO events (id, type, resource_id, data, created_at, state, attempts, next_attempt_at)
              VALUES (${event.id}, ${low.kind === "peer" ? "liquidity.peer_low" : "liquidity.asset_low"}, ${low.id},
                ${liquidityEventData(low)}, ${event.at}, 'pending', 0, ${event.at})`
            return true
          }))
        )
    }
  }
  return PaymentsStore.of(store)
})

/** The PostgreSQL store over the `SqlClient` in context (see `Store/Postgres.ts`'s `layer`); migrates at build. */
export const layer: Layer.Layer<PaymentsStore, SqlError | import("../Store/Postgres.ts").SchemaTooNew, SqlClient> = Layer.effect(
  PaymentsStore,
  make
)
