/**
 * Wallet addresses: a URL this node answers SPSP for, an asset, and an active flag. Each has a
 * ledger account (credit-normal, may not go below zero) that receives SPSP payments and funds
 * outgoing payments.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { AccountCode, Ledger, type LedgerUnavailable } from "../Accounting/Ledger.ts"
import { assetAccounts, ids, ledgerOf } from "../Accounting/Accounts.ts"
import type { Asset } from "../Config.ts"
import { PaymentsStore, type WalletAddressRecord } from "./Store.ts"

export interface WalletAddress {
  readonly id: string
  readonly url: string
  readonly asset: Asset
  readonly publicName: string | undefined
  readonly active: boolean
  readonly createdAt: number
  readonly ledgerAccountId: bigint
}

export class WalletAddressNotFound extends Data.TaggedError("WalletAddressNotFound")<{ readonly id: string }> {}
export class WalletAddressConflict extends Data.TaggedError("WalletAddressConflict")<{ readonly message: string }> {}
export class InvalidWalletAddress extends Data.TaggedError("InvalidWalletAddress")<{ readonly message: string }> {}

export interface CreateWalletAddress {
  readonly url: string
  readonly asset: Asset
  readonly publicName?: string | undefined
}

export interface WalletAddressesShape {
  readonly create: (
    input: CreateWalletAddress
  ) => Effect.Effect<WalletAddress, WalletAddressConflict | InvalidWalletAddress | LedgerUnavailable>
  readonly get: (id: string) => Effect.Effect<WalletAddress, WalletAddressNotFound>
  /** By URL path (what SPSP requests carry); only active ones unless `includeInactive`. */
  readonly findByPath: (path: string) => Effect.Effect<WalletAddress | undefined>
  readonly list: (options: { readonly limit: number; readonly after?: string | undefined }) => Effect.Effect<ReadonlyArray<WalletAddress>>
  readonly setActive: (id: string, active: boolean) => Effect.Effect<WalletAddress, WalletAddressNotFound>
}

export class WalletAddresses extends Context.Service<WalletAddresses, WalletAddressesShape>()(
  "Payments/WalletAddresses"
) {}

/** Most rows one list call returns. */
export const listLimitMax = 500

const fromRecord = (record: WalletAddressRecord): WalletAddress => ({
  id: record.id,
  url: record.url,
  asset: { code: record.assetCode, scale: record.assetScale },
  publicName: record.publicName ?? undefined,
  active: record.active,
  createdAt: record.createdAt,
  ledgerAccountId: ids.walletAddress(record.id)
})

/** Longest wallet address URL path, in characters (longer SPSP paths are answered 404 unread). */
export const pathCharsMax = 1024

/**
 * `path` without its trailing slashes. A linear scan: the regular expression `/\/+$/` this replaces
 * backtracks quadratically on a path of many slashes not at the end (`/` × 16 000 + `a` cost
 * ~380 ms of event loop per request).
 */
export const trimTrailingSlashes = (path: string): string => {
  let end = path.length
  while (end > 0 && path.charCodeAt(end - 1) === 47 /* "/" */) end--
  return end === path.length ? path : path.slice(0, end)
}

/**
 * Wallet addresses read on the packet path are cached per instance: at most `cacheEntriesMax`, each
 * for `cacheTtlMs`. A wallet's asset and id never change; its active flag set through another
 * instance takes effect here within `cacheTtlMs` (through this instance, at once). An incoming
 * payment's state is never served from this cache (see IncomingPayments.ts).
 */
export const cacheTtlMs = 1_000
export const cacheEntriesMax = 10_000

export interface WalletCache {
  /** The wallet if cached less than `ttlMs` ago, now the most recently used; an older entry is dropped. */
  readonly get: (id: string, nowMs: number) => WalletAddress | undefined
  /** Caches (or refreshes) the wallet as the most recently used, evicting the least recently used when full. */
  readonly set: (wallet: WalletAddress, nowMs: number) => void
  readonly delete: (id: string) => void
  readonly size: () => number
}

/**
 * A least-recently-used cache of at most `entriesMax` wallet addresses, each fresh for `ttlMs`.
 * A Map keeps insertion order, so every hit and every refresh re-inserts its entry at the end and
 * the first key is always the least recently used: a wallet being paid is never evicted before
 * one nobody asked for (the cache this replaces refreshed an entry in place, so a wallet read
 * constantly kept its first insertion's place and was the first evicted once the cache was full).
 */
