/**
 * Wallet addresses: a URL this node answers SPSP for, an asset, and an active flag. Each has a
 * ledger account (credit-normal, may not go below zero) that receives SPSP payments and funds
 * outgoing payments.
 */
import { Context, Data, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { AccountCode, Ledger, type LedgerUnavailable } from "../Accounting/Ledger.ts"
import { assetAccounts, ids, ledgerOf } from "../Accounting/Accounts.ts"
import type { Asset } from "../Config.ts"
import { PaymentsDb } from "./Database.ts"

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

interface Row {
  id: string
  url: string
  asset_code: string
  asset_scale: number
  public_name: string | null
  active: number
  created_at: number
}

const fromRow = (row: Row): WalletAddress => ({
  id: row.id,
  url: row.url,
  asset: { code: row.asset_code, scale: row.asset_scale },
  publicName: row.public_name ?? undefined,
  active: row.active === 1,
  createdAt: row.created_at,
  ledgerAccountId: ids.walletAddress(row.id)
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
  const { db } = yield* PaymentsDb
  const ledger = yield* Ledger
  const insert = db.prepare(
    "INSERT INTO wallet_addresses (id, url, path, asset_code, asset_scale, public_name, active, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)"
  )
  const byId = db.prepare("SELECT * FROM wallet_addresses WHERE id = ?")
  const byPath = db.prepare("SELECT * FROM wallet_addresses WHERE path = ?")
  const page = db.prepare("SELECT * FROM wallet_addresses WHERE id > ? ORDER BY id LIMIT ?")
  const activate = db.prepare("UPDATE wallet_addresses SET active = ? WHERE id = ?")

  const get = (id: string) =>
    Effect.suspend(() => {
      const row = byId.get(id) as Row | undefined
      return row === undefined ? Effect.fail(new WalletAddressNotFound({ id })) : Effect.succeed(fromRow(row))
    })

  const create = Effect.fn("WalletAddresses.create")(function*(input: CreateWalletAddress) {
    const path = pathOf(input.url)
    if (path === undefined) return yield* new InvalidWalletAddress({ message: `url must be an http(s) URL with a path of at most ${pathCharsMax} characters` })
    if (!/^[A-Z0-9]{1,12}$/.test(input.asset.code) || !Number.isInteger(input.asset.scale) ||
      input.asset.scale < 0 || input.asset.scale > 255) {
      return yield* new InvalidWalletAddress({ message: "asset must have a code (A-Z0-9) and a scale 0..255" })
    }
    if (byPath.get(path) !== undefined) return yield* new WalletAddressConflict({ message: "a wallet address with this URL exists" })
    const id = randomUUID()
    // The ledger accounts first: a wallet address row never exists without its account, and its
    // asset always has liquidity and settlement accounts (idempotent).
    yield* ledger.createAccounts([...assetAccounts(input.asset), {
      id: ids.walletAddress(id),
      ledger: ledgerOf(input.asset),
      code: AccountCode.walletAddress,
      flags: { debitsMustNotExceedCredits: true }
    }])
    insert.run(id, input.url, path, input.asset.code, input.asset.scale, input.publicName ?? null, Date.now())
    return yield* Effect.orDie(get(id))
  })

  return WalletAddresses.of({
    create,
    get,
    findByPath: (path) => Effect.sync(() => {
      const trimmed = trimTrailingSlashes(path)
      const row = trimmed.length > pathCharsMax ? undefined : byPath.get(trimmed) as Row | undefined
      return row === undefined ? undefined : fromRow(row)
    }),
    list: ({ limit, after }) =>
      Effect.sync(() => (page.all(after ?? "", Math.min(Math.max(1, limit), listLimitMax)) as unknown as Array<Row>).map(fromRow)),
    setActive: (id, active) =>
      Effect.flatMap(get(id), () => {
        activate.run(active ? 1 : 0, id)
        return Effect.orDie(get(id))
      })
  })
})

export const layer = Layer.effect(WalletAddresses, make)
