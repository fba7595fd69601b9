/**
 * What every resource of the operator API shares: the error answers, the middleware tags, the
 * request schemas of amounts, ids, assets and pages, and the ledger values rendered as JSON.
 *
 * Amounts and balances are decimal strings (u64 amounts, u128 ids, signed balances), never numbers.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as HttpApiSecurity from "effect/http-api/HttpApiSecurity"
import * as OpenApi from "effect/http-api/OpenApi"
import { type AccountBalance, LedgerDefect, type LedgerUnavailable, u128Max } from "../../Accounting/Ledger.ts"
import * as Liquidity from "../../Accounting/Liquidity.ts"
import type { NodeConfig } from "../../Config.ts"
import { u64 } from "../../Connector/Packet.ts"
import type { PeersShape } from "../../Connector/Peers.ts"

/** Largest request body the admin API reads; larger bodies are answered 413. */
export const adminBodyBytesMax = 16 * 1024

// ---------------------------------------------------------------------------------------------
// Errors: each renders as `{ _tag, message }` with its status
// ---------------------------------------------------------------------------------------------

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  { httpApiStatus: 401 }
) {}

export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { message: Schema.String },
  { httpApiStatus: 400 }
) {}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { message: Schema.String },
  { httpApiStatus: 409 }
) {}

export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { message: Schema.String },
  { httpApiStatus: 503 }
) {}

// ---------------------------------------------------------------------------------------------
// Middleware
// ---------------------------------------------------------------------------------------------

/** Bearer-token guard of every endpoint but health and the OpenAPI document. */
export class AdminAuth extends HttpApiMiddleware.Service<AdminAuth>()("AdminApi/AdminAuth", {
  security: { bearer: HttpApiSecurity.bearer },
  error: Unauthorized
}) {}

/** Turns request decoding failures into 400 `BadRequest` with a message naming the field. */
export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()("AdminApi/RequestValidation", {
  error: BadRequest
}) {}

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

export const digits = (text: string, lengthMax: number): boolean => text.length <= lengthMax && /^[0-9]+$/.test(text)

/** A positive u64 amount as decimal text. Pure. */
export const parseAmount = (text: string): bigint | undefined => {
  if (!digits(text, 20)) return undefined
  const value = BigInt(text)
  return value > 0n && value <= u64.max ? value : undefined
}

/** A transfer id (u128, not 0 and not 2^128-1, TigerBeetle's reserved values) as decimal text. Pure. */
export const parseTransferId = (text: string): bigint | undefined => {
  if (!digits(text, 39)) return undefined
  const value = BigInt(text)
  return value > 0n && value < u128Max ? value : undefined
}

export const AmountText = Schema.String.check(
  Schema.makeFilter((text: string) => parseAmount(text) !== undefined || "a positive integer below 2^64, as a decimal string")
).annotate({ description: "A positive integer below 2^64, as a decimal string", examples: ["1000"] })

export const TransferIdText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    parseTransferId(text) !== undefined || "a decimal u128 string, neither 0 nor 2^128-1"
  )
).annotate({ description: "Idempotency key: a decimal u128 transfer id; a fresh one is generated when absent" })

export const AssetJson = Schema.Struct({
  code: Schema.String.check(Schema.isPattern(/^[A-Z0-9]{1,12}$/)),
  scale: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 255 }))
})

export const BalanceJson = Schema.Struct({
  debitsPosted: Schema.String,
  creditsPosted: Schema.String,
  debitsPending: Schema.String,
  creditsPending: Schema.String,
  available: Schema.String.annotate({ description: "creditsPosted - debitsPosted - debitsPending; may be negative" })
})
export type BalanceJson = typeof BalanceJson.Type

export const idParam = { id: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)) }

/** Keyset pagination: `limit` (1..500, default 100) rows ordered by id, after the id `after`. */
export const pageQuery = {
  limit: Schema.optionalKey(Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 500 }))),
  after: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(64)))
}
export const pageSizeDefault = 100

export const zeroBalance = (id: bigint): AccountBalance => ({
  id,
  debitsPending: 0n,
  debitsPosted: 0n,
  creditsPending: 0n,
  creditsPosted: 0n
})

export const balanceJson = (balance: AccountBalance): BalanceJson => ({
  debitsPosted: balance.debitsPosted.toString(),
  creditsPosted: balance.creditsPosted.toString(),
  debitsPending: balance.debitsPending.toString(),
  creditsPending: balance.creditsPending.toString(),
  available: Liquidity.available(balance).toString()
})


/**
 * The configuration with the current peer set (peers may be replaced at run time). Prefer
 * `NodeSettings.effectiveConfig()`, which also has the assets and rates added at run time.
 */
export const withCurrentPeers = (config: NodeConfig, peers: PeersShape): NodeConfig => ({
  ...config,
  peers: peers.all().map((entry) => entry.config)
})

export const unavailable = (_: LedgerUnavailable) =>
  Effect.fail(new Unavailable({ message: "ledger unavailable; retry (with the same transferId)" }))


export const transferIdConflict = new Conflict({
  message: "transferId: already used for a different transfer or for one that failed; use a fresh id"
})

/**
 * With a validated body and existing accounts, the only `LedgerDefect` a deposit or withdrawal can
 * raise is a reused transfer id (exists with different fields, or already failed): client input,
 * answered 409. Any other defect stays a defect.
 */
export const refuseReusedId = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Conflict, R> =>
  Effect.catchDefect(effect, (defect) => defect instanceof LedgerDefect ? Effect.fail(transferIdConflict) : Effect.die(defect))


export const notFound = (what: string) => () => Effect.fail(new NotFound({ message: `${what}: not found` }))
export const badRequest = (error: { readonly message: string }) => Effect.fail(new BadRequest({ message: error.message }))
export const conflict = (message: string) => () => Effect.fail(new Conflict({ message }))
export const ledgerDown = () => Effect.fail(new Unavailable({ message: "ledger unavailable; retry" }))
export const receiptsDown = () => Effect.fail(new Unavailable({ message: "receipt store unavailable; retry" }))

/** The OpenAPI summary (one line) and description of an endpoint: `.annotateMerge(doc(...))`. */
export const doc = (summary: string, description: string) => OpenApi.annotations({ summary, description })

/** A settings change's failure as the API answers it. Pure. */
export const settingsError = (
  error:
    | { readonly _tag: "SettingsInvalid"; readonly message: string }
    | { readonly _tag: "SettingsConflict"; readonly message: string }
    | { readonly _tag: "SettingNotFound"; readonly message: string }
    | { readonly _tag: "SettingsUnavailable"; readonly message: string }
    | { readonly _tag: "LedgerUnavailable" }
): BadRequest | Conflict | NotFound | Unavailable => {
  switch (error._tag) {
    case "SettingsInvalid":
      return new BadRequest({ message: error.message })
    case "SettingsConflict":
      return new Conflict({ message: error.message })
    case "SettingNotFound":
      return new NotFound({ message: error.message })
    case "SettingsUnavailable":
      return new Unavailable({ message: "settings store unavailable; retry" })
    case "LedgerUnavailable":
      return new Unavailable({ message: "ledger unavailable; retry" })
  }
}
