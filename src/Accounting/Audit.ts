/**
 * The ledger audit: checks the invariants every ledger must hold, on a live database, and
 * reports what it finds. It reads only.
 *
 * Per ledger (asset):
 * - double entry: total debits posted == total credits posted, and total debits pending == total
 *   credits pending (every transfer debits one account and credits another by the same amount);
 * - no account violates its own balance flag (counting pending amounts, as TigerBeetle does);
 * - optionally, the settlement accounts' net (debits posted - credits posted: deposits minus
 *   withdrawals) equals what the operator expects.
 * It also reports account counts, pending totals and, where the backend can count them, the number
 * of pending transfers. Backend-specific checks (the embedded ledger's journal replay) are passed
 * in as `ExtraViolations`.
 *
 * Against TigerBeetle the pages of accounts are read one request at a time, so on a busy cluster
 * the totals may mix moments; the embedded ledger's read-only layer reads one snapshot.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import {
  type Account,
  type AccountBalance,
  AccountCode,
  accountsPageSizeMax,
  Ledger,
  type LedgerUnavailable
} from "./Ledger.ts"
import { exceedsCredits, exceedsDebits, flagsToBits } from "./LedgerRules.ts"

export interface LedgerTotals {
  readonly ledger: number
  readonly accounts: number
  readonly debitsPosted: bigint
  readonly creditsPosted: bigint
  readonly debitsPending: bigint
  readonly creditsPending: bigint
  /** Σ (debits posted - credits posted) over the settlement accounts. */
  readonly settlementNet: bigint
}

export type Violation =
  | {
    readonly _tag: "UnbalancedPosted"
    readonly ledger: number
    readonly debitsPosted: bigint
    readonly creditsPosted: bigint
  }
  | {
    readonly _tag: "UnbalancedPending"
    readonly ledger: number
    readonly debitsPending: bigint
    readonly creditsPending: bigint
  }
  | {
    readonly _tag: "FlagViolated"
    readonly ledger: number
    readonly account: AccountBalance
    readonly flag: "debitsMustNotExceedCredits" | "creditsMustNotExceedDebits"
  }
  | { readonly _tag: "SettlementMismatch"; readonly ledger: number; readonly expected: bigint; readonly actual: bigint }
  | { readonly _tag: "JournalMismatch"; readonly expected: AccountBalance; readonly actual: AccountBalance }
  | PendingMismatch
  | AccountBusy

/** TigerBeetle: a pending balance its live pending transfers do not explain (one past its timeout, or money gone). */
export interface PendingMismatch {
  readonly _tag: "PendingMismatch"
  readonly account: AccountBalance
  readonly side: "debits" | "credits"
  readonly explainedMin: bigint
  readonly explainedMax: bigint
}

/** TigerBeetle: an account that kept changing while its transfers were read (`attemptsMax` tries), so not judged. */
export interface AccountBusy {
  readonly _tag: "AccountBusy"
  readonly accountId: bigint
}

export interface AuditReport {
  readonly ledgers: ReadonlyArray<LedgerTotals>
  /** `none` when the backend cannot count pending transfers (TigerBeetle). */
  readonly pendingTransfers: Option.Option<number>
  readonly violations: ReadonlyArray<Violation>
  /** Violations found beyond `violationsReportedMax` (counted, not listed). */
  readonly violationsOmitted: number
}

export interface AuditOptions {
  /** Expected settlement net per ledger. */
  readonly expectedSettlement?: ReadonlyMap<number, bigint>
  /** Accounts read per request, 1..`accountsPageSizeMax`. */
  readonly pageSize?: number
  /** Violations listed in the report; more are only counted. */
  readonly violationsReportedMax?: number
}

export const defaults = { pageSize: accountsPageSizeMax, violationsReportedMax: 1_000 } as const

// ---------------------------------------------------------------------------------------------
// Pure accumulation
// ---------------------------------------------------------------------------------------------

const emptyTotals = (ledger: number): LedgerTotals => ({
  ledger,
  accounts: 0,
  debitsPosted: 0n,
  creditsPosted: 0n,
  debitsPending: 0n,
  creditsPending: 0n,
  settlementNet: 0n
})

