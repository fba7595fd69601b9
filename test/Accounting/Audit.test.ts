import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { execFile } from "node:child_process"
import { join, resolve } from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Audit from "../../src/Accounting/Audit.ts"
import { type Account, AccountCode, Ledger, TransferCode } from "../../src/Accounting/Ledger.ts"
import { main } from "../../src/Accounting/audit-cli.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { createAccounts, dmnec, noFlags, transferSpec } from "../support/ledgerFixtures.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const account = (fields: Partial<Account>): Account => ({
  id: 1n,
  ledger: 1,
  code: AccountCode.peerLiquidity,
  flags: {},
  debitsPending: 0n,
  debitsPosted: 0n,
  creditsPending: 0n,
  creditsPosted: 0n,
  timestamp: 1n,
  ...fields
})

describe("Audit (pure)", () => {
  it("passes a balanced ledger and totals it per ledger", () => {
    const auditor = Audit.makeAuditor({ expectedSettlement: new Map([[1, 100n]]) })
    auditor.add(account({ id: 1n, code: AccountCode.settlement, debitsPosted: 100n }))
    auditor.add(account({ id: 2n, flags: dmnec, creditsPosted: 100n, debitsPending: 30n }))
    auditor.add(account({ id: 3n, creditsPending: 30n }))
    auditor.add(account({ id: 4n, ledger: 2 }))
    const report = auditor.report(Option.some(1))
    expect(report.violations).toEqual([])
    expect(Audit.isClean(report)).toBe(true)
    expect(report.ledgers.map((l) => [l.ledger, l.accounts, l.settlementNet])).toEqual([[1, 3, 100n], [2, 1, 0n]])
  })

  it("finds unbalanced totals, violated flags and a settlement mismatch", () => {
    const auditor = Audit.makeAuditor({ expectedSettlement: new Map([[1, 5n], [9, 1n]]) })
    auditor.add(account({ id: 1n, flags: dmnec, debitsPosted: 10n, creditsPosted: 9n }))
    auditor.add(account({ id: 2n, flags: { creditsMustNotExceedDebits: true }, creditsPending: 1n }))
    const tags = auditor.report(Option.none()).violations.map((v) => v._tag)
    expect(tags).toEqual([
      "FlagViolated",
      "FlagViolated",
      "UnbalancedPosted",
      "UnbalancedPending",
      "SettlementMismatch",
      "SettlementMismatch"
    ])
  })

  it("lists a bounded number of violations and counts the rest", () => {
    const auditor = Audit.makeAuditor({ violationsReportedMax: 2 })
    for (let i = 1n; i <= 5n; i++) auditor.add(account({ id: i, flags: dmnec, debitsPosted: 1n }))
    const report = auditor.report(Option.none(), { violations: [], omitted: 3 })
    expect(report.violations.length).toBe(2)
    expect(report.violationsOmitted).toBe(3 + 3 + 1) // 3 flags + 1 unbalanced over the bound, 3 extra
    expect(Audit.renderReport(report).at(-1)).toBe("FAILED: 9 violations")
  })
})

// ---------------------------------------------------------------------------------------------
// The command line, on real files
// ---------------------------------------------------------------------------------------------

const cli = resolve(import.meta.dirname, "../../src/Accounting/audit-cli.ts")

const runCli = (...args: ReadonlyArray<string>) =>
  Effect.promise(() =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, [cli, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
        done({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr })
      })
    })
  )

const L = 3

/** A ledger file with a deposit, a posted packet and one reservation left pending (open layer). */
const populate = Effect.gen(function*() {
  const ledger = yield* Ledger
  const [settlement] = yield* createAccounts(L, [noFlags], AccountCode.settlement)
  const [peer, wallet] = yield* createAccounts(L, [dmnec, noFlags])
  yield* ledger.transfer([transferSpec(L, settlement!, peer!, 1_000n, TransferCode.deposit)])
  const packet = transferSpec(L, peer!, wallet!, 250n)
  yield* ledger.reserve([packet], 60)
  yield* ledger.post([packet.id])
  yield* ledger.reserve([transferSpec(L, peer!, wallet!, 100n)], 60)
  return { settlement: settlement!, peer: peer! }
})

