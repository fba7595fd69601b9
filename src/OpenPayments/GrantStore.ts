/**
 * What the Open Payments authorization server remembers: grants, their access tokens, and which
 * client created each incoming payment (so `read`/`list`/`complete` without `-all` reach only a
 * client's own payments).
 *
 * Async Effects: the embedded layer (`layerSqlite`, its own SQLite file in the data directory,
 * `openpayments.sqlite`) and the PostgreSQL one (`GrantStorePostgres.ts`, shared by every instance
 * when `postgresUrl` is set) pass one contract suite. Token and continuation values are never stored: only their
 * SHA-256 digests, looked up by digest. A store fault is `GrantStoreUnavailable` (answered 503),
 * never mistaken for "no such token".
 *
 * Bounds: tokens expire (`expiresAt`); expired and revoked rows are deleted by `purge` (the
 * authorization server calls it on each grant request, at most `purgeBatchMax` rows at a time).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { DatabaseSync } from "node:sqlite"
import { inTransaction } from "../SqliteTransaction.ts"

/** One access right as granted (Open Payments `access-incoming`). */
export interface AccessItem {
  readonly type: "incoming-payment"
  readonly actions: ReadonlyArray<string>
  /** The wallet address URL the right is limited to; undefined: any of this node's wallet addresses. */
  readonly identifier?: string | undefined
}

/** The Ed25519 public key a grant is bound to (a JWK). */
export interface BoundKey {
  readonly kid: string
  readonly x: string
}

export interface Grant {
  readonly id: string
  /** Who the client is: its wallet address URL, or `jwk:<kid>:<x>` for a directed-identity client. */
  readonly client: string
  readonly key: BoundKey
  readonly access: ReadonlyArray<AccessItem>
  readonly createdAt: number
}

export interface AccessToken {
  /** Names the token in its management URL. */
  readonly id: string
  readonly grantId: string
  readonly expiresAt: number
}

export class GrantStoreUnavailable extends Data.TaggedError("GrantStoreUnavailable")<{ readonly reason: string }> {}

export interface GrantStoreShape {
  /** Stores a grant with its first access token and continuation token (digests). */
  readonly create: (input: {
    readonly grant: Grant
    readonly continueTokenHash: string
    readonly token: AccessToken & { readonly hash: string }
  }) => Effect.Effect<void, GrantStoreUnavailable>
  /** The live token with this digest and its grant (expired or revoked tokens are not found). */
  readonly findToken: (
    hash: string,
    now: number
  ) => Effect.Effect<{ readonly token: AccessToken; readonly grant: Grant } | undefined, GrantStoreUnavailable>
  /** Revokes a token by id; false when there is none. */
  readonly revokeToken: (id: string) => Effect.Effect<boolean, GrantStoreUnavailable>
  /** Replaces a live token by `next` (same grant) in one step; false when `id` is no longer live. */
  readonly rotateToken: (
    id: string,
    next: AccessToken & { readonly hash: string },
    now: number
  ) => Effect.Effect<boolean, GrantStoreUnavailable>
  /** The grant and its continuation token digest. */
  readonly findGrant: (
    id: string
  ) => Effect.Effect<{ readonly grant: Grant; readonly continueTokenHash: string } | undefined, GrantStoreUnavailable>
  /** Deletes a grant and its tokens; false when there is none. */
  readonly deleteGrant: (id: string) => Effect.Effect<boolean, GrantStoreUnavailable>
  readonly recordPaymentClient: (
    paymentId: string,
    walletAddressId: string,
    client: string,
    createdAt: number
  ) => Effect.Effect<void, GrantStoreUnavailable>
  readonly paymentClient: (paymentId: string) => Effect.Effect<string | undefined, GrantStoreUnavailable>
  /** Ids of `client`'s payments at a wallet address, after `after`, in id order, at most `limit`. */
  readonly clientPayments: (
    walletAddressId: string,
    client: string,
    options: { readonly limit: number; readonly after: string | undefined }
  ) => Effect.Effect<ReadonlyArray<string>, GrantStoreUnavailable>
  /** Deletes tokens expired or revoked before `now` (and grants left without tokens). */
  readonly purge: (now: number) => Effect.Effect<void, GrantStoreUnavailable>
}

export class GrantStore extends Context.Service<GrantStore, GrantStoreShape>()("OpenPayments/GrantStore") {}

export const purgeBatchMax = 1_000

const schema = [
  `CREATE TABLE IF NOT EXISTS op_grants (
     id TEXT PRIMARY KEY,
     client TEXT NOT NULL,
     key_id TEXT NOT NULL,
     key_x TEXT NOT NULL,
     access TEXT NOT NULL,
     continue_token_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS op_access_tokens (
     id TEXT PRIMARY KEY,
     grant_id TEXT NOT NULL REFERENCES op_grants(id) ON DELETE CASCADE,
     token_hash TEXT NOT NULL UNIQUE,
     expires_at INTEGER NOT NULL,
     revoked INTEGER NOT NULL DEFAULT 0
   )`,
  `CREATE INDEX IF NOT EXISTS op_access_tokens_expiry ON op_access_tokens(expires_at)`,
  `CREATE TABLE IF NOT EXISTS op_incoming_payment_clients (
     payment_id TEXT PRIMARY KEY,
     wallet_address_id TEXT NOT NULL,
     client TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS op_incoming_payment_clients_wallet ON op_incoming_payment_clients(wallet_address_id, client, payment_id)`
]

interface GrantRow {
  id: string
  client: string
  key_id: string
  key_x: string
  access: string
  created_at: number
}

interface TokenRow extends GrantRow {
  token_id: string
  expires_at: number
}

