/**
 * Operator commands for money in and out: `deposit`, `withdraw` (create / post / void / get) and
 * `balances`. Parsing and rendering only, both pure; `OperatorCli.ts` sends the request.
 *
 * Every deposit and withdrawal carries an idempotency id (`--id`; a fresh `cli-<uuid>` when absent).
 * When the outcome is unknown (node unreachable, ledger unavailable) the error names the id: run
 * the same command again with it and the money moves at most once.
 *
 * Output: a short text by default; `--json` prints the API's JSON answer.
 */
import { randomUUID } from "node:crypto"
import { parseArgs } from "node:util"

export interface MoneyRequest {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly body?: unknown
  /** Renders the answer's JSON body as text for a person. */
  readonly render: (body: any) => string
}

export class MoneyUsageError extends Error {
  override readonly name = "MoneyUsageError"
}

export const moneyCommands: ReadonlySet<string> = new Set(["deposit", "withdraw", "balances"])

const accountOptionsText = `(--peer ID | --asset CODE:SCALE | --wallet ID)`

export const depositUsage = `deposit: move money from outside the ledger into an account

  deposit ${accountOptionsText} --amount N [--id ID] [--json]
                                           N: an integer in the asset's smallest unit
  deposit get ID [--json]                  a deposit made earlier

--id names the deposit (letters, digits, . _ : -; at most 64): the same id again moves nothing and
answers the first deposit. A fresh one is made when absent and named in the error when the outcome
is unknown: run the same command with it. Deposits to an inactive wallet address are refused.
`

export const withdrawUsage = `withdraw: take money out of an account in two phases

  withdraw create ${accountOptionsText.slice(0, -1)} | --incoming-payment ID)
                  --amount N [--id ID] [--timeout-seconds S] [--json]
                                           hold N: it can no longer be spent (state pending)
  withdraw post ID [--json]                the money has left: move the held amount out
  withdraw void ID [--json]                release the held amount back to the account
  withdraw get ID [--json]                 the withdrawal and its state

A hold lasts --timeout-seconds (default 86400, at most 2592000) unless posted or voided, then it
expires and the amount is released. Only deposited or earned money can be withdrawn, never a
peer's credit line. --id works as for deposit: a repeat moves nothing twice.
`

export const balancesUsage = `balances: liquidity and settlement balances

  balances [--json]                        every asset's liquidity and settlement, every peer's
                                           liquidity (available = credits - debits - held)
`

export const moneyUsage: Readonly<Record<string, string>> = {
  deposit: depositUsage,
  withdraw: withdrawUsage,
  balances: balancesUsage
}

// ---------------------------------------------------------------------------------------------
// Rendering (pure)
// ---------------------------------------------------------------------------------------------

/** One line about a deposit or withdrawal, and the account's balance now. */
export const movementText = (movement: any): string => {
  const expiry = movement.state === "pending" && movement.expiresAt !== undefined ? `, expires ${movement.expiresAt}` : ""
  const credit = movement.balance.creditLimit !== "0" ? `, credit limit ${movement.balance.creditLimit}` : ""
  return `${movement.kind} ${movement.id}: ${movement.state} ${movement.amount}${expiry}\n` +
    `account ${movement.accountId}: available ${movement.balance.available}, withdrawable ${movement.balance.withdrawable}${credit}`
}

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n")
}

const assetText = (asset: { code: string; scale: number }) => `${asset.code}:${asset.scale}`

export const balancesText = (body: any): string =>
  table([
    ["ACCOUNT", "ASSET", "AVAILABLE", "HELD"],
    ...body.assets.flatMap((entry: any) => [
      ["asset liquidity", assetText(entry.asset), entry.liquidity.available, entry.liquidity.debitsPending],
      ["settlement", assetText(entry.asset), entry.settlement.available, entry.settlement.debitsPending]
    ]),
    ...body.peers.map((entry: any) => [
      `peer ${entry.peerId}`,
      assetText(entry.asset),
      entry.liquidity.available,
      entry.liquidity.debitsPending
    ])
  ])

// ---------------------------------------------------------------------------------------------
// Parsing (pure)
// ---------------------------------------------------------------------------------------------

/** `USD:2` → `{ code: "USD", scale: 2 }`. */
export const parseAsset = (text: string): { readonly code: string; readonly scale: number } => {
  const match = /^([A-Za-z0-9]{1,12}):([0-9]{1,3})$/.exec(text)
  const scale = match === null ? NaN : Number(match[2])
  if (match === null || scale > 255) throw new MoneyUsageError(`--asset: expected CODE:SCALE (e.g. USD:2), got "${text}"`)
  return { code: match[1]!.toUpperCase(), scale }
}

