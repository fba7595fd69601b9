/**
 * Operator commands for wallet addresses, incoming payments, quotes and outgoing payments. Parsing
 * and rendering only, both pure; `OperatorCli.ts` sends the request. Output: a short text by
 * default; `--json` prints the API's JSON answer.
 */
import { parseArgs } from "node:util"
import { parseAsset } from "./OperatorCliMoney.ts"

export class PaymentsUsageError extends Error {
  override readonly name = "PaymentsUsageError"
}

export interface PaymentsRequest {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly body?: unknown
  readonly render: (body: any) => string
}

export const paymentsCommands: ReadonlySet<string> = new Set([
  "wallet-addresses",
  "incoming-payments",
  "quotes",
  "outgoing-payments"
])

export const paymentsUsage: Readonly<Record<string, string>> = {
  "wallet-addresses": `wallet-addresses: the node's wallet addresses (receivers of STREAM payments)

  wallet-addresses list [--limit N] [--after ID] [--json]
  wallet-addresses get ID [--json]         with its balance
  wallet-addresses create --url URL --asset CODE:SCALE [--public-name NAME] [--json]
`,
  "incoming-payments": `incoming-payments: payments a wallet address expects

  incoming-payments list --wallet ID [--limit N] [--after ID] [--json]
  incoming-payments get ID [--json]        with what it has received
  incoming-payments create --wallet ID [--amount N] [--expires-at ISO-TIME] [--json]
                                           N: the cap, an integer in the asset's smallest unit
  incoming-payments credentials ID [--json]
                                           ILP address and shared secret a STREAM sender pays with
(complete-incoming-payment ID and cancel-incoming-payment ID close one.)
`,
  quotes: `quotes: what paying a receiver from a wallet address costs (probed, valid 5 minutes)

  quotes create --wallet ID RECEIVER (--debit N | --receive N) [--json]
      RECEIVER: --incoming-payment ID | --spsp URL | --open-payments URL
                | --ilp-address ADDRESS --shared-secret BASE64
  quotes get ID [--json]
`,
  "outgoing-payments": `outgoing-payments: pay a quote

  outgoing-payments create --quote ID [--json]
                                           reserves the debit amount and sends it
  outgoing-payments get ID [--json]        state, amounts sent and delivered
(cancel-outgoing-payment ID stops one and refunds what is left.)
`
}

// ---------------------------------------------------------------------------------------------
// Rendering (pure)
// ---------------------------------------------------------------------------------------------

const amount = (value: any): string =>
  value === undefined || value === null ? "-" : `${value.value} (${value.assetCode}:${value.assetScale})`

export const walletText = (wallet: any): string =>
  `wallet address ${wallet.id} ${wallet.url} ${wallet.asset.code}:${wallet.asset.scale} ` +
  `${wallet.active ? "active" : "inactive"}, available ${wallet.balance?.available ?? "-"}`

export const incomingText = (payment: any): string =>
  `incoming payment ${payment.id} (wallet ${payment.walletAddressId}): ${payment.state}, ` +
  `received ${amount(payment.receivedAmount)} of ${payment.incomingAmount === undefined ? "no cap" : amount(payment.incomingAmount)}`

export const quoteText = (quote: any): string =>
  `quote ${quote.id}: debit ${amount(quote.debitAmount)}, receive ${amount(quote.receiveAmount)}, expires ${quote.expiresAt}`

export const outgoingText = (payment: any): string =>
  `outgoing payment ${payment.id} (quote ${payment.quoteId}): ${payment.state}, sent ${amount(payment.sentAmount)} ` +
  `of ${amount(payment.debitAmount)}, delivered ${amount(payment.deliveredAmount)}` +
  (payment.error === undefined ? "" : `\nerror: ${payment.error}`)

const lines = (render: (item: any) => string, none: string) => (items: ReadonlyArray<any>): string =>
  items.length === 0 ? none : items.map(render).join("\n")

// ---------------------------------------------------------------------------------------------
// Parsing (pure)
// ---------------------------------------------------------------------------------------------

const options = (args: ReadonlyArray<string>, names: ReadonlyArray<string>) => {
  try {
    const { positionals, values } = parseArgs({
      args: [...args],
      options: Object.fromEntries(names.map((name) => [name, { type: "string" as const }])),
      strict: true,
      allowPositionals: true
    })
    if (positionals.length > 0) throw new PaymentsUsageError(`unexpected argument "${positionals[0]}"`)
    return values as Record<string, string | undefined>
  } catch (error) {
    throw error instanceof PaymentsUsageError ? error : new PaymentsUsageError((error as Error).message)
  }
}

const required = (values: Record<string, string | undefined>, name: string): string => {
  const value = values[name]
  if (value === undefined) throw new PaymentsUsageError(`--${name} is required`)
  return value
}

/** The one id argument, safe in a URL path. */
const oneId = (args: ReadonlyArray<string>, what: string): string => {
  if (args.length !== 1 || !/^[A-Za-z0-9-]{1,64}$/.test(args[0]!)) throw new PaymentsUsageError(`${what} takes one id`)
  return args[0]!
}

