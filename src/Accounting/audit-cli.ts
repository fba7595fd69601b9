/**
 * `node src/Accounting/audit-cli.ts (--db <file> | --tigerbeetle <addresses> [--cluster-id <id>])
 *  [--expect-settlement <ledger>=<amount>]... [--json]`
 *
 * Audits an embedded ledger file, safely while a node is running on it (read-only, one
 * snapshot): the invariants of `Audit.ts` plus a replay of the journal against the stored
 * balances. Or a TigerBeetle cluster (`--tigerbeetle`, else `TIGERBEETLE_ADDRESSES` and
 * `TIGERBEETLE_CLUSTER_ID` when no `--db` is given): the same invariants plus every account's
 * balances explained by its transfers (`AuditTigerBeetle.ts`). Prints the report; exit code 0 when
 * clean, 1 on any violation, 2 when the audit could not run (bad arguments, unreadable or foreign
 * file, unreachable cluster).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { parseArgs } from "node:util"
import * as Audit from "./Audit.ts"
import * as AuditTigerBeetle from "./AuditTigerBeetle.ts"
import * as LedgerSqlite from "./LedgerSqlite.ts"
import * as LedgerTigerBeetle from "./LedgerTigerBeetle.ts"

export const usage =
  "usage: audit-cli (--db <file> | --tigerbeetle <host:port,...> [--cluster-id <id>])\n" +
  "                 [--expect-settlement <ledger>=<amount>]... [--json]\n" +
  "  without --db or --tigerbeetle: TIGERBEETLE_ADDRESSES and TIGERBEETLE_CLUSTER_ID\n" +
  "  exit 0: no violations; 1: violations found; 2: the audit could not run"

export type Target =
  | { readonly kind: "sqlite"; readonly db: string }
  | { readonly kind: "tigerbeetle"; readonly clusterId: bigint; readonly addresses: ReadonlyArray<string> }

export interface CliArgs {
  readonly target: Target
  readonly expectedSettlement: ReadonlyMap<number, bigint>
  readonly json: boolean
}

const addressList = (text: string): ReadonlyArray<string> =>
  text.split(",").map((address) => address.trim()).filter((address) => address !== "")

const parseClusterId = (text: string): bigint => {
  if (!/^[0-9]{1,39}$/.test(text)) throw new Error(`bad cluster id ${text}: expected a decimal u128`)
  return BigInt(text)
}

const parseExpectation = (text: string): readonly [number, bigint] => {
  const match = /^(\d+)=(-?\d+)$/.exec(text)
  if (match === null) throw new Error(`bad --expect-settlement ${text}: expected <ledger>=<amount>`)
  return [Number(match[1]), BigInt(match[2]!)]
}

/** Parses the command line (and the TigerBeetle variables in `env`); throws with a message on bad input. */
export const parseCliArgs = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>> = process.env
): CliArgs => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      db: { type: "string" },
      tigerbeetle: { type: "string" },
      "cluster-id": { type: "string" },
      "expect-settlement": { type: "string", multiple: true },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false }
    },
    strict: true
  })
  if (values.help === true) throw new Error(usage)
  if (values.db !== undefined && values.tigerbeetle !== undefined) throw new Error(`--db or --tigerbeetle, not both\n${usage}`)
  const addresses = values.tigerbeetle ?? (values.db === undefined ? env["TIGERBEETLE_ADDRESSES"] : undefined)
  const target: Target | undefined = values.db !== undefined ?
    { kind: "sqlite", db: values.db } :
    addresses !== undefined && addressList(addresses).length > 0 ?
    {
      kind: "tigerbeetle",
      addresses: addressList(addresses),
      clusterId: parseClusterId(values["cluster-id"] ?? env["TIGERBEETLE_CLUSTER_ID"] ?? "0")
    } :
    undefined
  if (target === undefined) throw new Error(usage)
  return {
    target,
    expectedSettlement: new Map((values["expect-settlement"] ?? []).map(parseExpectation)),
    json: values.json === true
  }
}

const journalViolations = (filename: string) =>
  Effect.map(LedgerSqlite.verifyJournal({ filename }), ({ mismatches, total }): Audit.ExtraViolations => ({
    violations: mismatches.map((mismatch) => ({ _tag: "JournalMismatch", ...mismatch })),
    omitted: total - mismatches.length
  }))

const auditSqlite = (db: string, expectedSettlement: ReadonlyMap<number, bigint>) =>
  Effect.gen(function*() {
    const extra = yield* journalViolations(db)
    return yield* Audit.run({ expectedSettlement }, extra)
  }).pipe(Effect.provide(LedgerSqlite.layerReadOnly({ filename: db })))

/** Accounts per page on TigerBeetle: what a cluster started with `--development` answers at most. */
const tigerBeetlePageSize = 250

const balanceViolations = (check: AuditTigerBeetle.BalanceCheck): Audit.ExtraViolations => ({
  violations: check.mismatches.map((mismatch): Audit.Violation =>
    mismatch._tag === "PostedMismatch" ? { ...mismatch, _tag: "JournalMismatch" } : mismatch
  ),
  omitted: check.omitted
})

const auditTigerBeetle = (
  target: Extract<Target, { kind: "tigerbeetle" }>,
  expectedSettlement: ReadonlyMap<number, bigint>
) =>
  Effect.gen(function*() {
    const check = yield* Effect.tryPromise(() =>
      AuditTigerBeetle.checkBalances({ clusterId: target.clusterId, replicaAddresses: target.addresses })
    )
    const report = yield* Audit.run({ expectedSettlement, pageSize: tigerBeetlePageSize }, balanceViolations(check))
    return { ...report, pendingTransfers: Option.some(check.pendingTransfers) }
  }).pipe(Effect.provide(LedgerTigerBeetle.layer({
    clusterId: target.clusterId,
    replicaAddresses: target.addresses,
    requestTimeoutMs: AuditTigerBeetle.defaults.requestTimeoutMs
  })))

/** Audits the ledger named in `args`. */
export const audit = (args: CliArgs) =>
  args.target.kind === "sqlite" ?
    auditSqlite(args.target.db, args.expectedSettlement) :
    auditTigerBeetle(args.target, args.expectedSettlement)

const describeTarget = (target: Target): string =>
  target.kind === "sqlite" ? target.db : `TigerBeetle cluster ${target.clusterId} at ${target.addresses.join(",")}`

const toJson = (report: Audit.AuditReport): string =>
  JSON.stringify(
    { ...report, pendingTransfers: Option.getOrNull(report.pendingTransfers), clean: Audit.isClean(report) },
    (_, value) => typeof value === "bigint" ? value.toString() : value,
    2
  )

export interface Output {
  readonly log: (text: string) => void
  readonly error: (text: string) => void
}

/** Runs the audit command; answers the exit code. */
export const main = async (argv: ReadonlyArray<string>, output: Output = console): Promise<number> => {
  let args: CliArgs
  try {
    args = parseCliArgs(argv)
  } catch (error) {
    output.error(error instanceof Error ? error.message : String(error))
    return 2
  }
  const exit = await Effect.runPromiseExit(audit(args))
  if (Exit.isFailure(exit)) {
    output.error(`cannot audit ${describeTarget(args.target)}: ${Cause.pretty(exit.cause)}`)
    return 2
  }
  const report = exit.value
  output.log(args.json ? toJson(report) : [`ledger audit of ${describeTarget(args.target)}`, ...Audit.renderReport(report)].join("\n"))
  return Audit.isClean(report) ? 0 : 1
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
