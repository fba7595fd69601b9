/**
 * PostgreSQL for the production profile's resource store: the client layer and a versioned
 * migrations runner, shared by every store built on it (payments resources here; peers, assets,
 * routes and rates settings can add their own component).
 *
 * Client: `@effect/sql-pg`'s pool (`PgClient` and `SqlClient`), its URL held `Redacted` so it never
 * reaches a log; a bounded pool (`connectionsMax`) and connect timeout.
 *
 * Migrations: each component (e.g. "payments") has an ordered list of SQL steps; version n is the
 * n-th step. `migrate` applies the missing ones in ONE transaction that first takes transaction
 * advisory locks (`pg_advisory_xact_lock`: one for every component, then the component's), so
 * instances (and the components of one instance) starting at once apply each step exactly
 * once: the others wait on the lock, then find the versions recorded. A database with a version
 * newer than this code knows is refused (an older binary must not write a newer schema).
 */
import { PgClient } from "@effect/sql-pg"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

export interface PostgresOptions {
  readonly url: Redacted.Redacted<string>
  /** Connections in the pool (bounded; queries wait for a free one). */
  readonly connectionsMax?: number | undefined
  readonly connectTimeoutMs?: number | undefined
}

export const defaults = { connectionsMax: 16, connectTimeoutMs: 5_000 } as const

/** `PgClient` + `SqlClient` for the given URL. */
export const layer = (options: PostgresOptions): Layer.Layer<PgClient.PgClient | SqlClient, SqlError> =>
  PgClient.layer({
    url: options.url,
    maxConnections: options.connectionsMax ?? defaults.connectionsMax,
    connectTimeout: `${options.connectTimeoutMs ?? defaults.connectTimeoutMs} millis`,
    applicationName: "ilp-connector"
  })

export interface Migrations {
  /** Names the component's versions in `schema_migrations` and its advisory lock. */
  readonly component: string
  /**
   * Step n (from 1) is `steps[n - 1]`, a list of statements (one statement per string: the
   * extended protocol takes one at a time). Never edit or reorder a released step, only append.
   */
  readonly steps: ReadonlyArray<ReadonlyArray<string>>
}

export class SchemaTooNew extends Data.TaggedError("SchemaTooNew")<{
  readonly component: string
  readonly database: number
  readonly code: number
}> {
  override get message() {
    return `the ${this.component} schema is at version ${this.database}, newer than this code's ${this.code}: upgrade the node`
  }
}

/** The 64-bit advisory lock key of a component (stable across versions and instances). Pure. */
export const lockKey = (component: string): bigint => {
  // FNV-1a 64, as a signed bigint (pg_advisory_xact_lock takes a bigint).
  let hash = 0xcbf29ce484222325n
  for (const byte of Buffer.from(`ilp-connector:migrations:${component}`, "utf8")) {
    hash ^= BigInt(byte)
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn
  }
  return BigInt.asIntN(64, hash)
}

/** Applies the missing steps of `migrations` under the component's advisory lock; answers the versions applied. */
export const migrate = (migrations: Migrations) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    return yield* sql.withTransaction(Effect.gen(function*() {
      // Every component's migrations under one lock too: the components of one node migrate at
      // once at start, and concurrent `CREATE TABLE IF NOT EXISTS schema_migrations` would race.
      yield* sql`SELECT pg_advisory_xact_lock(${lockKey("*")})`
      yield* sql`SELECT pg_advisory_xact_lock(${lockKey(migrations.component)})`
      yield* sql`CREATE TABLE IF NOT EXISTS schema_migrations (
        component TEXT NOT NULL,
        version INTEGER NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (component, version)
      )`
      const rows = yield* sql<{ version: number | null }>`
        SELECT MAX(version) AS version FROM schema_migrations WHERE component = ${migrations.component}`
      const current = rows[0]?.version ?? 0
      if (current > migrations.steps.length) {
        return yield* new SchemaTooNew({ component: migrations.component, database: current, code: migrations.steps.length })
      }
      const applied: Array<number> = []
      for (let version = current + 1; version <= migrations.steps.length; version++) {
        for (const statement of migrations.steps[version - 1]!) yield* sql.unsafe(statement)
        yield* sql`INSERT INTO schema_migrations (component, version) VALUES (${migrations.component}, ${version})`
        applied.push(version)
      }
      return applied
    }))
  }).pipe(Effect.withSpan("Postgres.migrate", { attributes: { component: migrations.component } }))

/** A `Redacted` URL with a label that says what it is, never its content. */
export const redactedUrl = (url: string): Redacted.Redacted<string> => Redacted.make(url, { label: "postgres url" })
