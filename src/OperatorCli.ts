/**
 * Operator commands (SPEC §10): talk to a running node's admin API over HTTP.
 *
 * `ADMIN_URL` (default `http://127.0.0.1:3001`) names the API and `ADMIN_TOKEN` its bearer token.
 * Results are printed to stdout as JSON; errors go to stderr in one line. The token is only ever put
 * in the Authorization header, never printed.
 *
 * Exit codes: 0 success, 1 the node refused the request or could not be reached, 2 bad usage.
 */
import { readAdminToken } from "./DataDir.ts"
import { trimTrailingSlashes } from "./Payments/WalletAddresses.ts"
import { eventsRequest, eventsUsage } from "./OperatorCliEvents.ts"
import { moneyCommands, moneyRequest, moneyUsage } from "./OperatorCliMoney.ts"
import { paymentsCommands, paymentsRequest, paymentsUsage } from "./OperatorCliPayments.ts"
import { settingsCommands, settingsRequest, settingsUsage } from "./OperatorCliSettings.ts"

export const defaultAdminUrl = "http://127.0.0.1:3001"
/** Longest wait for one admin API answer. */
export const requestTimeoutMs = 10_000

export const operatorUsage = `Operator commands (talk to a running node's admin API):

  health                                   is the node up? (no token needed)
  peers [list|get|add|update|delete]       peers, changed at run time (peers --help)
  assets [list|add|delete]                 assets (assets --help)
  rates [list|set|delete]                  static exchange rates with a spread (rates --help)
  balances                                 liquidity and settlement balances (balances --help)
  deposit (--peer ID | --asset CODE:SCALE | --wallet ID) --amount N [--id ID]
                                           money in, once per --id (deposit --help)
  withdraw create|post|void|get            money out in two phases: hold, then post or void
                                           (withdraw --help)
  complete-incoming-payment ID             no more money for it; what arrived stays
  cancel-incoming-payment ID               the same, marked cancelled
  cancel-outgoing-payment ID               stop sending; what is left goes back to the wallet
  events [list|replay ID]                  events and their webhook delivery (events --help)
  wallet-addresses list|get|create         wallet addresses (wallet-addresses --help)
  incoming-payments list|get|create|credentials
                                           incoming payments (incoming-payments --help)
  quotes create|get                        quotes to a receiver (quotes --help)
  outgoing-payments create|get             pay a quote (outgoing-payments --help)

Environment:
  ADMIN_URL    admin API base URL (default ${defaultAdminUrl})
  ADMIN_TOKEN  admin bearer token (default: the one the node generated, in DATA_DIR/admin-token)
  DATA_DIR     the node's data directory (default ./data)

Every command takes --help; all but health and the complete/cancel commands print text, or the API's
JSON with --json.
Tokens are never given on the command line: peers add/update read them from a JSON --file.

Exit codes: 0 success, 1 refused by the node or unreachable, 2 bad usage.
`

export type Env = Readonly<Record<string, string | undefined>>

export interface OperatorIo {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
}

const processIo: OperatorIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`)
}

class UsageError extends Error {
  override readonly name = "UsageError"
}

interface ApiRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  readonly path: string
  readonly body?: unknown
  readonly guarded: boolean
  /** Text for a person from the answer's JSON (printed unless `--json`); JSON when absent. */
  readonly render?: (body: any) => string
}

// ---------------------------------------------------------------------------------------------
// Parsing (pure)
// ---------------------------------------------------------------------------------------------

export { parseAsset } from "./OperatorCliMoney.ts"

const noArguments = (command: string, args: ReadonlyArray<string>): void => {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments, got "${args.join(" ")}"`)
}

/** The one id argument of a command, safe in a URL path. */
const oneId = (command: string, args: ReadonlyArray<string>): string => {
  if (args.length !== 1 || !/^[A-Za-z0-9-]{1,64}$/.test(args[0]!)) throw new UsageError(`${command} takes one id`)
  return args[0]!
}