const withLedgerFile = <A, E, R>(f: (filename: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeTempDir("audit-")),
    (dir) => f(join(dir, "ledger.db")),
    (dir) => Effect.sync(() => removeTempDir(dir))
  )

/** Runs the command in this process (fast); answers its exit code and output. */
const runMain = (...args: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const code = await main(args, { log: (text) => stdout.push(text), error: (text) => stderr.push(text) })
    return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") }
  })

describe("audit-cli", () => {
  it.live("as a process: exits 0 on a clean database read while the node has it open, 1 once corrupted", () =>
    withLedgerFile((filename) =>
      Effect.gen(function*() {
        const { peer } = yield* Effect.gen(function*() {
          const accounts = yield* populate
          const clean = yield* runCli("--db", filename)
          expect(clean.stdout).toContain("OK: no violations")
          expect(clean.stdout).toContain("pending transfers: 1")
          expect(clean.code).toBe(0)
          return accounts
        }).pipe(Effect.provide(LedgerSqlite.layer({ filename })))
        const db = new DatabaseSync(filename)
        db.prepare("UPDATE accounts SET credits_posted = '999999' WHERE id = ?").run(peer.toString())
        db.close()
        const corrupted = yield* runCli("--db", filename)
        expect(corrupted.code).toBe(1)
        expect(corrupted.stdout).toContain("VIOLATION ledger 3: debits posted 1250 != credits posted 1000249")
        expect(corrupted.stdout).toContain(`VIOLATION account ${peer}: balances`)
      })
    ), 30_000)

  it.live("reports JSON with the expected settlement checked", () =>
    withLedgerFile((filename) =>
      Effect.gen(function*() {
        yield* Effect.provide(populate, LedgerSqlite.layer({ filename }))
        const json = yield* runMain("--db", filename, "--json", "--expect-settlement", `${L}=1000`)
        expect(json.code).toBe(0)
        expect(JSON.parse(json.stdout)).toMatchObject({ clean: true, pendingTransfers: 1, violations: [] })
        const wrong = yield* runMain("--db", filename, "--expect-settlement", `${L}=999`)
        expect(wrong.code).toBe(1)
        expect(wrong.stdout).toContain("settlement net 1000, expected 999")
      })
    ))

  it.live("exits 1 when balances no longer match the journal even though the totals still balance", () =>
    withLedgerFile((filename) =>
      Effect.gen(function*() {
        const { peer, settlement } = yield* Effect.provide(populate, LedgerSqlite.layer({ filename }))
        const db = new DatabaseSync(filename)
        db.prepare("UPDATE accounts SET debits_posted = '1001' WHERE id = ?").run(settlement.toString())
        db.prepare("UPDATE accounts SET debits_posted = '249' WHERE id = ?").run(peer.toString())
        db.close()
        const result = yield* runMain("--db", filename)
        expect(result.code).toBe(1)
        expect(result.stdout).not.toContain("!= credits posted")
        expect(result.stdout).toContain(`VIOLATION account ${peer}: balances`)
        expect(result.stdout).toContain(`VIOLATION account ${settlement}: balances`)
      })
    ))

  it.live("exits 2 on bad arguments or a file that is not a ledger", () =>
    withLedgerFile((filename) =>
      Effect.gen(function*() {
        const noArgs = yield* runMain()
        expect(noArgs.code).toBe(2)
        expect(noArgs.stderr).toContain("usage")
        const missing = yield* runMain("--db", filename)
        expect(missing.code).toBe(2)
        expect(missing.stderr).toContain("cannot audit")
        expect((yield* runMain("--db", filename, "--expect-settlement", "x")).code).toBe(2)
        expect((yield* runMain("--db", filename, "--bogus")).code).toBe(2)
      })
    ))
})
