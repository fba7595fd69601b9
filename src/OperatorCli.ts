/**
 * Operator commands (SPEC §10): talk to a running node's admin API over HTTP.
 *
 * `ADMIN_URL` (default `http://127.0.0.1:3001`) names the API and `ADMIN_TOKEN` its bearer token.
 * Results are printed to stdout as JSON; errors go to stderr in one line. The token is only ever put
 * in the Authorization header, never printed.
 *
 * Exit codes: 0 success, 1 the node refused the request or could not be reached, 2 bad usage.
 */
import { parseArgs } from "node:util"
import { newTransferId } from "./Accounting/Ledger.ts"
import { settingsCommands, settingsRequest, settingsUsage } from "./OperatorCliSettings.ts"

export const defaultAdminUrl = "http://127.0.0.1:3001"
/** Longest wait for one admin API answer. */
export const requestTimeoutMs = 10_000

export const operatorUsage = `Operator commands (talk to a running node's admin API):

  health                                   is the node up? (no token needed)
  peers [list|get|add|update|delete]       peers, changed at run time (peers --help)
  assets [list|add|delete]                 assets (assets --help)
  rates [list|set|delete]                  static exchange rates with a spread (rates --help)
  balances                                 liquidity and settlement balances
  deposit  (--asset CODE:SCALE | --peer ID) --amount N [--transfer-id ID]
  withdraw (--asset CODE:SCALE | --peer ID) --amount N [--transfer-id ID]
                                           move N (an integer in the asset's smallest unit)
                                           between settlement and liquidity. A transfer id is
                                           generated when absent; when the outcome is unknown
                                           (node unreachable or ledger unavailable) the error
                                           names it: retry with it to apply the move only once

Environment:
  ADMIN_URL    admin API base URL (default ${defaultAdminUrl})
  ADMIN_TOKEN  admin bearer token

Every command takes --help; peers, assets and rates print text, or the API's JSON with --json.
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

/** `USD:2` → `{ code: "USD", scale: 2 }`. */
export const parseAsset = (text: string): { readonly code: string; readonly scale: number } => {
  const match = /^([A-Za-z0-9]{1,12}):([0-9]{1,3})$/.exec(text)
  const scale = match === null ? NaN : Number(match[2])
  if (match === null || scale > 255) throw new UsageError(`--asset: expected CODE:SCALE (e.g. USD:2), got "${text}"`)
  return { code: match[1]!.toUpperCase(), scale }
}

const liquidityOptions = {
  asset: { type: "string" },
  peer: { type: "string" },
  amount: { type: "string" },
  "transfer-id": { type: "string" }
} as const

/**
 * The request body of `deposit`/`withdraw`, with a fresh transfer id when none is given (so a retry
 * after an unknown outcome can reuse it). Amount and ids are checked by the node.
 */
export const liquidityBody = (args: ReadonlyArray<string>, newId: () => bigint): Record<string, unknown> => {
  const { values } = parseArgs({ args: [...args], options: liquidityOptions, strict: true, allowPositionals: false })
  if ((values.asset === undefined) === (values.peer === undefined)) throw new UsageError("give exactly one of --asset or --peer")
  if (values.amount === undefined) throw new UsageError("--amount is required")
  return {
    ...(values.asset === undefined ? {} : { asset: parseAsset(values.asset) }),
    ...(values.peer === undefined ? {} : { peerId: values.peer }),
    amount: values.amount,
    transferId: values["transfer-id"] ?? newId().toString()
  }
}

const noArguments = (command: string, args: ReadonlyArray<string>): void => {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments, got "${args.join(" ")}"`)
}

/** The API request a command makes. Throws `UsageError` for bad arguments. */
export const requestFor = (command: string, args: ReadonlyArray<string>, newId: () => bigint = newTransferId): ApiRequest => {
  switch (command) {
    case "health":
      noArguments(command, args)
      return { method: "GET", path: "/healthz", guarded: false }
    case "peers":
    case "assets":
    case "rates":
      return { ...settingsRequest(command, args), guarded: true }
    case "balances":
      noArguments(command, args)
      return { method: "GET", path: `/${command}`, guarded: true }
    case "deposit":
    case "withdraw":
      return { method: "POST", path: `/liquidity/${command}`, body: liquidityBody(args, newId), guarded: true }
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
  url.pathname = url.pathname.replace(/\/+$/, "")
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
  const transferId = (request.body as { transferId?: unknown } | undefined)?.transferId
  return typeof transferId === "string" ? ` (outcome unknown: retry with --transfer-id ${transferId})` : ""
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
const textCommands: ReadonlySet<string> = settingsCommands

/** Runs one operator command; answers the process exit code. */
export const runOperatorCommand = async (
  command: string,
  args: ReadonlyArray<string>,
  env: Env,
  io: OperatorIo = processIo
): Promise<number> => {
  if (isHelp(command, args)) {
    io.out(settingsUsage[command] ?? operatorUsage)
    return 0
  }
  const json = args.includes("--json") || !textCommands.has(command)
  let base: URL
  let request: ApiRequest
  try {
    base = adminBaseUrl(env)
    request = requestFor(command, textCommands.has(command) ? args : args.filter((arg) => arg !== "--json"))
  } catch (error) {
    io.err(`error: ${(error as Error).message}\n\n${settingsUsage[command] ?? operatorUsage}`)
    return 2
  }
  const token = env.ADMIN_TOKEN
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
