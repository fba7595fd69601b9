/**
 * The PostgreSQL grant store against a real server (test/support/postgres.ts, one per file): the
 * shared grant store contract, and a token issued through one instance's pool found through another's.
 */
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { GrantStore } from "../../src/OpenPayments/GrantStore.ts"
import * as GrantStorePostgres from "../../src/OpenPayments/GrantStorePostgres.ts"
import * as Postgres from "../../src/Store/Postgres.ts"
import { type PostgresServer, startPostgres } from "../support/postgres.ts"
import { grant, grantStoreContract } from "./GrantStoreContract.ts"

let server: PostgresServer
let databases = 0

/** A store over its own pool (one "instance"). */
const openStore = async (url: string) => {
  const scope = await Effect.runPromise(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(GrantStorePostgres.layer.pipe(Layer.provide(Postgres.layer({ url: Redacted.make(url), connectionsMax: 4 }))), scope)
  )
  return { store: Context.get(context, GrantStore), close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

beforeAll(async () => {
  server = await startPostgres()
}, 60_000)

afterAll(async () => {
  await server?.stop()
}, 30_000)

grantStoreContract("postgres", async () => openStore(await server.createDatabase(`contract_${++databases}`)))

it("a token stored through instance A is found through instance B (both migrating at once)", async () => {
  const url = await server.createDatabase("two_instances")
  const [a, b] = await Promise.all([openStore(url), openStore(url)])
  try {
    await Effect.runPromise(a.store.create({
      grant: grant("g1"),
      continueTokenHash: "continue",
      token: { id: "t1", grantId: "g1", hash: "digest-1", expiresAt: 10_000 }
    }))
    expect((await Effect.runPromise(b.store.findToken("digest-1", 5_000)))?.grant).toEqual(grant("g1"))
    expect(await Effect.runPromise(b.store.revokeToken("t1"))).toBe(true)
    expect(await Effect.runPromise(a.store.findToken("digest-1", 5_000))).toBeUndefined()
  } finally {
    await Promise.all([a.close(), b.close()])
  }
}, 60_000)