export const makeWalletCache = (entriesMax: number, ttlMs: number): WalletCache => {
  const entries = new Map<string, { readonly wallet: WalletAddress; readonly atMs: number }>()
  return {
    get: (id, nowMs) => {
      const hit = entries.get(id)
      if (hit === undefined) return undefined
      entries.delete(id)
      if (nowMs - hit.atMs >= ttlMs) return undefined
      entries.set(id, hit)
      return hit.wallet
    },
    set: (wallet, nowMs) => {
      entries.delete(wallet.id)
      if (entries.size >= entriesMax) {
        const leastRecent = entries.keys().next()
        if (!leastRecent.done) entries.delete(leastRecent.value)
      }
      entries.set(wallet.id, { wallet, atMs: nowMs })
    },
    delete: (id) => {
      entries.delete(id)
    },
    size: () => entries.size
  }
}

/** The URL's path, normalised (no trailing slash); undefined when not an http(s) URL. */
export const pathOf = (url: string): string | undefined => {
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return undefined
    if (parsed.search !== "" || parsed.hash !== "") return undefined
    const path = trimTrailingSlashes(parsed.pathname)
    return path === "" || path.length > pathCharsMax ? undefined : path
  } catch {
    return undefined
  }
}

export const make = Effect.gen(function*() {
  const store = (yield* PaymentsStore).walletAddresses
  const ledger = yield* Ledger
  const cache = makeWalletCache(cacheEntriesMax, cacheTtlMs)

  const load = (id: string) =>
    Effect.flatMap(store.byId(id), (record) =>
      record === undefined ? Effect.fail(new WalletAddressNotFound({ id })) : Effect.succeed(fromRecord(record)))

  const get = (id: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const hit = cache.get(id, now)
      if (hit !== undefined) return Effect.succeed(hit)
      return Effect.tap(load(id), (wallet) => Effect.sync(() => cache.set(wallet, now)))
    })

  const create = Effect.fn("WalletAddresses.create")(function*(input: CreateWalletAddress) {
    const path = pathOf(input.url)
    if (path === undefined) return yield* new InvalidWalletAddress({ message: `url must be an http(s) URL with a path of at most ${pathCharsMax} characters` })
    if (!/^[A-Z0-9]{1,12}$/.test(input.asset.code) || !Number.isInteger(input.asset.scale) ||
      input.asset.scale < 0 || input.asset.scale > 255) {
      return yield* new InvalidWalletAddress({ message: "asset must have a code (A-Z0-9) and a scale 0..255" })
    }
    if ((yield* store.byPath(path)) !== undefined) {
      return yield* new WalletAddressConflict({ message: "a wallet address with this URL exists" })
    }
    const id = randomUUID()
    // The ledger accounts first: a wallet address row never exists without its account, and its
    // asset always has liquidity and settlement accounts (idempotent).
    yield* ledger.createAccounts([...assetAccounts(input.asset), {
      id: ids.walletAddress(id),
      ledger: ledgerOf(input.asset),
      code: AccountCode.walletAddress,
      flags: { debitsMustNotExceedCredits: true }
    }])
    const now = yield* Clock.currentTimeMillis
    const inserted = yield* store.insert({
      id,
      url: input.url,
      path,
      assetCode: input.asset.code,
      assetScale: input.asset.scale,
      publicName: input.publicName ?? null,
      active: true,
      createdAt: now
    })
    // Another instance took the URL between the check and the insert.
    if (inserted === "conflict") return yield* new WalletAddressConflict({ message: "a wallet address with this URL exists" })
    return yield* Effect.orDie(load(id))
  })

  return WalletAddresses.of({
    create,
    get,
    findByPath: (path) => {
      const trimmed = trimTrailingSlashes(path)
      return trimmed.length > pathCharsMax ?
        Effect.succeed(undefined) :
        Effect.map(store.byPath(trimmed), (record) => record === undefined ? undefined : fromRecord(record))
    },
    list: ({ limit, after }) =>
      Effect.map(store.page({ after: after ?? "", limit: Math.min(Math.max(1, limit), listLimitMax) }), (records) =>
        records.map(fromRecord)),
    setActive: (id, active) =>
      Effect.gen(function*() {
        if (!(yield* store.setActive(id, active))) return yield* new WalletAddressNotFound({ id })
        cache.delete(id)
        return yield* Effect.orDie(load(id))
      })
  })
})

export const layer = Layer.effect(WalletAddresses, make)