/** Adds one account to its ledger's totals. Pure. */
export const addToTotals = (totals: LedgerTotals, account: Account): LedgerTotals => ({
  ledger: totals.ledger,
  accounts: totals.accounts + 1,
  debitsPosted: totals.debitsPosted + account.debitsPosted,
  creditsPosted: totals.creditsPosted + account.creditsPosted,
  debitsPending: totals.debitsPending + account.debitsPending,
  creditsPending: totals.creditsPending + account.creditsPending,
  settlementNet: totals.settlementNet +
    (account.code === AccountCode.settlement ? account.debitsPosted - account.creditsPosted : 0n)
})

const balanceOf = (account: Account): AccountBalance => ({
  id: account.id,
  debitsPending: account.debitsPending,
  debitsPosted: account.debitsPosted,
  creditsPending: account.creditsPending,
  creditsPosted: account.creditsPosted
})

/** The flag violations of one account. Pure. */
export const accountViolations = (account: Account): ReadonlyArray<Violation> => {
  const row = { ...account, flags: flagsToBits(account.flags) }
  const violated = (flag: "debitsMustNotExceedCredits" | "creditsMustNotExceedDebits"): Violation => ({
    _tag: "FlagViolated",
    ledger: account.ledger,
    account: balanceOf(account),
    flag
  })
  return [
    ...(exceedsCredits(row, 0n) ? [violated("debitsMustNotExceedCredits")] : []),
    ...(exceedsDebits(row, 0n) ? [violated("creditsMustNotExceedDebits")] : [])
  ]
}

/** The double-entry and settlement violations of one ledger's totals. Pure. */
export const totalsViolations = (
  totals: LedgerTotals,
  expectedSettlement: bigint | undefined
): ReadonlyArray<Violation> => [
  ...(totals.debitsPosted === totals.creditsPosted ? [] : [{
    _tag: "UnbalancedPosted" as const,
    ledger: totals.ledger,
    debitsPosted: totals.debitsPosted,
    creditsPosted: totals.creditsPosted
  }]),
  ...(totals.debitsPending === totals.creditsPending ? [] : [{
    _tag: "UnbalancedPending" as const,
    ledger: totals.ledger,
    debitsPending: totals.debitsPending,
    creditsPending: totals.creditsPending
  }]),
  ...(expectedSettlement === undefined || expectedSettlement === totals.settlementNet ? [] : [{
    _tag: "SettlementMismatch" as const,
    ledger: totals.ledger,
    expected: expectedSettlement,
    actual: totals.settlementNet
  }])
]

/** A bounded list of violations: the first `max` are kept, the rest counted. */
const makeViolationList = (max: number) => {
  const kept: Array<Violation> = []
  let omitted = 0
  return {
    add: (violations: ReadonlyArray<Violation>) => {
      for (const violation of violations) {
        if (kept.length < max) kept.push(violation)
        else omitted++
      }
    },
    kept: () => kept,
    omitted: () => omitted
  }
}

/** Violations found by a backend-specific check, and how many more it found but did not list. */
export interface ExtraViolations {
  readonly violations: ReadonlyArray<Violation>
  readonly omitted: number
}

const noExtra: ExtraViolations = { violations: [], omitted: 0 }

