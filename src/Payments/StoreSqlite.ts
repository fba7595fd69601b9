/**
 * The embedded payments store (`PaymentsStore` on SQLite): one file (`node:sqlite`, WAL) holding
 * wallet addresses, incoming payments, quotes and outgoing payments. Money amounts are decimal TEXT
 * (u64/u128 do not fit SQLite's i64), converted to bigint here.
 *
 * Synchronous and single-writer (this process owns the file), so each statement is atomic and the
 * conditional updates (state transitions, outcome, lease) cannot interleave with another.
 * Versioned migrations in `schema_migrations`, applied at open (`StoreSqliteSchema.ts`).
 *
 * The events outbox lives in this same layer because an event is written in the transaction of the
 * change that causes it (an insert or a conditional transition here). Row mapping: `StoreRows.ts`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SQLInputValue } from "node:sqlite"
import { randomUUID } from "node:crypto"
import { num, type Row, rowReaders } from "./StoreRows.ts"
import { cachedIncomingPayments } from "./IncomingPaymentsCache.ts"
import { open, type SqliteHandle } from "./StoreSqliteSchema.ts"
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

const { eventFromRow, incomingFromRow, outgoingFromRow, quoteFromRow, walletFromRow } = rowReaders((value) => Number(value) === 1)

const isUniqueViolation = (error: unknown): boolean => error instanceof Error && /UNIQUE/.test(error.message)

/** The repositories over one open SQLite file. */
export const makeStore = ({ db, transaction }: SqliteHandle): PaymentsStoreShape => {
  const one = <A>(sql: string, from: (row: Row) => A) => {
    const statement = db.prepare(sql)
    return (...params: Array<SQLInputValue>) =>
      Effect.sync(() => {
        const row = statement.get(...params) as Row | undefined
        return row === undefined ? undefined : from(row)
      })
  }
  const many = <A>(sql: string, from: (row: Row) => A) => {
    const statement = db.prepare(sql)
    return (...params: Array<SQLInputValue>) =>
      Effect.sync(() => (statement.all(...params) as Array<Row>).map(from))
  }
  const run = (sql: string) => {
    const statement = db.prepare(sql)
    return (...params: Array<SQLInputValue>) => Effect.sync(() => statement.run(...params).changes as number)
  }
  const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ")

  const wallet = {
    insert: db.prepare(
      "INSERT INTO wallet_addresses (id, url, path, asset_code, asset_scale, public_name, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    byId: one("SELECT * FROM wallet_addresses WHERE id = ?", walletFromRow),
    byPath: one("SELECT * FROM wallet_addresses WHERE path = ?", walletFromRow),
    page: many("SELECT * FROM wallet_addresses WHERE id > ? ORDER BY id LIMIT ?", walletFromRow),
    setActive: run("UPDATE wallet_addresses SET active = ? WHERE id = ?")
  }
  const incoming = {
    insert: db.prepare(
      "INSERT INTO incoming_payments (id, wallet_address_id, incoming_amount, expires_at, metadata, state, created_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    byId: one("SELECT * FROM incoming_payments WHERE id = ?", incomingFromRow),
    page: many("SELECT * FROM incoming_payments WHERE wallet_address_id = ? AND id > ? ORDER BY id LIMIT ?", incomingFromRow),
    overdue: many(
      "SELECT id FROM incoming_payments WHERE state IN ('pending', 'processing') AND expires_at <= ? ORDER BY expires_at LIMIT ?",
      (row) => String(row.id)
    )
  }
  const quotes = {
    insert: run(
      `INSERT INTO quotes (id, wallet_address_id, receiver_kind, receiver, shared_secret, payment_type, debit_amount,
         debit_asset_code, debit_asset_scale, receive_amount, receive_asset_code, receive_asset_scale, max_packet_amount,
         min_exchange_rate, low_estimated_exchange_rate, high_estimated_exchange_rate, expires_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
    ),
    byId: one("SELECT * FROM quotes WHERE id = ?", quoteFromRow)
  }
  const outgoing = {
    insert: db.prepare(
      `INSERT INTO outgoing_payments (id, quote_id, wallet_address_id, state, sent_amount, delivered_amount, attempts,
         created_at, updated_at) VALUES (?, ?, ?, 'funding', '0', '0', 0, ?, ?)`
    ),
    byId: one("SELECT * FROM outgoing_payments WHERE id = ?", outgoingFromRow),
    byQuote: one("SELECT * FROM outgoing_payments WHERE quote_id = ?", outgoingFromRow),
    removeFunding: run("DELETE FROM outgoing_payments WHERE id = ? AND state = 'funding'"),
    page: many("SELECT * FROM outgoing_payments WHERE wallet_address_id = ? AND id > ? ORDER BY id LIMIT ?", outgoingFromRow),
    unleased: many(
      `SELECT id, created_at FROM outgoing_payments WHERE state IN ('funding', 'sending')
         AND (lease_expires_at IS NULL OR lease_expires_at <= ?)
         AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?`,
      (row) => ({ id: String(row.id), createdAt: num(row.created_at) })
    ),
    addAttempt: run("UPDATE outgoing_payments SET attempts = attempts + 1, updated_at = ? WHERE id = ?"),
    recordProgress: run(
      "UPDATE outgoing_payments SET sent_amount = ?, delivered_amount = ?, updated_at = ? WHERE id = ? AND lease_owner = ?"
    ),
    decide: run(
      "UPDATE outgoing_payments SET outcome = ?, error = ?, sent_amount = COALESCE(?, sent_amount), updated_at = ? WHERE id = ? AND outcome IS NULL"
    ),
    lease: run(
      `UPDATE outgoing_payments SET lease_owner = ?, lease_expires_at = ? WHERE id = ? AND state IN ('funding', 'sending')
         AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at <= ?)`
    ),
    release: run("UPDATE outgoing_payments SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?")
  }

  const events = {
    insert: db.prepare(
      `INSERT INTO events (id, type, resource_id, data, created_at, state, attempts, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)`
    ),
    byId: one("SELECT * FROM events WHERE id = ?", eventFromRow),
    list: many("SELECT * FROM events WHERE (? = 0 OR seq < ?) AND (? IS NULL OR state = ?) ORDER BY seq DESC LIMIT ?", eventFromRow),
    due: many(
      `SELECT id FROM events WHERE state = 'pending' AND next_attempt_at <= ?
         AND (lease_expires_at IS NULL OR lease_expires_at <= ?) ORDER BY seq LIMIT ?`,
      (row) => String(row.id)
    ),
    claim: run(
      `UPDATE events SET lease_owner = ?, lease_expires_at = ? WHERE id = ? AND state = 'pending'
         AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at <= ?)`
    ),
    attempted: run(
      `UPDATE events SET state = ?, attempts = attempts + 1, last_attempt_at = ?, last_error = ?, next_attempt_at = ?,
         delivered_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?`
    ),
    replay: run(
      `UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = ?, delivered_at = NULL, lease_owner = NULL,
         lease_expires_at = NULL WHERE id = ?`
    ),
    backlog: one("SELECT COUNT(*) AS n FROM events WHERE state = 'pending'", (row) => num(row.n)),
    prune: run(
      "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE state = 'delivered' AND delivered_at < ? ORDER BY seq LIMIT ?)"
    ),
    alert: db.prepare("SELECT below FROM liquidity_alerts WHERE key = ?"),
    setAlert: db.prepare(
      "INSERT INTO liquidity_alerts (key, below) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET below = excluded.below"
    )
  }
  const writeEvent = (type: EventType, resourceId: string, data: string, at: number) =>
    events.insert.run(randomUUID(), type, resourceId, data, at, at)
  const incomingById = db.prepare("SELECT * FROM incoming_payments WHERE id = ?")
  const outgoingById = db.prepare("SELECT * FROM outgoing_payments WHERE id = ?")

  return {
    walletAddresses: {
      insert: (r) =>
        Effect.sync(() => {
          try {
            wallet.insert.run(r.id, r.url, r.path, r.assetCode, r.assetScale, r.publicName, r.active ? 1 : 0, r.createdAt)
            return "inserted" as const
          } catch (error) {
            if (isUniqueViolation(error)) return "conflict" as const
            throw error
          }
        }),
      byId: (id) => wallet.byId(id),
      byPath: (path) => wallet.byPath(path),
      page: ({ limit, after }) => wallet.page(after, limit),
      setActive: (id, active) => Effect.map(wallet.setActive(active ? 1 : 0, id), (changes) => changes === 1)
    },
    incomingPayments: {
      insert: (r) =>
        Effect.sync(() =>
          transaction(() => {
            incoming.insert.run(
              r.id,
              r.walletAddressId,
              r.incomingAmount === null ? null : r.incomingAmount.toString(),
              r.expiresAt,
              r.metadata,
              r.state,
              r.createdAt,
              r.completedAt
            )
            writeEvent("incoming_payment.created", r.id, incomingEventData(r), r.createdAt)
          })
        ),
      byId: (id) => incoming.byId(id),
      page: (walletAddressId, { limit, after }) => incoming.page(walletAddressId, after, limit),
      transition: (id, { from, to, completedAt }) =>
        Effect.sync(() =>
          transaction(() => {
            const moved = db.prepare(
              `UPDATE incoming_payments SET state = ?, completed_at = ? WHERE id = ? AND state IN (${placeholders(from.length)})`
            ).run(to, completedAt, id, ...from).changes === 1
            const type = incomingEventType(to)
            if (moved && type !== undefined) {
              const record = incomingFromRow(incomingById.get(id) as Row)
              writeEvent(type, id, incomingEventData(record), completedAt ?? record.expiresAt ?? record.createdAt)
            }
            return moved
          })
        ),
      overdue: (now, limit) => incoming.overdue(now, limit)
    },
    quotes: {
      insert: (r) =>
        Effect.asVoid(quotes.insert(
          r.id,
          r.walletAddressId,
          r.receiverKind,
          r.receiver,
          r.sharedSecret,
          r.paymentType,
          r.debitAmount.toString(),
          r.debitAssetCode,
          r.debitAssetScale,
          r.receiveAmount.toString(),
          r.receiveAssetCode,
          r.receiveAssetScale,
          r.maxPacketAmount.toString(),
          r.minExchangeRate,
          r.lowEstimatedExchangeRate,
          r.highEstimatedExchangeRate,
          r.expiresAt,
          r.createdAt
        )),
      byId: (id) => quotes.byId(id)
    },
    outgoingPayments: {
      insert: (r) =>
        Effect.sync(() => {
          try {
            outgoing.insert.run(r.id, r.quoteId, r.walletAddressId, r.createdAt, r.createdAt)
            return "inserted" as const
          } catch (error) {
            if (isUniqueViolation(error)) return "quoteUsed" as const
            throw error
          }
        }),
      byId: (id) => outgoing.byId(id),
      byQuote: (quoteId) => outgoing.byQuote(quoteId),
      removeFunding: (id) => Effect.asVoid(outgoing.removeFunding(id)),
      page: (walletAddressId, { limit, after }) => outgoing.page(walletAddressId, after, limit),
      unleased: (now, cursor, limit) => outgoing.unleased(now, cursor.createdAt, cursor.createdAt, cursor.id, limit),
      update: (id, patch, at) =>
        Effect.sync(() => {
          const sets: Array<string> = ["updated_at = ?"]
          const values: Array<SQLInputValue> = [at]
          if (patch.state !== undefined) sets.push("state = ?") && values.push(patch.state)
          if (patch.sentAmount !== undefined) sets.push("sent_amount = ?") && values.push(patch.sentAmount.toString())
          if (patch.deliveredAmount !== undefined) {
            sets.push("delivered_amount = ?") && values.push(patch.deliveredAmount.toString())
          }
          // Once an outcome is decided its reason stays (a late attempt must not overwrite a cancellation).
          if (patch.error !== undefined) sets.push("error = CASE WHEN outcome IS NULL THEN ? ELSE error END") && values.push(patch.error)
          transaction(() => {
            const before = outgoingById.get(id) as Row | undefined
            db.prepare(`UPDATE outgoing_payments SET ${sets.join(", ")} WHERE id = ?`).run(...values, id)
            if (before === undefined || patch.state === undefined) return
            const type = outgoingEventType(String(before.state) as OutgoingPaymentRecord["state"], patch.state)
            if (type !== undefined) writeEvent(type, id, outgoingEventData(outgoingFromRow(outgoingById.get(id) as Row)), at)
          })
        }),
      addAttempt: (id, at) => Effect.asVoid(outgoing.addAttempt(at, id)),
      recordProgress: (id, owner, progress, at) =>
        Effect.map(
          outgoing.recordProgress(progress.sentAmount.toString(), progress.deliveredAmount.toString(), at, id, owner),
          (changes) => changes === 1
        ),
      decide: (id, d, at) =>
        Effect.map(
          outgoing.decide(d.outcome, d.error, d.sentAmount === null ? null : d.sentAmount.toString(), at, id),
          (changes) => changes === 1
        ),
      lease: (id, owner, now, until) => Effect.map(outgoing.lease(owner, until, id, owner, now), (changes) => changes === 1),
      release: (id, owner) => Effect.asVoid(outgoing.release(id, owner))
    },
    events: {
      byId: (id) => events.byId(id),
      list: ({ limit, before, state }) => events.list(before, before, state ?? null, state ?? null, limit),
      due: (now, limit) => events.due(now, now, limit),
      claim: (id, owner, now, until) => Effect.map(events.claim(owner, until, id, owner, now), (changes) => changes === 1),
      attempted: (id, owner, result) =>
        Effect.map(
          events.attempted(
            result._tag === "retry" ? "pending" : result._tag,
            result.at,
            result._tag === "delivered" ? null : result.error.slice(0, eventErrorCharsMax),
            result._tag === "retry" ? result.nextAttemptAt : result.at,
            result._tag === "delivered" ? result.at : null,
            id,
            owner
          ),
          (changes) => changes === 1
        ),
      replay: (id, now) => Effect.flatMap(events.replay(now, id), (changes) => changes === 1 ? events.byId(id) : Effect.undefined),
      backlog: () => Effect.map(events.backlog(), (n) => n ?? 0),
      prune: (deliveredBefore, limit) => events.prune(deliveredBefore, limit),
      liquidityLow: (low, below, event) =>
        Effect.sync(() =>
          transaction(() => {
            const key = `${low.kind}:${low.id}`
            const wasBelow = events.alert.get(key) as { below: number } | undefined
            const was = wasBelow !== undefined && Number(wasBelow.below) === 1
            if (was === below) return false
            events.setAlert.run(key, below ? 1 : 0)
            if (!below) return false
            events.insert.run(
              event.id,
              low.kind === "peer" ? "liquidity.peer_low" : "liquidity.asset_low",
              low.id,
              liquidityEventData(low),
              event.at,
              event.at
            )
            return true
          })
        )
    }
  }
}

/**
 * The embedded store in `filename` (`:memory:` for tests), closed with the layer. Incoming payment
 * records are remembered in memory (this process is the file's only writer; `IncomingPaymentsCache.ts`).
 */
export const layer = (options: { readonly filename: string }): Layer.Layer<PaymentsStore> =>
  Layer.effect(
    PaymentsStore,
    Effect.map(
      Effect.acquireRelease(Effect.sync(() => open(options.filename)), (handle) => Effect.sync(() => handle.db.close())),
      (handle) => {
        const store = makeStore(handle)
        return { ...store, incomingPayments: cachedIncomingPayments(store.incomingPayments) }
      }
    )
  )
