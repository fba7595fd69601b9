/**
 * The embedded settings store: its own SQLite file (`settings.sqlite` beside the payments store in
 * the data directory; `:memory:` for tests), created with mode 0600 because it holds outgoing peer
 * tokens. One process owns the file, so `changes` never emits and no periodic reload is needed.
 *
 * Tables: `settings_peers` (id, JSON body, `deleted_at` for tombstones), `settings_assets`,
 * `settings_rates`, `settings_seeded` (config keys already seeded once) and `settings_version`
 * (one row, bumped by every write in the same transaction).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { chmodSync, closeSync, openSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import type { Asset } from "../Config.ts"
import type { StaticRate } from "../Rates/Rates.ts"
import {
  assetKey,
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

const schema = `
  CREATE TABLE IF NOT EXISTS settings_peers (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    deleted_at INTEGER,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS settings_assets (
    code TEXT NOT NULL,
    scale INTEGER NOT NULL,
    PRIMARY KEY (code, scale)
  );
  CREATE TABLE IF NOT EXISTS settings_rates (
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    rate TEXT NOT NULL,
    spread TEXT,
    PRIMARY KEY (base, quote)
  );
  CREATE TABLE IF NOT EXISTS settings_seeded (key TEXT PRIMARY KEY);
  CREATE TABLE IF NOT EXISTS settings_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
  INSERT OR IGNORE INTO settings_version (id, version) VALUES (1, 0);
`

/** Creates the file readable by its owner only (it holds outgoing peer tokens). */
const createPrivate = (filename: string): void => {
  if (filename === ":memory:") return
  closeSync(openSync(filename, "a", 0o600))
  chmodSync(filename, 0o600)
}

