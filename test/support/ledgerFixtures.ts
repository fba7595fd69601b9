/**
 * Helpers for ledger tests: fresh accounts (unique ids, so suites can run against a persistent
 * TigerBeetle cluster), funding, reading one balance, and polling.
 */
import { Cause, Effect, Exit } from "effect"
import {
  type AccountBalance,
  type AccountFlags,
  AccountCode,
  Ledger,
  newTransferId,
  type TransferSpec,
  TransferCode
} from "../../src/Accounting/Ledger.ts"

/** A ledger number unlikely to be used by anything else on a shared cluster. */
export const freshLedgerNumber = (): number => 100_000 + Math.floor(Math.random() * 1_000_000_000)

export const dmnec: AccountFlags = { debitsMustNotExceedCredits: true }
export const cmned: AccountFlags = { creditsMustNotExceedDebits: true }
export const noFlags: AccountFlags = {}

/** Creates one account per flag set given, on `ledger`; answers their ids in order. */
export const createAccounts = (ledger: number, flags: ReadonlyArray<AccountFlags>, code: number = AccountCode.peerLiquidity) =>
  Effect.gen(function*() {
    const ledgerService = yield* Ledger
    const ids = flags.map(() => newTransferId())
    yield* ledgerService.createAccounts(ids.map((id, i) => ({ id, ledger, code, flags: flags[i]! })))
    return ids
  })

export const transferSpec = (
  ledger: number,
  debitAccountId: bigint,
  creditAccountId: bigint,
  amount: bigint,
  code: number = TransferCode.packet
): TransferSpec => ({ id: newTransferId(), debitAccountId, creditAccountId, amount, ledger, code })

/** Posts `amount` from an unflagged source account to `to`. */
export const fund = (ledger: number, source: bigint, to: bigint, amount: bigint) =>
  Effect.flatMap(Ledger, (ledgerService) =>
    ledgerService.transfer([transferSpec(ledger, source, to, amount, TransferCode.deposit)]))

export const zeroBalance = (id: bigint): AccountBalance => ({
  id,
  debitsPending: 0n,
  debitsPosted: 0n,
  creditsPending: 0n,
  creditsPosted: 0n
})

export const balanceOf = (id: bigint) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const [balance] = yield* ledger.balances([id])
    if (balance === undefined) return yield* Effect.die(new Error(`account ${id} not found`))
    return balance
  })

/** Re-runs `check` every 50 ms until it succeeds or `timeoutMs` has passed (then its last error). */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, timeoutMs = 3_000): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const exit = yield* Effect.exit(check)
      if (Exit.isSuccess(exit) || Date.now() > deadline) return yield* exit
      yield* Effect.sleep(50)
    }
  })

/** The defect an effect died with, or a failure if it did not die. */
export const defectOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.exit(effect), (exit) => {
    if (Exit.isFailure(exit) && Cause.hasDies(exit.cause)) return Effect.succeed(Cause.squash(exit.cause))
    return Effect.die(new Error(`expected a defect, got ${String(exit)}`))
  })
