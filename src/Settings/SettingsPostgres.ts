/**
 * The production settings store: peers, assets and static rates in PostgreSQL, shared by every
 * instance (the same database as the payments store; its own migrations component, "settings",
 * applied at start by `Store/Postgres.ts`'s runner under an advisory lock).
 *
 * Writes: one transaction each, which first bumps the one-row `settings_version` (taking its row
 * lock, so writers on several instances are serialised by the database: a seed racing a seed, a
 * put racing a delete), then changes the rows, then `NOTIFY settings` (delivered at commit, only if
 * the transaction commits). Reads (`load`) run in one REPEATABLE READ transaction, so the version
 * and the rows come from one snapshot.
 *
 * `changes`: a `LISTEN settings` on a dedicated connection (`PgClient.listen`), opened when the
 * stream is run. It emits once when the listen is confirmed (a change made while it was not
 * listening is picked up), then once per batch of notifications (bursts are coalesced: every
 * notification already queued is taken at once). If the connection fails, it reconnects after
 * `reconnectDelayMs`, doubling while it keeps failing (at most `reconnectDelayMsMax`, 5 s), and
 * emits on each reconnect. `reloadIntervalMs` (default 1 000) is the backstop `NodeSettings` uses
 * when a notification is lost: the 2 s bound holds even without notifications.
 *
 * Store faults are `SettingsUnavailable` (the API answers 503), with the failing operation named;
 * the URL never appears (it is `Redacted` in the client layer).
 */
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { SqlClient } from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import type { Asset } from "../Config.ts"
import type { StaticRate } from "../Rates/Rates.ts"
import { migrate, type Migrations, type SchemaTooNew } from "../Store/Postgres.ts"
import {
  decodePeer,
  encodePeer,
  seedKeys,
  type SettingsData,
  SettingsStore,
  type SettingsStoreShape,
  SettingsUnavailable,
  type StoredSettings,
  tokenHolder,
  tokenTaken
} from "./SettingsStore.ts"

/** The NOTIFY channel every writing transaction signals on. */
export const channel = "settings"

export const defaults = {
  /** Backstop reload period (NodeSettings): a lost notification is picked up within this. */
  reloadIntervalMs: 1_000,
  /** Wait before re-opening a failed LISTEN connection (doubling on each failure in a row). */
  reconnectDelayMs: 500,
  /** Longest wait between attempts while the database stays unreachable. */
  reconnectDelayMsMax: 5_000
} as const

export interface SettingsPostgresOptions {
  readonly reloadIntervalMs?: number | undefined
  readonly reconnectDelayMs?: number | undefined
}

export const migrations: Migrations = {
  component: "settings",
  steps: [
    [
      `CREATE TABLE settings_peers (
         id TEXT PRIMARY KEY,
         body TEXT NOT NULL,
         deleted_at BIGINT,
         updated_at BIGINT NOT NULL
       )`,
      `CREATE TABLE settings_assets (
         code TEXT NOT NULL,
         scale INTEGER NOT NULL,
         PRIMARY KEY (code, scale)
       )`,
      `CREATE TABLE settings_rates (
         base TEXT NOT NULL,
         quote TEXT NOT NULL,
         rate TEXT NOT NULL,
         spread TEXT,
         PRIMARY KEY (base, quote)
       )`,
      `CREATE TABLE settings_seeded (key TEXT PRIMARY KEY)`,
      `CREATE TABLE settings_version (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)`,
      `INSERT INTO settings_version (id, version) VALUES (1, 0)`
    ]
  ]
}

type Row = Record<string, unknown>

const peerBodies = (rows: ReadonlyArray<Row>) => rows.map((row) => decodePeer(String(row.body)))

