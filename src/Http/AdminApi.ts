/**
 * The operator HTTP API (SPEC §10): its own port, guarded by the admin token, described by the
 * OpenAPI document it serves at `GET /openapi.json`.
 *
 * One `HttpApiGroup` per resource, each implemented by its own handler layer; to add a resource,
 * declare its group below, `.add` it to `AdminApi` (before `.middleware(RequestValidation)`, so bad
 * input is answered 400 with a message) and provide its handler layer in `routesLayer`.
 *
 * HTTP answers:
 * - `GET /healthz`, `GET /openapi.json`, `GET /metrics` (Prometheus text): no auth.
 * - every other endpoint: `Authorization: Bearer <adminToken>`; missing or wrong token → 401. The
 *   token is compared as SHA-256 digests with `timingSafeEqual`. Without a configured token every
 *   guarded endpoint answers 401 (and `serve` logs a warning once).
 * - bad input → 400 `{ _tag, message }`, the message naming the field; unknown asset or peer → 404;
 *   a withdrawal over the available balance, or a `transferId` already used for a different or a
 *   failed transfer → 409; ledger unavailable → 503 (retry with the same `transferId`). Bodies over
 *   `adminBodyBytesMax` → 413. Client input never causes a 500.
 *
 * Amounts and balances are decimal strings (u64 amounts, u128 ids, signed balances), never numbers.
 *
 * Idempotency: a deposit or withdrawal retried with the same `transferId` and the same body is
 * applied once and answers 200 again, with the balance as it is now (the ledger treats a transfer
 * that exists with identical fields as success). The same id with a different body, or an id whose
 * transfer failed (e.g. 409 for insufficient balance), is refused with 409: use a fresh id.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { ByteSize, Context, Effect, Layer, Redacted, Schema, SchemaIssue, type Scope } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServer,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  type HttpApiError,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import { createHash, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import { assetsOf, ids, ledgerOf } from "../Accounting/Accounts.ts"
import {
  type AccountBalance,
  Ledger,
  LedgerDefect,
  type LedgerUnavailable,
  newTransferId,
  TransferCode,
  u128Max
} from "../Accounting/Ledger.ts"
import * as Liquidity from "../Accounting/Liquidity.ts"
import type { NodeConfig, PeerConfig } from "../Config.ts"
import { u64 } from "../Connector/Packet.ts"
import { Peers, type PeersShape } from "../Connector/Peers.ts"
import { type IncomingPayment, IncomingPayments } from "../Payments/IncomingPayments.ts"
import { OutgoingPayments } from "../Payments/OutgoingPayments.ts"
import { Quotes } from "../Payments/Quotes.ts"
import { type WalletAddress, WalletAddresses } from "../Payments/WalletAddresses.ts"
import { StreamCredentials } from "../Stream/Credentials.ts"
import { ReceiptTotals } from "../Stream/ReceiptTotals.ts"
import * as Payments from "./PaymentsJson.ts"
import { Metrics } from "../Connector/Metrics.ts"
import * as Console from "./Console/Console.ts"

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

const digits = (text: string, lengthMax: number): boolean => text.length <= lengthMax && /^[0-9]+$/.test(text)

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

const AmountText = Schema.String.check(
  Schema.makeFilter((text: string) => parseAmount(text) !== undefined || "a positive integer below 2^64, as a decimal string")
).annotate({ description: "A positive integer below 2^64, as a decimal string", examples: ["1000"] })

const TransferIdText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    parseTransferId(text) !== undefined || "a decimal u128 string, neither 0 nor 2^128-1"
  )
).annotate({ description: "Idempotency key: a decimal u128 transfer id; a fresh one is generated when absent" })

const AssetJson = Schema.Struct({
  code: Schema.String.check(Schema.isPattern(/^[A-Z0-9]{1,12}$/)),
  scale: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 255 }))
})

const BalanceJson = Schema.Struct({
  debitsPosted: Schema.String,
  creditsPosted: Schema.String,
  debitsPending: Schema.String,
  creditsPending: Schema.String,
  available: Schema.String.annotate({ description: "creditsPosted - debitsPosted - debitsPending; may be negative" })
})
type BalanceJson = typeof BalanceJson.Type

const BalancesJson = Schema.Struct({
  assets: Schema.Array(Schema.Struct({ asset: AssetJson, liquidity: BalanceJson, settlement: BalanceJson })),
  peers: Schema.Array(Schema.Struct({ peerId: Schema.String, asset: AssetJson, liquidity: BalanceJson }))
})
type BalancesJson = typeof BalancesJson.Type

const PeerJson = Schema.Struct({
  id: Schema.String,
  asset: AssetJson,
  staticIlpAddress: Schema.String,
  routes: Schema.Array(Schema.String),
  maxPacketAmount: Schema.optionalKey(Schema.String),
  outgoing: Schema.optionalKey(Schema.Struct({ url: Schema.String }))
})
type PeerJson = typeof PeerJson.Type

const LiquidityRequest = Schema.Struct({
  asset: Schema.optionalKey(AssetJson),
  peerId: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64))),
  amount: AmountText,
  transferId: Schema.optionalKey(TransferIdText)
}).check(Schema.makeFilter((body) =>
  (body.asset === undefined) !== (body.peerId === undefined) || "give exactly one of asset or peerId"
))
type LiquidityRequest = typeof LiquidityRequest.Type

const LiquidityResult = Schema.Struct({ transferId: Schema.String, balance: BalanceJson })

// ---------------------------------------------------------------------------------------------
// The API: one group per resource
// ---------------------------------------------------------------------------------------------

export class SystemGroup extends HttpApiGroup.make("system").add(
  HttpApiEndpoint.get("health", "/healthz", { success: Schema.Struct({ status: Schema.Literal("ok") }) })
) {}

export class PeersGroup extends HttpApiGroup.make("peers").add(
  HttpApiEndpoint.get("list", "/peers", { success: Schema.Array(PeerJson) })
).middleware(AdminAuth) {}

export class BalancesGroup extends HttpApiGroup.make("balances").add(
  HttpApiEndpoint.get("list", "/balances", { success: BalancesJson, error: Unavailable })
).middleware(AdminAuth) {}

const liquidityErrors = [NotFound, Conflict, Unavailable] as const

export class LiquidityGroup extends HttpApiGroup.make("liquidity").add(
  HttpApiEndpoint.post("deposit", "/liquidity/deposit", {
    payload: LiquidityRequest,
    success: LiquidityResult,
    error: liquidityErrors
  }),
  HttpApiEndpoint.post("withdraw", "/liquidity/withdraw", {
    payload: LiquidityRequest,
    success: LiquidityResult,
    error: liquidityErrors
  })
).middleware(AdminAuth) {}

const idParam = { id: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)) }

/** Keyset pagination: `limit` (1..500, default 100) rows ordered by id, after the id `after`. */
const pageQuery = {
  limit: Schema.optionalKey(Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 500 }))),
  after: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(64)))
}
const pageSizeDefault = 100

