/**
 * The Open Payments resource server for this node's wallet addresses (incoming payments only):
 *
 * - `GET <wallet address URL>` (`Accept: application/json`): the wallet address document
 *   (`id`, `publicName`, `assetCode`, `assetScale`, `authServer`, `resourceServer`); SPSP keeps
 *   `application/spsp4+json` (`Stream/Spsp.ts`).
 * - `GET <wallet address URL>/jwks.json`: the keys this node signs with for that wallet address
 *   (its client key, `ClientKey.ts`).
 * - `POST <resourceServer>/incoming-payments` (create), `GET …/incoming-payments?wallet-address=`
 *   (list, forward pages: `first`, `cursor`), `GET …/incoming-payments/{id}` (authorized view with
 *   `methods: [{ type: "ilp", ilpAddress, sharedSecret }]`; without an Authorization header the
 *   public view `{ authServer, receivedAmount }`), `POST …/incoming-payments/{id}/complete`.
 *   Every authorized request goes through `AuthServer.authorize` (token, signature, scope).
 *
 * Each authorized read hands out fresh STREAM credentials (a new connection) for an open payment;
 * a completed or expired one lists no method. Shared secrets are base64url, as the spec's pattern
 * requires. The received amount is the receipt store's total (the same one that enforces the cap).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Asset } from "../Config.ts"
import { type IncomingPayment, type IncomingPaymentNotFound, type IncomingPaymentsShape, InvalidIncomingPayment } from "../Payments/IncomingPayments.ts"
import type { WalletAddress, WalletAddressesShape } from "../Payments/WalletAddresses.ts"
import type { StreamCredentialsShape } from "../Stream/Credentials.ts"
import type { ReceiptTotalsShape } from "../Stream/ReceiptTotals.ts"
import { type AuthServer, localWallet } from "./AuthServer.ts"
import type { ClientKeyShape } from "./ClientKey.ts"
import type { GrantStoreShape } from "./GrantStore.ts"
import { isRecord, json, jsonBody, opError, type OpRequest, type OpResponse, trimSlash } from "./Http.ts"
import { listPageDefault, listPageMax } from "./Limits.ts"
import type { Validate } from "./Validation.ts"

export interface ResourceServerOptions {
  /** This resource server's URL (incoming payments live at `<url>/incoming-payments/{id}`). */
  readonly url: string
  readonly auth: AuthServer
  readonly store: GrantStoreShape
  readonly walletAddresses: WalletAddressesShape
  readonly incomingPayments: IncomingPaymentsShape
  readonly credentials: StreamCredentialsShape
  readonly totals: ReceiptTotalsShape
  readonly clientKey: ClientKeyShape
  readonly validate: Validate
}

const amount = (value: bigint, asset: Asset) => ({ value: value.toString(), assetCode: asset.code, assetScale: asset.scale })

const u64Pattern = /^[0-9]{1,20}$/
const u64Max = (1n << 64n) - 1n

/** The create request's fields, or what is wrong with them. Pure. */
export const parseCreate = (
  body: unknown,
  asset: Asset,
  now: number
): { readonly incomingAmount: bigint | undefined; readonly expiresAt: number | undefined; readonly metadata: unknown } | string => {
  if (!isRecord(body)) return "the body must be a JSON object"
  for (const key of Object.keys(body)) {
    if (!["walletAddress", "incomingAmount", "expiresAt", "metadata"].includes(key)) return `${key}: not allowed`
  }
  let incomingAmount: bigint | undefined
  if (body.incomingAmount !== undefined) {
    const given = body.incomingAmount
    if (!isRecord(given) || typeof given.value !== "string" || !u64Pattern.test(given.value)) {
      return "incomingAmount: { value (u64 string), assetCode, assetScale }"
    }
    if (given.assetCode !== asset.code || given.assetScale !== asset.scale) {
      return `incomingAmount: must be in the wallet address's asset (${asset.code}, scale ${asset.scale})`
    }
    incomingAmount = BigInt(given.value)
    if (incomingAmount <= 0n || incomingAmount > u64Max) return "incomingAmount: must be positive and below 2^64"
  }
  let expiresAt: number | undefined
  if (body.expiresAt !== undefined) {
    expiresAt = typeof body.expiresAt === "string" ? Date.parse(body.expiresAt) : Number.NaN
    if (!Number.isFinite(expiresAt)) return "expiresAt: an RFC 3339 date-time"
    if (expiresAt <= now) return "expiresAt: must be in the future"
  }
  if (body.metadata !== undefined && !isRecord(body.metadata)) return "metadata: must be an object"
  return { incomingAmount, expiresAt, metadata: body.metadata }
}

