/**
 * Operator commands for the node's run-time settings: `peers`, `assets`, `rates` (each with
 * subcommands). Parsing and rendering only, both pure; `OperatorCli.ts` sends the request.
 *
 * Secrets never go on the command line (where `ps` and shell history would keep them): incoming and
 * outgoing tokens are given only in a JSON file (`--file`, `-` for stdin), written as a peer in the
 * config file (`peers add`) or as the fields to change (`peers update`).
 *
 * Output: a short human-readable text by default; `--json` prints the API's JSON answer.
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"

export interface SettingsRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  readonly path: string
  readonly body?: unknown
  /** Renders the answer's JSON body as text for a person. */
  readonly render: (body: any) => string
}

export class SettingsUsageError extends Error {
  override readonly name = "SettingsUsageError"
}

export const settingsCommands: ReadonlySet<string> = new Set(["peers", "assets", "rates"])

export const peersUsage = `peers: the node's peers (changes apply at once, no restart)

  peers [list] [--json]                    every peer, without secrets
  peers get ID [--json]                    one peer
  peers add --file PEER.json [--json]      add a peer written as in the config file
                                           (id, asset, incomingTokens, outgoing {url, token},
                                           staticIlpAddress, routes, routeWeight, maxPacketAmount,
                                           rateLimit {packetsPerSecond, burst}, throughputLimit
                                           {amount, periodMs}, creditLimit); "-" reads stdin
  peers update ID [options] [--json]       change a peer:
      --file CHANGES.json                  any fields as above (tokens only this way); null clears
      --max-packet-amount N|none           --credit-limit N
      --route PREFIX (repeatable)          replaces the routes; --no-routes clears them
      --route-weight N                     --address ILP_ADDRESS (static address)
      --rate-limit PPS:BURST|none          --throughput AMOUNT:PERIOD_MS|none
  peers delete ID [--json]                 remove a peer (packets in flight still settle)

A peer without a rate limit gets the default (10000 packets/s, burst 20000).
`

export const assetsUsage = `assets: the node's assets (a ledger per code and scale)

  assets [list] [--json]                   every asset and the peers in it
  assets add CODE:SCALE [--json]           add an asset and create its ledger accounts
  assets delete CODE:SCALE [--json]        remove an asset no peer uses (balances stay)
`

export const ratesUsage = `rates: static exchange rates (whole units of QUOTE per unit of BASE)

  rates [list] [--json]                    every static rate
  rates set BASE QUOTE RATE [--spread S] [--json]
                                           e.g. rates set USD EUR 0.9 --spread 0.005 (0.5 % kept)
  rates delete BASE QUOTE [--json]         remove the pair
`

export const settingsUsage: Readonly<Record<string, string>> = { peers: peersUsage, assets: assetsUsage, rates: ratesUsage }

// ---------------------------------------------------------------------------------------------
// Rendering (pure)
// ---------------------------------------------------------------------------------------------

const assetText = (asset: { code: string; scale: number }) => `${asset.code}:${asset.scale}`

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n")
}

const peerRow = (peer: any): ReadonlyArray<string> => [
  peer.id,
  assetText(peer.asset),
  peer.staticIlpAddress,
  peer.routes.length === 0 ? "-" : peer.routes.join(","),
  peer.maxPacketAmount ?? "-",
  peer.rateLimit === undefined ? "default" : `${peer.rateLimit.packetsPerSecond}/s,${peer.rateLimit.burst}`,
  peer.creditLimit ?? "0",
  peer.outgoing?.url ?? "-"
]

export const renderPeers = (peers: ReadonlyArray<any>): string =>
  peers.length === 0 ?
    "no peers" :
    table([["ID", "ASSET", "ADDRESS", "ROUTES", "MAX PACKET", "RATE LIMIT", "CREDIT", "OUTGOING"], ...peers.map(peerRow)])

export const renderPeer = (peer: any): string =>
  [
    `peer ${peer.id}`,
    `  asset             ${assetText(peer.asset)}`,
    `  static address    ${peer.staticIlpAddress}`,
    `  routes            ${peer.routes.length === 0 ? "-" : peer.routes.join(", ")}${peer.routeWeight === undefined ? "" : ` (weight ${peer.routeWeight})`}`,
    `  max packet        ${peer.maxPacketAmount ?? "none"}`,
    `  rate limit        ${peer.rateLimit === undefined ? "default" : `${peer.rateLimit.packetsPerSecond} packets/s, burst ${peer.rateLimit.burst}`}`,
    `  throughput limit  ${peer.throughputLimit === undefined ? "none" : `${peer.throughputLimit.amount} per ${peer.throughputLimit.periodMs} ms`}`,
    `  credit limit      ${peer.creditLimit ?? "0"}`,
    `  incoming tokens   ${peer.incomingTokens ?? "?"}`,
    `  outgoing          ${peer.outgoing?.url ?? "none"}`
  ].join("\n")