/** Opens (creating if missing) the embedded grant database: WAL, its `op_*` tables. */
const openSqlite = (filename: string): DatabaseSync => {
  const db = new DatabaseSync(filename)
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000")
  for (const statement of schema) db.exec(statement)
  return db
}

/** The embedded store over an open database (this process owns the file: one process per data directory). */
const makeSqlite = (db: DatabaseSync) => {
  const transaction = <A>(f: () => A): A => inTransaction(db, f)
  const insertGrant = db.prepare(
    "INSERT INTO op_grants (id, client, key_id, key_x, access, continue_token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
  )
  const insertToken = db.prepare("INSERT INTO op_access_tokens (id, grant_id, token_hash, expires_at) VALUES (?, ?, ?, ?)")
  const byHash = db.prepare(
    `SELECT g.*, t.id AS token_id, t.expires_at FROM op_access_tokens t JOIN op_grants g ON g.id = t.grant_id
     WHERE t.token_hash = ? AND t.revoked = 0 AND t.expires_at > ?`
  )
  const revoke = db.prepare("UPDATE op_access_tokens SET revoked = 1 WHERE id = ? AND revoked = 0")
  const revokeLive = db.prepare("UPDATE op_access_tokens SET revoked = 1 WHERE id = ? AND grant_id = ? AND revoked = 0 AND expires_at > ?")
  const grantById = db.prepare("SELECT * FROM op_grants WHERE id = ?")
  const deleteTokens = db.prepare("DELETE FROM op_access_tokens WHERE grant_id = ?")
  const deleteGrantRow = db.prepare("DELETE FROM op_grants WHERE id = ?")
  const insertClient = db.prepare(
    "INSERT INTO op_incoming_payment_clients (payment_id, wallet_address_id, client, created_at) VALUES (?, ?, ?, ?)"
  )
  const clientOf = db.prepare("SELECT client FROM op_incoming_payment_clients WHERE payment_id = ?")
  const ownPage = db.prepare(
    `SELECT payment_id FROM op_incoming_payment_clients WHERE wallet_address_id = ? AND client = ? AND payment_id > ?
     ORDER BY payment_id LIMIT ?`
  )
  const purgeTokens = db.prepare(
    `DELETE FROM op_access_tokens WHERE id IN
       (SELECT id FROM op_access_tokens WHERE expires_at <= ? OR revoked = 1 LIMIT ${purgeBatchMax})`
  )
  const purgeGrants = db.prepare(
    `DELETE FROM op_grants WHERE id IN (SELECT g.id FROM op_grants g WHERE NOT EXISTS
       (SELECT 1 FROM op_access_tokens t WHERE t.grant_id = g.id) LIMIT ${purgeBatchMax})`
  )

  const run = <A>(what: string, f: () => A) =>
    Effect.try({ try: f, catch: (error) => new GrantStoreUnavailable({ reason: `${what}: ${(error as Error).message}` }) })

  const grantOf = (row: GrantRow): Grant => ({
    id: row.id,
    client: row.client,
    key: { kid: row.key_id, x: row.key_x },
    access: JSON.parse(row.access) as ReadonlyArray<AccessItem>,
    createdAt: row.created_at
  })

  return GrantStore.of({
    create: ({ continueTokenHash, grant, token }) =>
      run("create grant", () =>
        transaction(() => {
          insertGrant.run(grant.id, grant.client, grant.key.kid, grant.key.x, JSON.stringify(grant.access), continueTokenHash, grant.createdAt)
          insertToken.run(token.id, grant.id, token.hash, token.expiresAt)
        })),
    findToken: (hash, now) =>
      run("find token", () => {
        const row = byHash.get(hash, now) as TokenRow | undefined
        return row === undefined ? undefined : {
          token: { id: row.token_id, grantId: row.id, expiresAt: row.expires_at },
          grant: grantOf(row)
        }
      }),
    revokeToken: (id) => run("revoke token", () => Number(revoke.run(id).changes) > 0),
    rotateToken: (id, next, now) =>
      run("rotate token", () =>
        transaction(() => {
          if (Number(revokeLive.run(id, next.grantId, now).changes) === 0) return false
          insertToken.run(next.id, next.grantId, next.hash, next.expiresAt)
          return true
        })),
    findGrant: (id) =>
      run("find grant", () => {
        const row = grantById.get(id) as (GrantRow & { continue_token_hash: string }) | undefined
        return row === undefined ? undefined : { grant: grantOf(row), continueTokenHash: row.continue_token_hash }
      }),
    deleteGrant: (id) =>
      run("delete grant", () =>
        transaction(() => {
          deleteTokens.run(id)
          return Number(deleteGrantRow.run(id).changes) > 0
        })),
    recordPaymentClient: (paymentId, walletAddressId, client, createdAt) =>
      run("record payment client", () => {
        insertClient.run(paymentId, walletAddressId, client, createdAt)
      }),
    paymentClient: (paymentId) =>
      run("payment client", () => (clientOf.get(paymentId) as { client: string } | undefined)?.client),
    clientPayments: (walletAddressId, client, { after, limit }) =>
      run("client payments", () =>
        (ownPage.all(walletAddressId, client, after ?? "", limit) as unknown as Array<{ payment_id: string }>).map((row) =>
          row.payment_id
        )),
    purge: (now) =>
      run("purge", () => {
        purgeTokens.run(now)
        purgeGrants.run()
      })
  })
}

/** The embedded grant store in `filename` (`:memory:` for tests), closed with the layer. */
export const layerSqlite = (options: { readonly filename: string }): Layer.Layer<GrantStore> =>
  Layer.effect(
    GrantStore,
    Effect.map(
      Effect.acquireRelease(Effect.sync(() => openSqlite(options.filename)), (db) => Effect.sync(() => db.close())),
      makeSqlite
    )
  )
