/**
 * The PostgreSQL payments store against a real server (test/support/postgres.ts, one per file):
 * the shared contract, and migrations under the advisory lock when several instances start at once.
 */
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { afterAll, beforeAll, expect, it } from "vitest"
import { PaymentsStore, type PaymentsStoreShape } from "../../src/Payments/Store.ts"
import * as StorePostgres from "../../src/Payments/StorePostgres.ts"
import * as StorePostgresSchema from "../../src/Payments/StorePostgresSchema.ts"
import * as Postgres from "../../src/Store/Postgres.ts"
import { type PostgresServer, startPostgres } from "../support/postgres.ts"
import { paymentsStoreContract } from "./StoreContract.ts"

let server: PostgresServer
let store: PaymentsStoreShape
let close: () => Promise<void> = async () => {}

/** A store over its own pool (one "instance"), open until `release`. */
const openStore = async (url: string) => {
  const scope = await Effect.runPromise(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(StorePostgres.layer.pipe(Layer.provideMerge(Postgres.layer({ url: Redacted.make(url) }))), scope)
  )
  return {
    store: Context.get(context, PaymentsStore),
    sql: Context.get(context, SqlClient),
    release: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

beforeAll(async () => {
  server = await startPostgres()
  const opened = await openStore(await server.createDatabase("contract"))
  store = opened.store
  close = opened.release
}, 60_000)

afterAll(async () => {
  await close()
  await server?.stop()
}, 30_000)

paymentsStoreContract("postgres", () => store)

it("instances starting at once apply each migration exactly once", async () => {
  const url = await server.createDatabase("concurrent_start")
  const instances = await Promise.all(Array.from({ length: 6 }, () => openStore(url)))
  try {
    const rows = await Effect.runPromise(
      instances[0]!.sql<{ component: string; version: number }>`SELECT component, version FROM schema_migrations ORDER BY version`
    )
    expect(rows.map((row) => [row.component, row.version])).toEqual(
      StorePostgresSchema.migrations.steps.map((_, i) => ["payments", i + 1])
    )
    // Every instance works on the one schema.
    const wallets = await Effect.runPromise(instances[3]!.store.walletAddresses.page({ after: "", limit: 10 }))
    expect(wallets).toEqual([])
  } finally {
    await Promise.all(instances.map((instance) => instance.release()))
  }
}, 60_000)

it("a database migrated by newer code is refused with a clear message", async () => {
  const url = await server.createDatabase("too_new")
  const first = await openStore(url)
  await Effect.runPromise(first.sql`INSERT INTO schema_migrations (component, version) VALUES ('payments', 999)`)
  await first.release()
  const exit = await Effect.runPromiseExit(
    Effect.scoped(Layer.build(StorePostgres.layer.pipe(Layer.provide(Postgres.layer({ url: Redacted.make(url) })))))
  )
  expect(Exit.isFailure(exit)).toBe(true)
  expect(String(JSON.stringify(exit))).toContain("SchemaTooNew")
}, 60_000)
