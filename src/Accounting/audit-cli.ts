/**
 * `node src/Accounting/audit-cli.ts --db <file> [--expect-settlement <ledger>=<amount>]... [--json]`
 *
 * Audits an embedded ledger file, safely while a node is running on it (read-only, one
 * snapshot): the invariants of `Audit.ts` plus a replay of the journal against the stored
 * balances. Prints the report; exit code 0 when clean, 1 on any violation, 2 when the audit could
 * not run (bad arguments, unreadable or foreign file).
 */
import { Cause, Effect, Exit, Option } from "effect"
import { parseArgs } from "node:util"
import * as Audit from "./Audit.ts"
import * as LedgerSqlite from "./LedgerSqlite.ts"

export const usage =
  "usage: audit-cli --db <file> [--expect-settlement <ledger>=<amount>]... [--json]\n" +
  "  exit 0: no violations; 1: violations found; 2: the audit could not run"

export interface CliArgs {
  readonly db: string
  readonly expectedSettlement: ReadonlyMap<number, bigint>
  readonly json: boolean
}

const parseExpectation = (text: string): readonly [number, bigint] => {
  const match = /^(\d+)=(-?\d+)$/.exec(text)
  if (match === null) throw new Error(`bad --expect-settlement ${text}: expected <ledger>=<amount>`)
  return [Number(match[1]), BigInt(match[2]!)]
}

/** Parses the command line; throws with a message on bad input. */
export const parseCliArgs = (argv: ReadonlyArray<string>): CliArgs => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      db: { type: "string" },
      "expect-settlement": { type: "string", multiple: true },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false }
    },
    strict: true
  })
  if (values.help === true || values.db === undefined) throw new Error(usage)
  return {
    db: values.db,
    expectedSettlement: new Map((values["expect-settlement"] ?? []).map(parseExpectation)),
    json: values.json === true
  }
}

const journalViolations = (filename: string) =>
  Effect.map(LedgerSqlite.verifyJournal({ filename }), ({ mismatches, total }): Audit.ExtraViolations => ({
    violations: mismatches.map((mismatch) => ({ _tag: "JournalMismatch", ...mismatch })),
    omitted: total - mismatches.length
  }))

/** Audits the file named in `args`. */
export const audit = (args: CliArgs) =>
  Effect.gen(function*() {
    const extra = yield* journalViolations(args.db)
    return yield* Audit.run({ expectedSettlement: args.expectedSettlement }, extra)
  }).pipe(Effect.provide(LedgerSqlite.layerReadOnly({ filename: args.db })))

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
    output.error(`cannot audit ${args.db}: ${Cause.pretty(exit.cause)}`)
    return 2
  }
  const report = exit.value
  output.log(args.json ? toJson(report) : [`ledger audit of ${args.db}`, ...Audit.renderReport(report)].join("\n"))
  return Audit.isClean(report) ? 0 : 1
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