export const make = (options: SettingsPostgresOptions = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const pg = yield* PgClient.PgClient
    yield* migrate(migrations)
    const reconnectDelayMs = options.reconnectDelayMs ?? defaults.reconnectDelayMs

    const attempt = <A>(what: string, effect: Effect.Effect<A, SqlError>): Effect.Effect<A, SettingsUnavailable> =>
      effect.pipe(
        Effect.mapError((cause) => new SettingsUnavailable({ message: `settings store: ${what} failed: ${cause.message}`, cause })),
        Effect.withSpan(`SettingsStore.${what}`)
      )

    /**
     * One writing transaction: bump the version first (row lock: writers queue here), then `body`,
     * then NOTIFY. A refusal from `body` (`SettingsTokenTaken`) rolls it all back.
     */
    const write = <A, E>(what: string, body: Effect.Effect<A, E>): Effect.Effect<A, SettingsUnavailable | Exclude<E, SqlError>> =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`UPDATE settings_version SET version = version + 1 WHERE id = 1`
        const result = yield* body
        yield* sql`SELECT pg_notify(${channel}, '')`
        return result
      })).pipe(
        Effect.catchIf(
          (error): error is SqlError => isSqlError(error),
          (cause) => Effect.fail(new SettingsUnavailable({ message: `settings store: ${what} failed: ${cause.message}`, cause }))
        ),
        Effect.withSpan(`SettingsStore.${what}`)
      ) as Effect.Effect<A, SettingsUnavailable | Exclude<E, SqlError>>

    const now = () => Date.now()
    const readVersion = Effect.map(sql<Row>`SELECT version FROM settings_version WHERE id = 1`, (rows) => Number(rows[0]!.version))
    const upsertPeer = (id: string, body: string) =>
      sql`INSERT INTO settings_peers (id, body, deleted_at, updated_at) VALUES (${id}, ${body}, NULL, ${now()})
          ON CONFLICT (id) DO UPDATE SET body = excluded.body, deleted_at = NULL, updated_at = excluded.updated_at`
    const insertAsset = (asset: Asset) =>
      sql`INSERT INTO settings_assets (code, scale) VALUES (${asset.code}, ${asset.scale}) ON CONFLICT DO NOTHING`
    const upsertRate = (rate: StaticRate) =>
      sql`INSERT INTO settings_rates (base, quote, rate, spread) VALUES (${rate.base}, ${rate.quote}, ${rate.rate}, ${rate.spread ?? null})
          ON CONFLICT (base, quote) DO UPDATE SET rate = excluded.rate, spread = excluded.spread`
    const changed = (rows: ReadonlyArray<Row>) => rows.length > 0

    const load = attempt(
      "load",
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`
        const version = yield* readVersion
        const peers = peerBodies(yield* sql<Row>`SELECT body FROM settings_peers WHERE deleted_at IS NULL ORDER BY id`)
        const retired = peerBodies(yield* sql<Row>`SELECT body FROM settings_peers WHERE deleted_at IS NOT NULL`)
        const assets = (yield* sql<Row>`SELECT code, scale FROM settings_assets ORDER BY code, scale`).map(
          (row): Asset => ({ code: String(row.code), scale: Number(row.scale) })
        )
        const rates = (yield* sql<Row>`SELECT base, quote, rate, spread FROM settings_rates ORDER BY base, quote`).map(
          (row): StaticRate => ({
            base: String(row.base),
            quote: String(row.quote),
            rate: String(row.rate),
            ...(row.spread === null ? {} : { spread: String(row.spread) })
          })
        )
        const stored: StoredSettings = {
          version,
          peers,
          retiredPeers: new Map(retired.map((peer) => [peer.id, peer.asset] as const)),
          assets,
          rates
        }
        return stored
      }))
    )

    const seed = (data: SettingsData) =>
      write(
        "seed",
        Effect.gen(function*() {
          const seeded: Array<string> = []
          /** Applies `apply` only if this transaction is the first to record `key` (the version lock serialises seeds). */
          const once = (key: string, apply: Effect.Effect<unknown, SqlError>) =>
            Effect.gen(function*() {
              const marked = yield* sql<Row>`INSERT INTO settings_seeded (key) VALUES (${key}) ON CONFLICT DO NOTHING RETURNING key`
              if (marked.length === 0) return
              yield* apply
              seeded.push(key)
            })
          for (const asset of data.assets) yield* once(seedKeys.asset(asset), insertAsset(asset))
          for (const peer of data.peers) {
            // A peer created through the API before the config file named it keeps its stored values.
            yield* once(
              seedKeys.peer(peer.id),
              sql`INSERT INTO settings_peers (id, body, deleted_at, updated_at) VALUES (${peer.id}, ${encodePeer(peer)}, NULL, ${now()})
                  ON CONFLICT (id) DO UPDATE SET body = excluded.body, deleted_at = NULL, updated_at = excluded.updated_at
                  WHERE settings_peers.deleted_at IS NOT NULL`
            )
          }
          for (const rate of data.rates) {
            yield* once(
              seedKeys.rate(rate.base, rate.quote),
              sql`INSERT INTO settings_rates (base, quote, rate, spread) VALUES (${rate.base}, ${rate.quote}, ${rate.rate}, ${rate.spread ?? null})
                  ON CONFLICT (base, quote) DO NOTHING`
            )
          }
          return seeded as ReadonlyArray<string>
        })
      )

    /** Emits once per confirmed LISTEN, then once per batch of notifications; fails when the connection does. */
    const listenOnce: Stream.Stream<void, SqlError> = Stream.unwrap(
      Effect.map(pg.listen(channel), (queue) =>
        Stream.concat(
          Stream.succeed(undefined),
          Stream.fromEffectRepeat(Effect.asVoid(Queue.takeAll(queue)))
        ))
    )
    const changes: Stream.Stream<void> = listenOnce.pipe(
      Stream.tapError((error) => Effect.logWarning(`settings: LISTEN ${channel} lost (${error.message}); reconnecting`)),
      // Backing off (doubling up to `reconnectDelayMsMax`) while the database is down; reset once listening again.
      Stream.retry(Schedule.min([Schedule.exponential(`${reconnectDelayMs} millis`), Schedule.spaced(`${defaults.reconnectDelayMsMax} millis`)])),
      Stream.orDie
    )

    const store: SettingsStoreShape = {
      load,
      version: attempt("version", readVersion),
      putPeer: (peer) =>
        write(
          "put peer",
          Effect.gen(function*() {
            // Under the version row lock: no other instance can store a peer between this check and the commit.
            const live = peerBodies(yield* sql<Row>`SELECT body FROM settings_peers WHERE deleted_at IS NULL AND id <> ${peer.id}`)
            const holder = tokenHolder(peer, live)
            if (holder !== undefined) return yield* Effect.fail(tokenTaken(peer, holder))
            yield* upsertPeer(peer.id, encodePeer(peer))
          })
        ),
      deletePeer: (id) =>
        write(
          "delete peer",
          Effect.map(
            sql<Row>`UPDATE settings_peers SET deleted_at = ${now()}, updated_at = ${now()} WHERE id = ${id} AND deleted_at IS NULL RETURNING id`,
            changed
          )
        ),
      putAsset: (asset) => write("put asset", Effect.asVoid(insertAsset(asset))),
      deleteAsset: (asset) =>
        write(
          "delete asset",
          Effect.map(sql<Row>`DELETE FROM settings_assets WHERE code = ${asset.code} AND scale = ${asset.scale} RETURNING code`, changed)
        ),
      putRate: (rate) => write("put rate", Effect.asVoid(upsertRate(rate))),
      deleteRate: (base, quote) =>
        write(
          "delete rate",
          Effect.map(sql<Row>`DELETE FROM settings_rates WHERE base = ${base} AND quote = ${quote} RETURNING base`, changed)
        ),
      seed,
      changes,
      reloadIntervalMs: options.reloadIntervalMs ?? defaults.reloadIntervalMs
    }
    return SettingsStore.of(store)
  })

/** The PostgreSQL settings store over the `PgClient` in context (see `Store/Postgres.ts`'s `layer`); migrates at build. */
export const layer = (
  options: SettingsPostgresOptions = {}
): Layer.Layer<SettingsStore, SqlError | SchemaTooNew, SqlClient | PgClient.PgClient> => Layer.effect(SettingsStore, make(options))