export const makeResourceServer = (options: ResourceServerOptions) => {
  const { auth, credentials, incomingPayments, store, totals, walletAddresses } = options
  const base = trimSlash(options.url)
  const paymentUrl = (id: string) => `${base}/incoming-payments/${id}`

  const unavailable = (what: string) => () => Effect.succeed(opError(503, "unavailable", `${what} unavailable`))

  const view = (payment: IncomingPayment, wallet: WalletAddress) =>
    Effect.map(totals.paymentTotal(payment.id), (received) => ({
      id: paymentUrl(payment.id),
      walletAddress: wallet.url,
      ...(payment.incomingAmount === undefined ? {} : { incomingAmount: amount(payment.incomingAmount, wallet.asset) }),
      receivedAmount: amount(received, wallet.asset),
      completed: payment.state === "completed",
      ...(payment.expiresAt === undefined ? {} : { expiresAt: new Date(payment.expiresAt).toISOString() }),
      ...(payment.metadata === undefined ? {} : { metadata: payment.metadata }),
      createdAt: new Date(payment.createdAt).toISOString()
    }))

  const withMethods = (payment: IncomingPayment, wallet: WalletAddress) =>
    Effect.map(view(payment, wallet), (body) => {
      if (payment.state === "completed" || payment.state === "expired") return { ...body, methods: [] }
      const { ilpAddress, sharedSecret } = credentials.generate({ kind: "incoming", id: payment.id }, wallet.asset)
      return { ...body, methods: [{ type: "ilp", ilpAddress, sharedSecret: Buffer.from(sharedSecret).toString("base64url") }] }
    })

  /** The payment and its wallet address, or a 404. */
  const find = (id: string) =>
    incomingPayments.get(id).pipe(
      Effect.flatMap((payment) => Effect.map(incomingPayments.walletAddressOf(payment), (wallet) => ({ payment, wallet }))),
      Effect.catchTags({
        IncomingPaymentNotFound: () => Effect.succeed(undefined),
        WalletAddressNotFound: () => Effect.succeed(undefined)
      })
    )

  const notFound = opError(404, "not_found", "no such incoming payment")

  /** Whether the authorized client may touch `paymentId` (its own, or any with `-all`). */
  const owns = (authorized: { readonly grant: { readonly client: string }; readonly all: boolean }, paymentId: string) =>
    authorized.all ? Effect.succeed(true) : Effect.map(store.paymentClient(paymentId), (client) => client === authorized.grant.client)

  const walletDocument = (wallet: WalletAddress): OpResponse =>
    json(200, {
      id: wallet.url,
      ...(wallet.publicName === undefined ? {} : { publicName: wallet.publicName }),
      assetCode: wallet.asset.code,
      assetScale: wallet.asset.scale,
      authServer: auth.url,
      resourceServer: base
    })

  const jwks = (): OpResponse => json(200, { keys: [options.clientKey.jwk] })

  const create = (request: OpRequest): Effect.Effect<OpResponse> =>
    Effect.gen(function*() {
      const body = jsonBody(request)
      const walletUrl = isRecord(body) && typeof body.walletAddress === "string" ? body.walletAddress : undefined
      if (walletUrl === undefined) return opError(400, "invalid_request", "walletAddress: required")
      const wallet = yield* localWallet(walletAddresses, walletUrl)
      if (wallet === undefined) return opError(404, "not_found", "no such wallet address")
      const authorized = yield* auth.authorize(request, "create", wallet.url)
      if (!("grant" in authorized)) return authorized
      const invalid = yield* options.validate("createIncomingPayment", request, body)
      if (invalid !== undefined) return opError(400, "invalid_request", invalid)
      const input = parseCreate(body, wallet.asset, yield* Clock.currentTimeMillis)
      if (typeof input === "string") return opError(400, "invalid_request", input)
      const payment = yield* incomingPayments.create({ walletAddressId: wallet.id, ...input })
      yield* store.recordPaymentClient(payment.id, wallet.id, authorized.grant.client, payment.createdAt)
      return json(201, yield* withMethods(payment, wallet))
    }).pipe(
      Effect.catchTags({
        InvalidIncomingPayment: (error) => Effect.succeed(opError(400, "invalid_request", error.message)),
        WalletAddressNotFound: () => Effect.succeed(opError(404, "not_found", "no such wallet address")),
        LedgerUnavailable: unavailable("ledger"),
        GrantStoreUnavailable: unavailable("grant store"),
        ReceiptStoreUnavailable: unavailable("receipt store")
      })
    )

  const get = (request: OpRequest, id: string): Effect.Effect<OpResponse> =>
    Effect.gen(function*() {
      const found = yield* find(id)
      if (found === undefined) return notFound
      if (request.headers["authorization"] === undefined) {
        const received = yield* totals.paymentTotal(found.payment.id)
        return json(200, { authServer: auth.url, receivedAmount: amount(received, found.wallet.asset) })
      }
      const authorized = yield* auth.authorize(request, "read", found.wallet.url)
      if (!("grant" in authorized)) return authorized
      if (!(yield* owns(authorized, id))) return opError(403, "insufficient_grant", "not an incoming payment of this client")
      return json(200, yield* withMethods(found.payment, found.wallet))
    }).pipe(
      Effect.catchTags({
        GrantStoreUnavailable: unavailable("grant store"),
        ReceiptStoreUnavailable: unavailable("receipt store")
      })
    )

  const complete = (request: OpRequest, id: string): Effect.Effect<OpResponse> =>
    Effect.gen(function*() {
      const found = yield* find(id)
      if (found === undefined) return notFound
      const authorized = yield* auth.authorize(request, "complete", found.wallet.url)
      if (!("grant" in authorized)) return authorized
      if (!(yield* owns({ grant: authorized.grant, all: false }, id))) {
        return opError(403, "insufficient_grant", "not an incoming payment of this client")
      }
      // Open Payments "complete": an already completed payment answers as it is.
      const payment = yield* incomingPayments.complete(id).pipe(
        Effect.catchTag("IncomingPaymentNotOpen", (error): Effect.Effect<IncomingPayment, IncomingPaymentNotFound | InvalidIncomingPayment> =>
          error.state === "completed" ?
            incomingPayments.get(id) :
            Effect.fail(new InvalidIncomingPayment({ message: `the incoming payment is ${error.state}` })))
      )
      return json(200, yield* view(payment, found.wallet))
    }).pipe(
      Effect.catchTags({
        IncomingPaymentNotFound: () => Effect.succeed(notFound),
        InvalidIncomingPayment: (error) => Effect.succeed(opError(400, "invalid_request", error.message)),
        GrantStoreUnavailable: unavailable("grant store"),
        ReceiptStoreUnavailable: unavailable("receipt store")
      })
    )

  const list = (request: OpRequest): Effect.Effect<OpResponse> =>
    Effect.gen(function*() {
      const walletUrl = request.query.get("wallet-address")
      if (walletUrl === null) return opError(400, "invalid_request", "wallet-address: required")
      if (request.query.has("last")) return opError(400, "invalid_request", "last: only forward pages (first, cursor) are supported")
      const firstText = request.query.get("first") ?? String(listPageDefault)
      const first = /^[0-9]{1,3}$/.test(firstText) ? Number(firstText) : Number.NaN
      if (!(first >= 1 && first <= listPageMax)) return opError(400, "invalid_request", `first: 1 to ${listPageMax}`)
      const cursor = request.query.get("cursor") ?? undefined
      const wallet = yield* localWallet(walletAddresses, walletUrl)
      if (wallet === undefined) return opError(404, "not_found", "no such wallet address")
      const authorized = yield* auth.authorize(request, "list", wallet.url)
      if (!("grant" in authorized)) return authorized
      // One more than a page tells whether there is a next one.
      const payments: ReadonlyArray<IncomingPayment> = authorized.all ?
        yield* incomingPayments.list(wallet.id, { limit: first + 1, after: cursor }) :
        yield* Effect.flatMap(
          store.clientPayments(wallet.id, authorized.grant.client, { limit: first + 1, after: cursor }),
          (ids) =>
            Effect.map(
              Effect.forEach(ids, (id) => Effect.option(incomingPayments.get(id))),
              (found) => found.flatMap((option) => option._tag === "Some" ? [option.value] : [])
            )
        )
      const page = payments.slice(0, first)
      const result = yield* Effect.forEach(page, (payment) => view(payment, wallet))
      return json(200, {
        pagination: {
          ...(page.length === 0 ? {} : { startCursor: page[0]!.id, endCursor: page[page.length - 1]!.id }),
          hasNextPage: payments.length > first,
          hasPreviousPage: cursor !== undefined
        },
        result
      })
    }).pipe(
      Effect.catchTags({
        GrantStoreUnavailable: unavailable("grant store"),
        ReceiptStoreUnavailable: unavailable("receipt store")
      })
    )

  return { url: base, walletDocument, jwks, create, get, complete, list }
}

export type ResourceServer = ReturnType<typeof makeResourceServer>