export class WalletAddressesGroup extends HttpApiGroup.make("walletAddresses").add(
  HttpApiEndpoint.post("create", "/wallet-addresses", {
    payload: Payments.CreateWalletAddressRequest,
    success: Payments.WalletAddressJson,
    error: [BadRequest, Conflict, Unavailable]
  }),
  HttpApiEndpoint.get("list", "/wallet-addresses", {
    query: pageQuery,
    success: Schema.Array(Payments.WalletAddressJson),
    error: [Unavailable]
  }),
  HttpApiEndpoint.get("get", "/wallet-addresses/:id", {
    params: idParam,
    success: Payments.WalletAddressJson,
    error: [NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("deposit", "/wallet-addresses/:id/deposit", {
    params: idParam,
    payload: Payments.WalletDepositRequest,
    success: Payments.WalletDepositResult,
    error: [NotFound, Conflict, Unavailable]
  })
).middleware(AdminAuth) {}

export class IncomingPaymentsGroup extends HttpApiGroup.make("incomingPayments").add(
  HttpApiEndpoint.post("create", "/incoming-payments", {
    payload: Payments.CreateIncomingPaymentRequest,
    success: Payments.IncomingPaymentJson,
    error: [BadRequest, NotFound, Unavailable]
  }),
  HttpApiEndpoint.get("list", "/wallet-addresses/:id/incoming-payments", {
    params: idParam,
    query: pageQuery,
    success: Schema.Array(Payments.IncomingPaymentJson),
    error: [NotFound, Unavailable]
  }),
  HttpApiEndpoint.get("get", "/incoming-payments/:id", {
    params: idParam,
    success: Payments.IncomingPaymentJson,
    error: [NotFound, Unavailable]
  }),
  HttpApiEndpoint.get("credentials", "/incoming-payments/:id/credentials", {
    params: idParam,
    success: Payments.CredentialsJson,
    error: [NotFound, Conflict]
  })
).middleware(AdminAuth) {}

export class QuotesGroup extends HttpApiGroup.make("quotes").add(
  HttpApiEndpoint.post("create", "/quotes", {
    payload: Payments.CreateQuoteRequest,
    success: Payments.QuoteJson,
    error: [BadRequest, NotFound, Conflict, Unavailable]
  }),
  HttpApiEndpoint.get("get", "/quotes/:id", { params: idParam, success: Payments.QuoteJson, error: NotFound })
).middleware(AdminAuth) {}

export class OutgoingPaymentsGroup extends HttpApiGroup.make("outgoingPayments").add(
  HttpApiEndpoint.post("create", "/outgoing-payments", {
    payload: Payments.CreateOutgoingPaymentRequest,
    success: Payments.OutgoingPaymentJson,
    error: [NotFound, Conflict, Unavailable]
  }),
  HttpApiEndpoint.get("get", "/outgoing-payments/:id", {
    params: idParam,
    success: Payments.OutgoingPaymentJson,
    error: NotFound
  })
).middleware(AdminAuth) {}

export class AdminApi extends HttpApi.make("admin")
  .add(SystemGroup, PeersGroup, BalancesGroup, LiquidityGroup)
  .add(WalletAddressesGroup, IncomingPaymentsGroup, QuotesGroup, OutgoingPaymentsGroup)
  .middleware(RequestValidation)
  .annotate(HttpApi.PayloadParseOptions, { onExcessProperty: "error", errors: "all" })
  .annotateMerge(OpenApi.annotations({ title: "Connector operator API", version: "1" }))
{}

export const openapiPath = "/openapi.json"

// ---------------------------------------------------------------------------------------------
// Pure leaves: ledger values to JSON
// ---------------------------------------------------------------------------------------------

const zeroBalance = (id: bigint): AccountBalance => ({
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

/** The URL without user info, so credentials written into it never leave the node. */
const publicUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    parsed.username = ""
    parsed.password = ""
    return parsed.toString()
  } catch {
    return "(unparseable)"
  }
}

export const peerJson = (peer: PeerConfig): PeerJson => ({
  id: peer.id,
  asset: peer.asset,
  staticIlpAddress: peer.staticIlpAddress,
  routes: peer.routes,
  ...(peer.maxPacketAmount === undefined ? {} : { maxPacketAmount: peer.maxPacketAmount.toString() }),
  ...(peer.outgoing === undefined ? {} : { outgoing: { url: publicUrl(peer.outgoing.url) } })
})

/** The configuration with the current peer set (peers may be replaced at run time). */
const withCurrentPeers = (config: NodeConfig, peers: PeersShape): NodeConfig => ({
  ...config,
  peers: peers.all().map((entry) => entry.config)
})

const balancesJson = (
  config: NodeConfig,
  byId: ReadonlyMap<bigint, AccountBalance>
): BalancesJson => {
  const read = (id: bigint) => balanceJson(byId.get(id) ?? zeroBalance(id))
  return {
    assets: assetsOf(config).map((asset) => ({
      asset,
      liquidity: read(ids.assetLiquidity(asset)),
      settlement: read(ids.settlement(asset))
    })),
    peers: config.peers.map((peer) => ({ peerId: peer.id, asset: peer.asset, liquidity: read(ids.peerLiquidity(peer.id)) }))
  }
}

const balanceAccountIds = (config: NodeConfig): ReadonlyArray<bigint> => [
  ...assetsOf(config).flatMap((asset) => [ids.assetLiquidity(asset), ids.settlement(asset)]),
  ...config.peers.map((peer) => ids.peerLiquidity(peer.id))
]

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

const unavailable = (_: LedgerUnavailable) =>
  Effect.fail(new Unavailable({ message: "ledger unavailable; retry (with the same transferId)" }))

const listBalances = Effect.fn("AdminApi.balances")(function*(config: NodeConfig) {
  const ledger = yield* Ledger
  const balances = yield* ledger.balances(balanceAccountIds(config))
  return balancesJson(config, new Map(balances.map((balance) => [balance.id, balance])))
}, Effect.catchTag("LedgerUnavailable", unavailable))

const targetOf = (body: LiquidityRequest): Liquidity.LiquidityTarget =>
  body.peerId !== undefined ? { kind: "peer", peerId: body.peerId } : { kind: "asset", asset: body.asset! }

const unknownTarget = (target: Liquidity.LiquidityTarget): NotFound =>
  new NotFound({
    message: target.kind === "peer" ?
      `peerId: no peer "${target.peerId}"` :
      `asset: the node has no asset ${target.asset.code}:${target.asset.scale}`
  })

/** The target's liquidity account and its asset's settlement account must exist (created at start). */
const requireAccounts = (config: NodeConfig, target: Liquidity.LiquidityTarget) =>
  Effect.gen(function*() {
    const resolved = Liquidity.resolveTarget(config, target)
    if (resolved === undefined) return yield* unknownTarget(target)
    const found = yield* (yield* Ledger).balances([resolved.accountId, ids.settlement(resolved.asset)])
    if (found.length < 2) {
      return yield* Effect.die(new Error("liquidity accounts missing: were the configured accounts created at start?"))
    }
  })

const transferIdConflict = new Conflict({
  message: "transferId: already used for a different transfer or for one that failed; use a fresh id"
})

/**
 * With a validated body and existing accounts, the only `LedgerDefect` a deposit or withdrawal can
 * raise is a reused transfer id (exists with different fields, or already failed): client input,
 * answered 409. Any other defect stays a defect.
 */
const refuseReusedId = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Conflict, R> =>
  Effect.catchDefect(effect, (defect) => defect instanceof LedgerDefect ? Effect.fail(transferIdConflict) : Effect.die(defect))

const moveLiquidity = (direction: "deposit" | "withdraw") =>
  Effect.fn(`AdminApi.${direction}`)(function*(config: NodeConfig, body: LiquidityRequest) {
    const target = targetOf(body)
    const amount = parseAmount(body.amount)!
    const transferId = body.transferId === undefined ? newTransferId() : parseTransferId(body.transferId)!
    yield* requireAccounts(config, target)
    yield* refuseReusedId(Liquidity[direction](config, target, amount, transferId))
    const balance = yield* Liquidity.balanceOf(config, target)
    return { transferId: transferId.toString(), balance: balanceJson(balance ?? zeroBalance(0n)) }
  }, (effect, _config, body) =>
    effect.pipe(
      Effect.catchTags({
        UnknownLiquidityTarget: () => Effect.fail(unknownTarget(targetOf(body))),
        InsufficientBalance: () => Effect.fail(new Conflict({ message: "amount: exceeds the available balance" })),
        LedgerUnavailable: unavailable
      })
    ))

const deposit = moveLiquidity("deposit")
const withdraw = moveLiquidity("withdraw")

const systemHandlers = HttpApiBuilder.group(
  AdminApi,
  "system",
  (handlers) => handlers.handle("health", () => Effect.succeed({ status: "ok" as const }))
)

const peersHandlers = HttpApiBuilder.group(AdminApi, "peers", (handlers) =>
  Effect.gen(function*() {
    const peers = yield* Peers
    return handlers.handle("list", () => Effect.sync(() => peers.all().map((entry) => peerJson(entry.config))))
  }))

const balancesHandlers = (config: NodeConfig) =>
  HttpApiBuilder.group(AdminApi, "balances", (handlers) =>
    Effect.gen(function*() {
      const peers = yield* Peers
      const ledger = yield* Ledger
      return handlers.handle("list", () =>
        listBalances(withCurrentPeers(config, peers)).pipe(Effect.provideService(Ledger, ledger)))
    }))

const liquidityHandlers = (config: NodeConfig) =>
  HttpApiBuilder.group(AdminApi, "liquidity", (handlers) =>
    Effect.gen(function*() {
      const peers = yield* Peers
      const ledger = yield* Ledger
      const run = (move: typeof deposit, payload: LiquidityRequest) =>
        move(withCurrentPeers(config, peers), payload).pipe(Effect.provideService(Ledger, ledger))
      return handlers
        .handle("deposit", ({ payload }) => run(deposit, payload))
        .handle("withdraw", ({ payload }) => run(withdraw, payload))
    }))

// ----- payments: wallet addresses, incoming payments, quotes, outgoing payments ---------------

const notFound = (what: string) => () => Effect.fail(new NotFound({ message: `${what}: not found` }))
const badRequest = (error: { readonly message: string }) => Effect.fail(new BadRequest({ message: error.message }))
const conflict = (message: string) => () => Effect.fail(new Conflict({ message }))
const ledgerDown = () => Effect.fail(new Unavailable({ message: "ledger unavailable; retry" }))
const receiptsDown = () => Effect.fail(new Unavailable({ message: "receipt store unavailable; retry" }))

const walletAddressesHandlers = HttpApiBuilder.group(AdminApi, "walletAddresses", (handlers) =>
  Effect.gen(function*() {
    const wallets = yield* WalletAddresses
    const ledger = yield* Ledger
    const withBalance = (wallet: WalletAddress) =>
      Effect.map(ledger.balances([wallet.ledgerAccountId]), ([balance]) =>
        Payments.walletAddressJson(wallet, balance === undefined ? 0n : Liquidity.available(balance)))
    const deposit = (id: string, body: typeof Payments.WalletDepositRequest.Type) =>
      Effect.gen(function*() {
        const wallet = yield* wallets.get(id)
        const transferId = body.transferId === undefined ? newTransferId() : parseTransferId(body.transferId)
        if (transferId === undefined) return yield* new Conflict({ message: "transferId: not a usable u128 id" })
        // Money from outside the ledger (the asset's settlement account) into the wallet address.
        yield* refuseReusedId(ledger.transfer([{
          id: transferId,
          debitAccountId: ids.settlement(wallet.asset),
          creditAccountId: wallet.ledgerAccountId,
          amount: Payments.parseU64(body.amount)!,
          ledger: ledgerOf(wallet.asset),
          code: TransferCode.deposit
        }]))
        const json = yield* withBalance(wallet)
        return { transferId: transferId.toString(), balance: json.balance }
      })
    return handlers
      .handle("create", ({ payload }) =>
        wallets.create(payload).pipe(
          Effect.flatMap(withBalance),
          Effect.catchTags({
            InvalidWalletAddress: badRequest,
            WalletAddressConflict: (error) => Effect.fail(new Conflict({ message: error.message })),
            LedgerUnavailable: ledgerDown
          })
        ))
      .handle("list", ({ query }) =>
        wallets.list({ limit: query.limit ?? pageSizeDefault, after: query.after }).pipe(
          Effect.flatMap((page) => Effect.forEach(page, withBalance)),
          Effect.catchTags({ LedgerUnavailable: ledgerDown })
        ))
      .handle("get", ({ params }) =>
        wallets.get(params.id).pipe(
          Effect.flatMap(withBalance),
          Effect.catchTags({ WalletAddressNotFound: notFound("id"), LedgerUnavailable: ledgerDown })
        ))
      .handle("deposit", ({ params, payload }) =>
        deposit(params.id, payload).pipe(
          Effect.catchTags({
            WalletAddressNotFound: notFound("id"),
            InsufficientBalance: conflict("amount: refused by the ledger"),
            LedgerUnavailable: ledgerDown
          })
        ))
  }))

const incomingPaymentsHandlers = HttpApiBuilder.group(AdminApi, "incomingPayments", (handlers) =>
  Effect.gen(function*() {
    const payments = yield* IncomingPayments
    const wallets = yield* WalletAddresses
    const totals = yield* ReceiptTotals
    const credentials = yield* StreamCredentials
    const json = (payment: IncomingPayment) =>
      Effect.gen(function*() {
        const wallet = yield* payments.walletAddressOf(payment)
        const received = yield* totals.paymentTotal(payment.id)
        return Payments.incomingPaymentJson(payment, wallet.asset, received)
      })
    return handlers
      .handle("create", ({ payload }) =>
        payments.create({
          walletAddressId: payload.walletAddressId,
          incomingAmount: payload.incomingAmount === undefined ? undefined : Payments.parseU64(payload.incomingAmount),
          expiresAt: payload.expiresAt === undefined ? undefined : Date.parse(payload.expiresAt),
          metadata: payload.metadata
        }).pipe(
          Effect.flatMap(json),
          Effect.catchTags({
            InvalidIncomingPayment: badRequest,
            WalletAddressNotFound: notFound("walletAddressId"),
            LedgerUnavailable: ledgerDown,
            ReceiptStoreUnavailable: receiptsDown
          })
        ))
      .handle("list", ({ params, query }) =>
        wallets.get(params.id).pipe(
          Effect.andThen(payments.list(params.id, { limit: query.limit ?? pageSizeDefault, after: query.after })),
          Effect.flatMap((page) => Effect.forEach(page, json)),
          Effect.catchTags({
            WalletAddressNotFound: notFound("id"),
            ReceiptStoreUnavailable: receiptsDown
          })
        ))
      .handle("get", ({ params }) =>
        payments.get(params.id).pipe(
          Effect.flatMap(json),
          Effect.catchTags({
            IncomingPaymentNotFound: notFound("id"),
            WalletAddressNotFound: notFound("id"),
            ReceiptStoreUnavailable: receiptsDown
          })
        ))
      .handle("credentials", ({ params }) =>
        Effect.gen(function*() {
          const payment = yield* payments.get(params.id)
          if (payment.state === "completed" || payment.state === "expired") {
            return yield* new Conflict({ message: `the incoming payment is ${payment.state}` })
          }
          const wallet = yield* payments.walletAddressOf(payment)
          const generated = credentials.generate({ kind: "incoming", id: payment.id }, wallet.asset)
          return {
            ilpAddress: generated.ilpAddress,
            sharedSecret: Buffer.from(generated.sharedSecret).toString("base64")
          }
        }).pipe(Effect.catchTags({ IncomingPaymentNotFound: notFound("id"), WalletAddressNotFound: notFound("id") })))
  }))

const quotesHandlers = HttpApiBuilder.group(AdminApi, "quotes", (handlers) =>
  Effect.gen(function*() {
    const quotes = yield* Quotes
    return handlers
      .handle("create", ({ payload }) =>
        quotes.create({
          walletAddressId: payload.walletAddressId,
          // The schema's check guarantees a receiver.
          receiver: Payments.receiverOf(payload.receiver)!,
          debitAmount: payload.debitAmount === undefined ? undefined : Payments.parseU64(payload.debitAmount),
          receiveAmount: payload.receiveAmount === undefined ? undefined : Payments.parseU64(payload.receiveAmount)
        }).pipe(
          Effect.map(Payments.quoteJson),
          Effect.catchTags({
            InvalidQuoteRequest: badRequest,
            InvalidReceiver: (error) => Effect.fail(new BadRequest({ message: `receiver: ${error.reason}` })),
            WalletAddressNotFound: notFound("walletAddressId"),
            ReceiverGone: (error) => Effect.fail(new Conflict({ message: `receiver: ${error.reason}` })),
            ReceiverUnavailable: (error) => Effect.fail(new Unavailable({ message: `receiver: ${error.reason}` })),
            QuoteFailed: (error) =>
              Effect.fail(
                error.retryable ?
                  new Unavailable({ message: `quote failed: ${error.reason}` }) :
                  new Conflict({ message: `quote failed: ${error.reason}` })
              )
          })
        ))
      .handle("get", ({ params }) =>
        quotes.get(params.id).pipe(Effect.map(Payments.quoteJson), Effect.catchTag("QuoteNotFound", notFound("id"))))
  }))

const outgoingPaymentsHandlers = HttpApiBuilder.group(AdminApi, "outgoingPayments", (handlers) =>
  Effect.gen(function*() {
    const payments = yield* OutgoingPayments
    return handlers
      .handle("create", ({ payload }) =>
        payments.create({ quoteId: payload.quoteId }).pipe(
          Effect.map(Payments.outgoingPaymentJson),
          Effect.catchTags({
            QuoteNotFound: notFound("quoteId"),
            WalletAddressNotFound: notFound("the quote's wallet address"),
            QuoteExpired: conflict("quoteId: the quote has expired"),
            QuoteAlreadyUsed: conflict("quoteId: the quote is already paid by another outgoing payment"),
            InvalidOutgoingPayment: (error) => Effect.fail(new Conflict({ message: error.message })),
            InsufficientFunds: conflict("the wallet address's balance does not cover the debit amount"),
            LedgerUnavailable: ledgerDown
          })
        ))
      .handle("get", ({ params }) =>
        payments.get(params.id).pipe(
          Effect.map(Payments.outgoingPaymentJson),
          Effect.catchTag("OutgoingPaymentNotFound", notFound("id"))
        ))
  }))

// ---------------------------------------------------------------------------------------------
// Middleware implementations
// ---------------------------------------------------------------------------------------------

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/** Whether `presented` is the admin token; constant time in the token's content. Pure. */
export const tokenMatches = (expectedDigest: Buffer | undefined, presented: string): boolean =>
  expectedDigest !== undefined && presented !== "" && timingSafeEqual(expectedDigest, sha256(presented))

const unauthorized = new Unauthorized({ message: "missing or invalid admin token" })

export const authLayer = (adminToken: Redacted.Redacted<string> | undefined): Layer.Layer<AdminAuth> => {
  const expected = adminToken === undefined ? undefined : sha256(Redacted.value(adminToken))
  return Layer.succeed(AdminAuth, {
    bearer: (effect, { credential }) =>
      tokenMatches(expected, Redacted.value(credential)) ? effect : Effect.fail(unauthorized)
  })
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** `field.path: problem; ...` for a decoding failure (`body: ...` for the body as a whole). Pure. */
export const describeSchemaError = (error: HttpApiError.HttpApiSchemaError): string => {
  const slot = error.kind === "Payload" ? [] : [error.kind.toLowerCase()]
  const issues = formatIssues(error.cause.issue).issues.map((issue) => {
    const path = [...slot, ...(issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment))]
    return `${path.length === 0 ? "body" : path.join(".")}: ${issue.message}`
  })
  return issues.length === 0 ? `${error.kind.toLowerCase()}: invalid` : issues.join("; ")
}

export const requestValidationLayer: Layer.Layer<RequestValidation> = HttpApiMiddleware.layerSchemaErrorTransform(
  RequestValidation,
  (error) => Effect.fail(new BadRequest({ message: describeSchemaError(error) }))
)

// ---------------------------------------------------------------------------------------------
// Routes and server
// ---------------------------------------------------------------------------------------------

/** Every route of the admin API, OpenAPI document included. Add a resource's handler layer here. */
export const routesLayer = (config: NodeConfig) =>
  HttpApiBuilder.layer(AdminApi, { openapiPath }).pipe(
    Layer.provide([
      systemHandlers,
      peersHandlers,
      balancesHandlers(config),
      liquidityHandlers(config),
      walletAddressesHandlers,
      incomingPaymentsHandlers,
      quotesHandlers,
      outgoingPaymentsHandlers
    ]),
    Layer.provide([authLayer(config.adminToken), requestValidationLayer])
  )

const tooLarge = HttpServerResponse.jsonUnsafe(
  { _tag: "PayloadTooLarge", message: `body: larger than ${adminBodyBytesMax} bytes` },
  { status: 413 }
)

/**
 * Bounds request bodies: refused from Content-Length before reading; a chunked body that passes the
 * limit fails the read with `BodyTooLarge`, which the server answers 413 (its request log shows 500).
 */
const limitBody = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (Number(request.headers["content-length"] ?? "0") > adminBodyBytesMax) return tooLarge
    return yield* Effect.provideService(app, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(BigInt(adminBodyBytesMax)))
  })

/** The node services the admin API's handlers use. */
export type AdminServices =
  | Ledger
  | Peers
  | Metrics
  | WalletAddresses
  | IncomingPayments
  | StreamCredentials
  | ReceiptTotals
  | Quotes
  | OutgoingPayments

export interface RunningAdminApi {
  readonly port: number
}

const portOf = (server: HttpServer.HttpServer["Service"]): number =>
  server.address._tag === "UnixPathAddress" ? 0 : server.address.port

/**
 * Serves the admin API on `config.host:config.adminPort` (0 picks a free port) until the scope
 * closes; answers the port actually bound.
 */
export const serve = (
  config: NodeConfig
): Effect.Effect<RunningAdminApi, HttpServerError.ServeError, Scope.Scope | AdminServices> =>
  Effect.gen(function*() {
    const metrics = yield* Metrics
    if (config.adminToken === undefined) {
      yield* Effect.logWarning("admin API: no admin token configured (ADMIN_TOKEN); guarded endpoints answer 401")
    }
    // Prometheus scrapes `GET /metrics` without a token, like `/healthz`: the admin port is internal.
    const metricsRoute = HttpRouter.add("GET", "/metrics", () =>
      Effect.sync(() =>
        HttpServerResponse.text(metrics.render(), { contentType: "text/plain; version=0.0.4; charset=utf-8" })
      ))
    const routes = Layer.mergeAll(routesLayer(config), metricsRoute, Console.routes(config))
    const serverLayer = HttpRouter.serve(routes, { disableListenLog: true, middleware: limitBody }).pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: config.adminPort, host: config.host }))
    )
    const server = Context.get(yield* Layer.build(serverLayer), HttpServer.HttpServer)
    const running: RunningAdminApi = { port: portOf(server) }
    yield* Effect.logInfo(`admin API listening on http://${config.host}:${running.port}`)
    return running
  })