/** Audits accounts streamed in pages; `report` closes it. Pure apart from its own state. */
export const makeAuditor = (options: AuditOptions = {}) => {
  const totals = new Map<number, LedgerTotals>()
  const violations = makeViolationList(options.violationsReportedMax ?? defaults.violationsReportedMax)
  return {
    add: (account: Account) => {
      totals.set(account.ledger, addToTotals(totals.get(account.ledger) ?? emptyTotals(account.ledger), account))
      violations.add(accountViolations(account))
    },
    report: (pendingTransfers: Option.Option<number>, extra: ExtraViolations = noExtra): AuditReport => {
      const ledgers = [...totals.values()].sort((a, b) => a.ledger - b.ledger)
      for (const ledger of ledgers) {
        violations.add(totalsViolations(ledger, options.expectedSettlement?.get(ledger.ledger)))
      }
      for (const [ledger, expected] of options.expectedSettlement ?? []) {
        if (!totals.has(ledger)) violations.add(totalsViolations({ ...emptyTotals(ledger) }, expected))
      }
      violations.add(extra.violations)
      return {
        ledgers,
        pendingTransfers,
        violations: violations.kept(),
        violationsOmitted: violations.omitted() + extra.omitted
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The effect
// ---------------------------------------------------------------------------------------------

/** Audits every account of the ledger service provided. */
export const run = Effect.fn("Audit.run")(function*(
  options: AuditOptions = {},
  extra: ExtraViolations = noExtra
): Effect.fn.Return<AuditReport, LedgerUnavailable, Ledger> {
  const ledger = yield* Ledger
  const auditor = makeAuditor(options)
  const limit = options.pageSize ?? defaults.pageSize
  let timestampMin = 0n
  while (true) {
    const page = yield* ledger.listAccounts({ timestampMin, limit })
    for (const account of page) auditor.add(account)
    const last = page.at(-1)
    if (last === undefined || page.length < limit) break
    timestampMin = last.timestamp + 1n
  }
  return auditor.report(yield* ledger.countPending, extra)
})

export const isClean = (report: AuditReport): boolean =>
  report.violations.length === 0 && report.violationsOmitted === 0

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const describeBalance = (b: AccountBalance): string =>
  `debits ${b.debitsPosted} posted + ${b.debitsPending} pending, ` +
  `credits ${b.creditsPosted} posted + ${b.creditsPending} pending`

/** One line per violation, for operators. Pure. */
export const describeViolation = (violation: Violation): string => {
  switch (violation._tag) {
    case "UnbalancedPosted": {
      const { creditsPosted, debitsPosted, ledger } = violation
      return `ledger ${ledger}: debits posted ${debitsPosted} != credits posted ${creditsPosted}`
    }
    case "UnbalancedPending": {
      const { creditsPending, debitsPending, ledger } = violation
      return `ledger ${ledger}: debits pending ${debitsPending} != credits pending ${creditsPending}`
    }
    case "FlagViolated": {
      const { account, flag, ledger } = violation
      return `ledger ${ledger}: account ${account.id} violates ${flag}: ${describeBalance(account)}`
    }
    case "SettlementMismatch":
      return `ledger ${violation.ledger}: settlement net ${violation.actual}, expected ${violation.expected}`
    case "JournalMismatch": {
      const { actual, expected } = violation
      return `account ${actual.id}: balances (${describeBalance(actual)}) ` +
        `differ from its transfers (${describeBalance(expected)})`
    }
    case "PendingMismatch": {
      const { account, explainedMax, explainedMin, side } = violation
      const actual = side === "debits" ? account.debitsPending : account.creditsPending
      return `account ${account.id}: ${side} pending ${actual}, but its live pending transfers explain ` +
        `${explainedMin === explainedMax ? explainedMin : `${explainedMin}..${explainedMax}`} ` +
        "(a reservation held past its timeout, or money gone)"
    }
    case "AccountBusy":
      return `account ${violation.accountId}: kept changing while its transfers were read; audit again when idle`
  }
}

/** The report as text lines. Pure. */
export const renderReport = (report: AuditReport): ReadonlyArray<string> => [
  ...report.ledgers.map((l) =>
    `ledger ${l.ledger}: ${l.accounts} accounts; posted ${l.debitsPosted} dr / ${l.creditsPosted} cr; ` +
    `pending ${l.debitsPending} dr / ${l.creditsPending} cr; settlement net ${l.settlementNet}`
  ),
  `pending transfers: ${Option.match(report.pendingTransfers, { onNone: () => "not countable", onSome: String })}`,
  ...report.violations.map((violation) => `VIOLATION ${describeViolation(violation)}`),
  ...(report.violationsOmitted > 0 ? [`... and ${report.violationsOmitted} more violations`] : []),
  isClean(report) ? "OK: no violations" : `FAILED: ${report.violations.length + report.violationsOmitted} violations`
]
