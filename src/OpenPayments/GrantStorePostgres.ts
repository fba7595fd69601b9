/**
 * The production grant store (`GrantStore` on PostgreSQL), shared by every instance: a grant or an
 * access token issued by one instance is found by any other. Same tables as the embedded store
 * (`GrantStore.ts`; its own migrations component, "openpayments", applied at start under the
 * advisory lock); times are BIGINT epoch milliseconds. Only SHA-256 digests of token and
 * continuation values are stored.
 *
 * Races between instances are decided by PostgreSQL: `rotateToken` is one transaction whose
 * conditional `UPDATE ... WHERE revoked = FALSE AND expires_at > now` lets exactly one rotation of a
 * token win; `revokeToken` is one conditional statement. A store fault is `GrantStoreUnavailable`
 * (answered 503), never "no such token".
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { migrate, type Migrations, type SchemaTooNew } from "../Store/Postgres.ts"
import { type AccessItem, type Grant, GrantStore, type GrantStoreShape, GrantStoreUnavailable, purgeBatchMax } from "./GrantStore.ts"

export const migrations: Migrations = {
  component: "openpayments",
  steps: [
    [
      `CREATE TABLE op_grants (
         id TEXT PRIMARY KEY,
         client TEXT NOT NULL,
         key_id TEXT NOT NULL,
         key_x TEXT NOT NULL,
         access TEXT NOT NULL,
         continue_token_hash TEXT NOT NULL,
         created_at BIGINT NOT NULL
       )`,
      `CREATE TABLE op_access_tokens (
         id TEXT PRIMARY KEY,
         grant_id TEXT NOT NULL REFERENCES op_grants(id) ON DELETE CASCADE,
         token_hash TEXT NOT NULL UNIQUE,
         expires_at BIGINT NOT NULL,
         revoked BOOLEAN NOT NULL DEFAULT FALSE
       )`,
      `CREATE INDEX op_access_tokens_expiry ON op_access_tokens(expires_at)`,
      `CREATE INDEX op_access_tokens_grant ON op_access_tokens(grant_id)`,
      `CREATE TABLE op_incoming_payment_clients (
         payment_id TEXT PRIMARY KEY,
         wallet_address_id TEXT NOT NULL,
         client TEXT NOT NULL,
         created_at BIGINT NOT NULL
       )`,
      `CREATE INDEX op_incoming_payment_clients_wallet ON op_incoming_payment_clients(wallet_address_id, client, payment_id)`
    ]
  ]
}

type Row = Record<string, unknown>

const grantOf = (row: Row): Grant => ({
  id: String(row.id),
  client: String(row.client),
  key: { kid: String(row.key_id), x: String(row.key_x) },
  access: JSON.parse(String(row.access)) as ReadonlyArray<AccessItem>,
  createdAt: Number(row.created_at)
})

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* migrate(migrations)

  const run = <A>(what: string, effect: Effect.Effect<A, SqlError>): Effect.Effect<A, GrantStoreUnavailable> =>
    effect.pipe(
      Effect.mapError((error) => new GrantStoreUnavailable({ reason: `${what}: ${error.message}` })),
      Effect.withSpan(`GrantStore.${what}`)
    )

  const insertToken = (token: { readonly id: string; readonly grantId: string; readonly hash: string; readonly expiresAt: number }) =>
    sql`INSERT INTO op_access_tokens (id, grant_id, token_hash, expires_at)
        VALUES (${token.id}, ${token.grantId}, ${token.hash}, ${token.expiresAt})`

  const store: GrantStoreShape = {
    create: ({ continueTokenHash, grant, token }) =>
      run(
        "create grant",
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO op_grants (id, client, key_id, key_x, access, continue_token_hash, created_at)
            VALUES (${grant.id}, ${grant.client}, ${grant.key.kid}, ${grant.key.x}, ${JSON.stringify(grant.access)},
              ${continueTokenHash}, ${grant.createdAt})`
          yield* insertToken(token)
        }))
      ),
    findToken: (hash, now) =>
      run(
        "find token",
        Effect.map(
          sql<Row>`SELECT g.*, t.id AS token_id, t.expires_at FROM op_access_tokens t JOIN op_grants g ON g.id = t.grant_id
            WHERE t.token_hash = ${hash} AND t.revoked = FALSE AND t.expires_at > ${now}`,
          (rows) => {
            const row = rows[0]
            return row === undefined ? undefined : {
              token: { id: String(row.token_id), grantId: String(row.id), expiresAt: Number(row.expires_at) },
              grant: grantOf(row)
            }
          }
        )
      ),
    revokeToken: (id) =>
      run(
        "revoke token",
        Effect.map(sql<Row>`UPDATE op_access_tokens SET revoked = TRUE WHERE id = ${id} AND revoked = FALSE RETURNING id`, (rows) =>
          rows.length > 0)
      ),
    rotateToken: (id, next, now) =>
      run(
        "rotate token",
        sql.withTransaction(Effect.gen(function*() {
          const revoked = yield* sql<Row>`UPDATE op_access_tokens SET revoked = TRUE
            WHERE id = ${id} AND grant_id = ${next.grantId} AND revoked = FALSE AND expires_at > ${now} RETURNING id`
          if (revoked.length === 0) return false
          yield* insertToken(next)
          return true
        }))
      ),
    findGrant: (id) =>
      run(
        "find grant",
        Effect.map(sql<Row>`SELECT * FROM op_grants WHERE id = ${id}`, (rows) => {
          const row = rows[0]
          return row === undefined ? undefined : { grant: grantOf(row), continueTokenHash: String(row.continue_token_hash) }
        })
      ),
    deleteGrant: (id) =>
      run(
        "delete grant",
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`DELETE FROM op_access_tokens WHERE grant_id = ${id}`
          return (yield* sql<Row>`DELETE FROM op_grants WHERE id = ${id} RETURNING id`).length > 0
        }))
      ),
    recordPaymentClient: (paymentId, walletAddressId, client, createdAt) =>
      run(
        "record payment client",
        Effect.asVoid(sql`INSERT INTO op_incoming_payment_clients (payment_id, wallet_address_id, client, created_at)
          VALUES (${paymentId}, ${walletAddressId}, ${client}, ${createdAt})`)
      ),
    paymentClient: (paymentId) =>
      run(
        "payment client",
        Effect.map(sql<Row>`SELECT client FROM op_incoming_payment_clients WHERE payment_id = ${paymentId}`, (rows) =>
          rows[0] === undefined ? undefined : String(rows[0].client))
      ),
    clientPayments: (walletAddressId, client, { after, limit }) =>
      run(
        "client payments",
        Effect.map(
          sql<Row>`SELECT payment_id FROM op_incoming_payment_clients
            WHERE wallet_address_id = ${walletAddressId} AND client = ${client} AND payment_id > ${after ?? ""}
            ORDER BY payment_id LIMIT ${limit}`,
          (rows) => rows.map((row) => String(row.payment_id))
        )
      ),
    purge: (now) =>
      run(
        "purge",
        Effect.gen(function*() {
          yield* sql`DELETE FROM op_access_tokens WHERE id IN
            (SELECT id FROM op_access_tokens WHERE expires_at <= ${now} OR revoked = TRUE LIMIT ${purgeBatchMax})`
          yield* sql`DELETE FROM op_grants WHERE id IN (SELECT g.id FROM op_grants g WHERE NOT EXISTS
            (SELECT 1 FROM op_access_tokens t WHERE t.grant_id = g.id) LIMIT ${purgeBatchMax})`
        })
      )
  }
  return GrantStore.of(store)
})

/** The PostgreSQL grant store over the `SqlClient` in context (see `Store/Postgres.ts`'s `layer`); migrates at build. */
export const layer: Layer.Layer<GrantStore, SqlError | SchemaTooNew, SqlClient> = Layer.effect(GrantStore, make)