const withoutJson = (args: ReadonlyArray<string>) => args.filter((arg) => arg !== "--json")

const accountOptions = {
  peer: { type: "string" },
  asset: { type: "string" },
  wallet: { type: "string" },
  "incoming-payment": { type: "string" },
  amount: { type: "string" },
  id: { type: "string" },
  "timeout-seconds": { type: "string" }
} as const

/** A fresh idempotency id for a movement. */
export const newMovementId = (): string => `cli-${randomUUID()}`

const movementBody = (
  args: ReadonlyArray<string>,
  kind: "deposit" | "withdrawal",
  newId: () => string
): Record<string, unknown> => {
  const { positionals, values } = parseArgs({ args: [...args], options: accountOptions, strict: true, allowPositionals: true })
  if (positionals.length > 0) throw new MoneyUsageError(`unexpected argument "${positionals[0]}"`)
  const names = kind === "deposit" ? ["peer", "asset", "wallet"] as const : ["peer", "asset", "wallet", "incoming-payment"] as const
  const given = names.filter((name) => values[name] !== undefined)
  if (given.length !== 1) throw new MoneyUsageError(`give exactly one of ${names.map((name) => `--${name}`).join(", ")}`)
  if (kind === "deposit" && values["incoming-payment"] !== undefined) {
    throw new MoneyUsageError("--incoming-payment: deposits go to a peer, an asset or a wallet address")
  }
  if (kind === "deposit" && values["timeout-seconds"] !== undefined) {
    throw new MoneyUsageError("--timeout-seconds: only for withdraw create")
  }
  if (values.amount === undefined) throw new MoneyUsageError("--amount is required")
  const timeout = values["timeout-seconds"]
  if (timeout !== undefined && !/^[0-9]{1,10}$/.test(timeout)) {
    throw new MoneyUsageError(`--timeout-seconds: expected a whole number of seconds, got "${timeout}"`)
  }
  return {
    id: values.id ?? newId(),
    amount: values.amount,
    ...(values.peer === undefined ? {} : { peerId: values.peer }),
    ...(values.asset === undefined ? {} : { asset: parseAsset(values.asset) }),
    ...(values.wallet === undefined ? {} : { walletAddressId: values.wallet }),
    ...(values["incoming-payment"] === undefined ? {} : { incomingPaymentId: values["incoming-payment"] }),
    ...(timeout === undefined ? {} : { timeoutSeconds: Number(timeout) })
  }
}

const oneId = (args: ReadonlyArray<string>, what: string): string => {
  if (args.length !== 1 || args[0]!.startsWith("-")) throw new MoneyUsageError(`${what} takes one ID`)
  return encodeURIComponent(args[0]!)
}

/** The API request of a money command. Throws `MoneyUsageError` for bad arguments. */
export const moneyRequest = (
  command: string,
  args: ReadonlyArray<string>,
  newId: () => string = newMovementId
): MoneyRequest => {
  const plain = withoutJson(args)
  switch (command) {
    case "balances":
      if (plain.length > 0) throw new MoneyUsageError(`balances takes no arguments, got "${plain.join(" ")}"`)
      return { method: "GET", path: "/balances", render: balancesText }
    case "deposit":
      if (plain[0] === "get") return { method: "GET", path: `/deposits/${oneId(plain.slice(1), "deposit get")}`, render: movementText }
      return { method: "POST", path: "/deposits", body: movementBody(plain, "deposit", newId), render: movementText }
    case "withdraw": {
      const [action, ...rest] = plain
      switch (action) {
        case "create":
          return { method: "POST", path: "/withdrawals", body: movementBody(rest, "withdrawal", newId), render: movementText }
        case "post":
        case "void":
          return { method: "POST", path: `/withdrawals/${oneId(rest, `withdraw ${action}`)}/${action}`, render: movementText }
        case "get":
          return { method: "GET", path: `/withdrawals/${oneId(rest, "withdraw get")}`, render: movementText }
        default:
          throw new MoneyUsageError(
            action === undefined ? "withdraw needs create, post, void or get" : `withdraw: unknown action "${action}"`
          )
      }
    }
    default:
      throw new MoneyUsageError(`unknown command "${command}"`)
  }
}