const pageQuery = (values: Record<string, string | undefined>): string => {
  const query = new URLSearchParams()
  if (values["limit"] !== undefined) {
    if (!/^[0-9]{1,3}$/.test(values["limit"]) || Number(values["limit"]) < 1) throw new PaymentsUsageError("--limit: an integer from 1 to 500")
    query.set("limit", values["limit"])
  }
  if (values["after"] !== undefined) query.set("after", values["after"])
  const text = query.toString()
  return text === "" ? "" : `?${text}`
}

const receiverOf = (values: Record<string, string | undefined>): Record<string, string> => {
  const given = [
    values["incoming-payment"] === undefined ? [] : [{ incomingPaymentId: values["incoming-payment"] }],
    values["spsp"] === undefined ? [] : [{ spspUrl: values["spsp"] }],
    values["open-payments"] === undefined ? [] : [{ openPaymentsUrl: values["open-payments"] }],
    values["ilp-address"] === undefined && values["shared-secret"] === undefined ?
      [] :
      [{ ilpAddress: required(values, "ilp-address"), sharedSecret: required(values, "shared-secret") }]
  ].flat()
  if (given.length !== 1) {
    throw new PaymentsUsageError("give exactly one receiver: --incoming-payment, --spsp, --open-payments, or --ilp-address with --shared-secret")
  }
  return given[0]!
}

const verb = (command: string, plain: ReadonlyArray<string>, verbs: ReadonlyArray<string>): [string, Array<string>] => {
  const [action, ...rest] = plain
  if (action === undefined || !verbs.includes(action)) {
    throw new PaymentsUsageError(`${command} needs ${verbs.join(", ")}${action === undefined ? "" : ` (got "${action}")`}`)
  }
  return [action, rest]
}

/** The API request of a payments command. Throws `PaymentsUsageError` for bad arguments. */
export const paymentsRequest = (command: string, args: ReadonlyArray<string>): PaymentsRequest => {
  const plain = args.filter((arg) => arg !== "--json")
  switch (command) {
    case "wallet-addresses": {
      const [action, rest] = verb(command, plain, ["list", "get", "create"])
      if (action === "get") return { method: "GET", path: `/wallet-addresses/${oneId(rest, "wallet-addresses get")}`, render: walletText }
      if (action === "list") {
        const values = options(rest, ["limit", "after"])
        return { method: "GET", path: `/wallet-addresses${pageQuery(values)}`, render: lines(walletText, "no wallet addresses") }
      }
      const values = options(rest, ["url", "asset", "public-name"])
      return {
        method: "POST",
        path: "/wallet-addresses",
        body: {
          url: required(values, "url"),
          asset: parseAsset(required(values, "asset")),
          ...(values["public-name"] === undefined ? {} : { publicName: values["public-name"] })
        },
        render: walletText
      }
    }
    case "incoming-payments": {
      const [action, rest] = verb(command, plain, ["list", "get", "create", "credentials"])
      if (action === "get") return { method: "GET", path: `/incoming-payments/${oneId(rest, "incoming-payments get")}`, render: incomingText }
      if (action === "credentials") {
        return {
          method: "GET",
          path: `/incoming-payments/${oneId(rest, "incoming-payments credentials")}/credentials`,
          render: (body) => `ILP address ${body.ilpAddress}\nshared secret ${body.sharedSecret}`
        }
      }
      if (action === "list") {
        const values = options(rest, ["wallet", "limit", "after"])
        const wallet = oneId([required(values, "wallet")], "--wallet")
        return {
          method: "GET",
          path: `/wallet-addresses/${wallet}/incoming-payments${pageQuery(values)}`,
          render: lines(incomingText, "no incoming payments")
        }
      }
      const values = options(rest, ["wallet", "amount", "expires-at"])
      return {
        method: "POST",
        path: "/incoming-payments",
        body: {
          walletAddressId: required(values, "wallet"),
          ...(values["amount"] === undefined ? {} : { incomingAmount: values["amount"] }),
          ...(values["expires-at"] === undefined ? {} : { expiresAt: values["expires-at"] })
        },
        render: incomingText
      }
    }
    case "quotes": {
      const [action, rest] = verb(command, plain, ["create", "get"])
      if (action === "get") return { method: "GET", path: `/quotes/${oneId(rest, "quotes get")}`, render: quoteText }
      const values = options(rest, ["wallet", "incoming-payment", "spsp", "open-payments", "ilp-address", "shared-secret", "debit", "receive"])
      if ((values["debit"] === undefined) === (values["receive"] === undefined)) {
        throw new PaymentsUsageError("give one of --debit N or --receive N")
      }
      return {
        method: "POST",
        path: "/quotes",
        body: {
          walletAddressId: required(values, "wallet"),
          receiver: receiverOf(values),
          ...(values["debit"] === undefined ? {} : { debitAmount: values["debit"] }),
          ...(values["receive"] === undefined ? {} : { receiveAmount: values["receive"] })
        },
        render: quoteText
      }
    }
    case "outgoing-payments": {
      const [action, rest] = verb(command, plain, ["create", "get"])
      if (action === "get") return { method: "GET", path: `/outgoing-payments/${oneId(rest, "outgoing-payments get")}`, render: outgoingText }
      const values = options(rest, ["quote"])
      return { method: "POST", path: "/outgoing-payments", body: { quoteId: required(values, "quote") }, render: outgoingText }
    }
    default:
      throw new PaymentsUsageError(`unknown command "${command}"`)
  }
}