/** The API request a command makes. Throws `UsageError` for bad arguments. */
export const requestFor = (command: string, args: ReadonlyArray<string>): ApiRequest => {
  switch (command) {
    case "health":
      noArguments(command, args)
      return { method: "GET", path: "/healthz", guarded: false }
    case "peers":
    case "assets":
    case "rates":
      return { ...settingsRequest(command, args), guarded: true }
    case "balances":
    case "deposit":
    case "withdraw":
      return { ...moneyRequest(command, args), guarded: true }
    case "events":
      return { ...eventsRequest(args), guarded: true }
    case "wallet-addresses":
    case "incoming-payments":
    case "quotes":
    case "outgoing-payments":
      return { ...paymentsRequest(command, args), guarded: true }
    case "complete-incoming-payment":
      return { method: "POST", path: `/incoming-payments/${oneId(command, args)}/complete`, guarded: true }
    case "cancel-incoming-payment":
      return { method: "POST", path: `/incoming-payments/${oneId(command, args)}/cancel`, guarded: true }
    case "cancel-outgoing-payment":
      return { method: "POST", path: `/outgoing-payments/${oneId(command, args)}/cancel`, guarded: true }
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

/** The admin API base URL, checked, without user info or trailing slash. */
export const adminBaseUrl = (env: Env): URL => {
  const text = env.ADMIN_URL === undefined || env.ADMIN_URL === "" ? defaultAdminUrl : env.ADMIN_URL
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError("ADMIN_URL: not a URL")
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError("ADMIN_URL: must be http(s)")
  if (url.username !== "" || url.password !== "") throw new UsageError("ADMIN_URL: put the token in ADMIN_TOKEN, not in the URL")
  url.pathname = trimTrailingSlashes(url.pathname)
  return url
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

interface ApiAnswer {
  readonly status: number
  readonly body: unknown
}

const headersFor = (request: ApiRequest, token: string | undefined): Record<string, string> => ({
  accept: "application/json",
  ...(request.body === undefined ? {} : { "content-type": "application/json" }),
  ...(request.guarded && token !== undefined && token !== "" ? { authorization: `Bearer ${token}` } : {})
})

const send = async (base: URL, request: ApiRequest, token: string | undefined): Promise<ApiAnswer> => {
  const response = await fetch(`${base.href.replace(/\/$/, "")}${request.path}`, {
    method: request.method,
    headers: headersFor(request, token),
    ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    signal: AbortSignal.timeout(requestTimeoutMs)
  })
  const text = await response.text()
  let body: unknown = text
  try {
    body = text === "" ? undefined : JSON.parse(text)
  } catch {
    // not JSON: report the text
  }
  return { status: response.status, body }
}

const messageOf = (body: unknown): string => {
  if (typeof body === "object" && body !== null && typeof (body as { message?: unknown }).message === "string") {
    return (body as { message: string }).message
  }
  return typeof body === "string" && body !== "" ? body.slice(0, 500) : "no details"
}

/** For a move whose outcome is unknown: how to retry it without applying it twice. */
const retryHint = (request: ApiRequest): string => {
  const body = request.body as { transferId?: unknown; id?: unknown } | undefined
  if (request.path === "/deposits" || request.path === "/withdrawals") {
    return typeof body?.id === "string" ? ` (outcome unknown: run it again with --id ${body.id})` : ""
  }
  return typeof body?.transferId === "string" ? ` (outcome unknown: retry with --transfer-id ${body.transferId})` : ""
}

const refusal = (request: ApiRequest, answer: ApiAnswer, token: string | undefined): string => {
  const hint = answer.status === 401 && (token === undefined || token === "") ?
    " (ADMIN_TOKEN is not set)" :
    answer.status >= 500 ? retryHint(request) : ""
  return `error: ${answer.status} ${messageOf(answer.body)}${hint}`
}

const unreachable = (base: URL, request: ApiRequest, error: unknown): string => {
  const cause = (error as { cause?: { message?: unknown } })?.cause?.message
  const detail = (error as Error)?.name === "TimeoutError" ?
    `no answer within ${requestTimeoutMs} ms` :
    String(typeof cause === "string" ? cause : (error as Error)?.message ?? error)
  return `error: cannot reach the admin API at ${base.origin}: ${detail}${retryHint(request)}`
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

const isHelp = (command: string, args: ReadonlyArray<string>) =>
  command === "help" || command === "--help" || command === "-h" || args.includes("--help") || args.includes("-h")

/** Commands whose default output is text; `--json` asks for the API's JSON instead. */
const textCommands: ReadonlySet<string> = new Set([...settingsCommands, ...moneyCommands, ...paymentsCommands, "events"])

const usageOf = (command: string): string =>
  settingsUsage[command] ?? moneyUsage[command] ?? paymentsUsage[command] ?? (command === "events" ? eventsUsage : operatorUsage)

/** Runs one operator command; answers the process exit code. */
export const runOperatorCommand = async (
  command: string,
  args: ReadonlyArray<string>,
  env: Env,
  io: OperatorIo = processIo
): Promise<number> => {
  if (isHelp(command, args)) {
    io.out(usageOf(command))
    return 0
  }
  const json = args.includes("--json") || !textCommands.has(command)
  let base: URL
  let request: ApiRequest
  try {
    base = adminBaseUrl(env)
    request = requestFor(command, textCommands.has(command) ? args : args.filter((arg) => arg !== "--json"))
  } catch (error) {
    io.err(`error: ${(error as Error).message}\n\n${usageOf(command)}`)
    return 2
  }
  // Without ADMIN_TOKEN: the token the node generated on its first start, in its data directory.
  const token = env.ADMIN_TOKEN || readAdminToken(env.DATA_DIR || "./data")
  let answer: ApiAnswer
  try {
    answer = await send(base, request, token)
  } catch (error) {
    io.err(unreachable(base, request, error))
    return 1
  }
  if (answer.status < 200 || answer.status > 299) {
    io.err(refusal(request, answer, token))
    return 1
  }
  io.out(json || request.render === undefined ? JSON.stringify(answer.body, null, 2) : request.render(answer.body))
  return 0
}