export const renderAssets = (assets: ReadonlyArray<any>): string =>
  assets.length === 0 ?
    "no assets" :
    table([
      ["ASSET", "ADDED", "PEERS"],
      ...assets.map((entry) => [assetText(entry.asset), entry.added ? "yes" : "no", entry.peers.length === 0 ? "-" : entry.peers.join(",")])
    ])

export const renderRates = (rates: ReadonlyArray<any>): string =>
  rates.length === 0 ?
    "no static rates" :
    table([
      ["BASE", "QUOTE", "RATE", "SPREAD", "EFFECTIVE"],
      ...rates.map((rate) => [rate.base, rate.quote, rate.rate, rate.spread ?? "-", rate.effectiveRate])
    ])

// ---------------------------------------------------------------------------------------------
// Parsing (pure but for reading --file)
// ---------------------------------------------------------------------------------------------

const readJson = (file: string, read: (file: string) => string): unknown => {
  let text: string
  try {
    text = read(file)
  } catch (error) {
    throw new SettingsUsageError(`--file: cannot read ${file}: ${(error as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new SettingsUsageError(`--file: ${file} is not JSON: ${(error as Error).message}`)
  }
}

const defaultRead = (file: string): string => readFileSync(file === "-" ? 0 : file, "utf8")

const positionals = (command: string, args: ReadonlyArray<string>, count: number, names: string): ReadonlyArray<string> => {
  if (args.length !== count) throw new SettingsUsageError(`${command}: expected ${names}, got "${args.join(" ")}"`)
  return args
}

const assetPath = (text: string): string => {
  const match = /^([A-Za-z0-9]{1,12}):([0-9]{1,3})$/.exec(text)
  if (match === null || Number(match[2]) > 255) throw new SettingsUsageError(`expected CODE:SCALE (e.g. USD:2), got "${text}"`)
  return `${match[1]!.toUpperCase()}/${Number(match[2])}`
}

const pair = (text: string, what: string): readonly [string, string] => {
  const [left, right, ...rest] = text.split(":")
  if (left === undefined || right === undefined || rest.length > 0 || left === "" || right === "") {
    throw new SettingsUsageError(`${what}: expected A:B, got "${text}"`)
  }
  return [left, right]
}

/** `none` clears (null); anything else is `parse(text)`. */
const orNone = <A>(text: string | undefined, parse: (text: string) => A): A | null | undefined =>
  text === undefined ? undefined : text === "none" ? null : parse(text)

const updateOptions = {
  file: { type: "string" },
  "max-packet-amount": { type: "string" },
  "credit-limit": { type: "string" },
  route: { type: "string", multiple: true },
  "no-routes": { type: "boolean" },
  "route-weight": { type: "string" },
  address: { type: "string" },
  "rate-limit": { type: "string" },
  throughput: { type: "string" }
} as const

/** The body of `PATCH /peers/:id` from `peers update` options. */
export const peerPatch = (args: ReadonlyArray<string>, read: (file: string) => string = defaultRead): Record<string, unknown> => {
  const { values, positionals: extra } = parseArgs({ args: [...args], options: updateOptions, strict: true, allowPositionals: true })
  if (extra.length > 0) throw new SettingsUsageError(`peers update: unexpected "${extra.join(" ")}"`)
  const fromFile = values.file === undefined ? {} : readJson(values.file, read)
  if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile)) {
    throw new SettingsUsageError("--file: must hold a JSON object of the fields to change")
  }
  if (values.route !== undefined && values["no-routes"] === true) throw new SettingsUsageError("give --route or --no-routes, not both")
  const patch: Record<string, unknown> = { ...fromFile }
  const set = (key: string, value: unknown) => {
    if (value !== undefined) patch[key] = value
  }
  set("maxPacketAmount", orNone(values["max-packet-amount"], (text) => text))
  set("creditLimit", values["credit-limit"])
  set("routes", values["no-routes"] === true ? [] : values.route)
  set("routeWeight", values["route-weight"] === undefined ? undefined : Number(values["route-weight"]))
  set("staticIlpAddress", values.address)
  set("rateLimit", orNone(values["rate-limit"], (text) => {
    const [pps, burst] = pair(text, "--rate-limit")
    return { packetsPerSecond: Number(pps), burst: Number(burst) }
  }))
  set("throughputLimit", orNone(values.throughput, (text) => {
    const [amount, periodMs] = pair(text, "--throughput")
    return { amount, periodMs: Number(periodMs) }
  }))
  if (Object.keys(patch).length === 0) throw new SettingsUsageError("peers update: nothing to change")
  return patch
}

const withoutJson = (args: ReadonlyArray<string>): ReadonlyArray<string> => args.filter((arg) => arg !== "--json")

const peersRequest = (args: ReadonlyArray<string>, read: (file: string) => string): SettingsRequest => {
  const [sub = "list", ...rest] = args
  const id = (value: string | undefined) => encodeURIComponent(value ?? "")
  switch (sub) {
    case "list":
      positionals("peers list", rest, 0, "no arguments")
      return { method: "GET", path: "/peers", render: renderPeers }
    case "get":
      positionals("peers get", rest, 1, "ID")
      return { method: "GET", path: `/peers/${id(rest[0])}`, render: renderPeer }
    case "add": {
      const { values } = parseArgs({ args: [...rest], options: { file: { type: "string" } }, strict: true, allowPositionals: false })
      if (values.file === undefined) throw new SettingsUsageError("peers add: --file PEER.json is required")
      return { method: "POST", path: "/peers", body: readJson(values.file, read), render: (peer) => `added ${renderPeer(peer)}` }
    }
    case "update": {
      const [peerId, ...options] = rest
      if (peerId === undefined || peerId.startsWith("--")) throw new SettingsUsageError("peers update: expected ID first")
      return { method: "PATCH", path: `/peers/${id(peerId)}`, body: peerPatch(options, read), render: (peer) => `updated ${renderPeer(peer)}` }
    }
    case "delete":
      positionals("peers delete", rest, 1, "ID")
      return { method: "DELETE", path: `/peers/${id(rest[0])}`, render: (answer) => `deleted peer ${answer.id}` }
    default:
      throw new SettingsUsageError(`peers: unknown subcommand "${sub}"`)
  }
}

const assetsRequest = (args: ReadonlyArray<string>): SettingsRequest => {
  const [sub = "list", ...rest] = args
  switch (sub) {
    case "list":
      positionals("assets list", rest, 0, "no arguments")
      return { method: "GET", path: "/assets", render: renderAssets }
    case "add": {
      const [code, scale] = assetPath(positionals("assets add", rest, 1, "CODE:SCALE")[0]!).split("/")
      return { method: "POST", path: "/assets", body: { code, scale: Number(scale) }, render: (entry) => `added asset ${assetText(entry.asset)}` }
    }
    case "delete":
      return {
        method: "DELETE",
        path: `/assets/${assetPath(positionals("assets delete", rest, 1, "CODE:SCALE")[0]!)}`,
        render: (entry) => `deleted asset ${assetText(entry.asset)}`
      }
    default:
      throw new SettingsUsageError(`assets: unknown subcommand "${sub}"`)
  }
}

const code = (text: string | undefined, what: string): string => {
  if (text === undefined || !/^[A-Za-z0-9]{1,12}$/.test(text)) throw new SettingsUsageError(`${what}: expected an asset code, got "${text ?? ""}"`)
  return text.toUpperCase()
}

const ratesRequest = (args: ReadonlyArray<string>): SettingsRequest => {
  const [sub = "list", ...rest] = args
  switch (sub) {
    case "list":
      positionals("rates list", rest, 0, "no arguments")
      return { method: "GET", path: "/rates", render: renderRates }
    case "set": {
      const { values, positionals: given } = parseArgs({
        args: [...rest],
        options: { spread: { type: "string" } },
        strict: true,
        allowPositionals: true
      })
      const [base, quote, rate] = positionals("rates set", given, 3, "BASE QUOTE RATE")
      return {
        method: "PUT",
        path: `/rates/${code(base, "BASE")}/${code(quote, "QUOTE")}`,
        body: { rate, ...(values.spread === undefined ? {} : { spread: values.spread }) },
        render: (answer) => renderRates([answer])
      }
    }
    case "delete": {
      const [base, quote] = positionals("rates delete", rest, 2, "BASE QUOTE")
      return {
        method: "DELETE",
        path: `/rates/${code(base, "BASE")}/${code(quote, "QUOTE")}`,
        render: (answer) => `deleted rate ${answer.base}→${answer.quote}`
      }
    }
    default:
      throw new SettingsUsageError(`rates: unknown subcommand "${sub}"`)
  }
}

/** The request of a `peers`/`assets`/`rates` command. Throws `SettingsUsageError` for bad arguments. */
export const settingsRequest = (
  command: string,
  args: ReadonlyArray<string>,
  read: (file: string) => string = defaultRead
): SettingsRequest => {
  const plain = withoutJson(args)
  switch (command) {
    case "peers":
      return peersRequest(plain, read)
    case "assets":
      return assetsRequest(plain)
    case "rates":
      return ratesRequest(plain)
    default:
      throw new SettingsUsageError(`unknown command "${command}"`)
  }
}