export const make = (filename: string): { readonly store: SettingsStoreShape; readonly close: () => void } => {
  createPrivate(filename)
  const db = new DatabaseSync(filename)
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000")
  db.exec(schema)

  const bump = db.prepare("UPDATE settings_version SET version = version + 1 WHERE id = 1")
  const readVersion = db.prepare("SELECT version FROM settings_version WHERE id = 1")
  const livePeers = db.prepare("SELECT body FROM settings_peers WHERE deleted_at IS NULL ORDER BY id")
  const retired = db.prepare("SELECT body FROM settings_peers WHERE deleted_at IS NOT NULL")
  const upsertPeer = db.prepare(
    `INSERT INTO settings_peers (id, body, deleted_at, updated_at) VALUES (?, ?, NULL, ?)
     ON CONFLICT (id) DO UPDATE SET body = excluded.body, deleted_at = NULL, updated_at = excluded.updated_at`
  )
  const hasLivePeer = db.prepare("SELECT 1 AS found FROM settings_peers WHERE id = ? AND deleted_at IS NULL")
  const retirePeer = db.prepare("UPDATE settings_peers SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL")
  const assets = db.prepare("SELECT code, scale FROM settings_assets ORDER BY code, scale")
  const insertAsset = db.prepare("INSERT OR IGNORE INTO settings_assets (code, scale) VALUES (?, ?)")
  const removeAsset = db.prepare("DELETE FROM settings_assets WHERE code = ? AND scale = ?")
  const rates = db.prepare("SELECT base, quote, rate, spread FROM settings_rates ORDER BY base, quote")
  const upsertRate = db.prepare(
    `INSERT INTO settings_rates (base, quote, rate, spread) VALUES (?, ?, ?, ?)
     ON CONFLICT (base, quote) DO UPDATE SET rate = excluded.rate, spread = excluded.spread`
  )
  const hasRate = db.prepare("SELECT 1 AS found FROM settings_rates WHERE base = ? AND quote = ?")
  const removeRate = db.prepare("DELETE FROM settings_rates WHERE base = ? AND quote = ?")
  const markSeeded = db.prepare("INSERT OR IGNORE INTO settings_seeded (key) VALUES (?)")

  /** One write transaction that bumps the version; a throw rolls it back. */
  const write = <A>(f: () => A): A => {
    db.exec("BEGIN IMMEDIATE")
    try {
      const result = f()
      bump.run()
      db.exec("COMMIT")
      return result
    } catch (error) {
      db.exec("ROLLBACK")
      throw error
    }
  }

  const attempt = <A>(what: string, f: () => A): Effect.Effect<A, SettingsUnavailable> =>
    Effect.try({
      try: f,
      catch: (cause) => new SettingsUnavailable({ message: `settings store: ${what} failed: ${(cause as Error).message}`, cause })
    })

  const putRateRow = (rate: StaticRate) => upsertRate.run(rate.base, rate.quote, rate.rate, rate.spread ?? null)
  const now = () => Date.now()

  const load = attempt("load", (): StoredSettings => {
    db.exec("BEGIN")
    try {
      const version = (readVersion.get() as { version: number }).version
      const peers = (livePeers.all() as Array<{ body: string }>).map((row) => decodePeer(row.body))
      const retiredPeers = new Map(
        (retired.all() as Array<{ body: string }>).map((row) => {
          const peer = decodePeer(row.body)
          return [peer.id, peer.asset] as const
        })
      )
      const assetRows = (assets.all() as Array<{ code: string; scale: number }>).map((row): Asset => ({ code: row.code, scale: row.scale }))
      const rateRows = (rates.all() as Array<{ base: string; quote: string; rate: string; spread: string | null }>).map(
        (row): StaticRate => ({ base: row.base, quote: row.quote, rate: row.rate, ...(row.spread === null ? {} : { spread: row.spread }) })
      )
      return { version, peers, retiredPeers, assets: assetRows, rates: rateRows }
    } finally {
      db.exec("COMMIT")
    }
  })

  const seed = (data: SettingsData) =>
    attempt("seed", () =>
      write(() => {
        const seeded: Array<string> = []
        const once = (key: string, apply: () => void) => {
          if (markSeeded.run(key).changes === 0) return
          apply()
          seeded.push(key)
        }
        for (const asset of data.assets) once(seedKeys.asset(asset), () => insertAsset.run(asset.code, asset.scale))
        for (const peer of data.peers) {
          // A peer created through the API before the config file named it keeps its stored values.
          once(seedKeys.peer(peer.id), () => {
            if (hasLivePeer.get(peer.id) === undefined) upsertPeer.run(peer.id, encodePeer(peer), now())
          })
        }
        for (const rate of data.rates) {
          once(seedKeys.rate(rate.base, rate.quote), () => {
            if (hasRate.get(rate.base, rate.quote) === undefined) putRateRow(rate)
          })
        }
        return seeded
      }))

  const store: SettingsStoreShape = {
    load,
    version: attempt("version", () => (readVersion.get() as { version: number }).version),
    putPeer: (peer) =>
      Effect.flatten(attempt("put peer", () =>
        write(() => {
          const holder = tokenHolder(peer, (livePeers.all() as Array<{ body: string }>).map((row) => decodePeer(row.body)))
          if (holder !== undefined) return Effect.fail(tokenTaken(peer, holder))
          upsertPeer.run(peer.id, encodePeer(peer), now())
          return Effect.void
        }))),
    deletePeer: (id) => attempt("delete peer", () => write(() => retirePeer.run(now(), now(), id).changes > 0)),
    putAsset: (asset) => attempt("put asset", () => write(() => void insertAsset.run(asset.code, asset.scale))),
    deleteAsset: (asset) => attempt("delete asset", () => write(() => removeAsset.run(asset.code, asset.scale).changes > 0)),
    putRate: (rate) => attempt("put rate", () => write(() => void putRateRow(rate))),
    deleteRate: (base, quote) => attempt("delete rate", () => write(() => removeRate.run(base, quote).changes > 0)),
    seed,
    changes: Stream.never,
    reloadIntervalMs: undefined
  }
  return { store, close: () => db.close() }
}

export { assetKey }

/** The embedded settings store in `filename`, closed with the layer's scope. */
export const layer = (options: { readonly filename: string }): Layer.Layer<SettingsStore> =>
  Layer.effect(
    SettingsStore,
    Effect.map(
      Effect.acquireRelease(Effect.sync(() => make(options.filename)), (made) => Effect.sync(made.close)),
      (made) => made.store
    )
  )
