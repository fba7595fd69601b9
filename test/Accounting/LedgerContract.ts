/**
 * The ledger contract: TigerBeetle's semantics as the connector relies on them. Every backend
 * layer runs this one suite (`LedgerSqlite.test.ts`, `LedgerTigerBeetle.test.ts`).
 *
 * Tests use fresh account ids and a fresh ledger number, so the suite also runs against a
 * persistent cluster. They use real time (pending timeouts are whole seconds).
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import {
  AccountCode,
  InsufficientBalance,
  Ledger,
  LedgerDefect,
  type LedgerUnavailable,
  newTransferId,
  PendingAlreadyPosted,
  PendingAlreadyVoided,
  PendingExpired,
  PendingNotFound,
  setCreditLimit,
  TransferCode
} from "../../src/Accounting/Ledger.ts"
import {
  balanceOf,
  cmned,
  createAccounts,
  defectOf,
  dmnec,
  eventually,
  freshLedgerNumber,
  fund,
  noFlags,
  transferSpec,
  zeroBalance
} from "../support/ledgerFixtures.ts"

export const ledgerContract = (name: string, makeLayer: () => Layer.Layer<Ledger, LedgerUnavailable>): void => {
  const L = freshLedgerNumber()

  layer(makeLayer(), { excludeTestServices: true, timeout: "30 seconds" })(`${name} ledger contract`, (it) => {
    it.effect("creates accounts idempotently and reads them back", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [a, b] = yield* createAccounts(L, [dmnec, noFlags])
        yield* ledger.createAccounts([{ id: a!, ledger: L, code: AccountCode.peerLiquidity, flags: dmnec }])
        expect(yield* ledger.balances([a!, b!, newTransferId()])).toEqual([zeroBalance(a!), zeroBalance(b!)])
        const listed = yield* ledger.listAccounts({ ledger: L, limit: 8189 })
        const mine = listed.filter((account) => account.id === a || account.id === b)
        expect(mine.map((account) => account.id)).toEqual([a, b])
        expect(mine[0]!.flags.debitsMustNotExceedCredits).toBe(true)
        expect(mine[0]!.timestamp < mine[1]!.timestamp).toBe(true)
        const page = yield* ledger.listAccounts({ ledger: L, limit: 1, timestampMin: mine[0]!.timestamp + 1n })
        expect(page.length).toBe(1)
      }))

    it.effect("creating an existing account with different fields is a defect", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [a] = yield* createAccounts(L, [dmnec])
        const defect = yield* defectOf(
          ledger.createAccounts([{ id: a!, ledger: L, code: AccountCode.peerLiquidity, flags: cmned }])
        )
        expect(defect).toBeInstanceOf(LedgerDefect)
      }))

    it.effect("reserve then post moves the amount exactly", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 1_000n)
        const packet = transferSpec(L, from!, to!, 300n)
        yield* ledger.reserve([packet], 10)
        expect(yield* balanceOf(from!)).toEqual({ ...zeroBalance(from!), debitsPending: 300n, creditsPosted: 1_000n })
        expect(yield* balanceOf(to!)).toEqual({ ...zeroBalance(to!), creditsPending: 300n })
        yield* ledger.post([packet.id])
        expect(yield* balanceOf(from!)).toEqual({ ...zeroBalance(from!), debitsPosted: 300n, creditsPosted: 1_000n })
        expect(yield* balanceOf(to!)).toEqual({ ...zeroBalance(to!), creditsPosted: 300n })
        yield* ledger.post([packet.id]) // posting again is success and changes nothing
        expect(yield* balanceOf(to!)).toEqual({ ...zeroBalance(to!), creditsPosted: 300n })
      }))

    it.effect("reserve then void restores the balances", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 500n)
        const before = yield* ledger.balances([from!, to!])
        const packet = transferSpec(L, from!, to!, 500n)
        yield* ledger.reserve([packet], 10)
        yield* ledger.voidPending([packet.id])
        expect(yield* ledger.balances([from!, to!])).toEqual(before)
        yield* ledger.voidPending([packet.id]) // voiding again is harmless
        yield* ledger.voidPending([newTransferId()]) // so is voiding an unknown id
        expect(yield* Effect.flip(ledger.post([packet.id]))).toBeInstanceOf(PendingAlreadyVoided)
      }))

    it.effect("a multi-hop reservation is posted and voided as one chain", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, a, b, c] = yield* createAccounts(L, [noFlags, dmnec, noFlags, noFlags])
        yield* fund(L, source!, a!, 100n)
        const hop1 = transferSpec(L, a!, b!, 40n)
        const hop2 = transferSpec(L, b!, c!, 40n)
        yield* ledger.reserve([hop1, hop2], 10)
        yield* ledger.post([hop1.id, hop2.id])
        expect(yield* ledger.balances([a!, b!, c!])).toEqual([
          { ...zeroBalance(a!), debitsPosted: 40n, creditsPosted: 100n },
          { ...zeroBalance(b!), debitsPosted: 40n, creditsPosted: 40n },
          { ...zeroBalance(c!), creditsPosted: 40n }
        ])
        expect(yield* Effect.flip(ledger.voidPending([hop1.id, hop2.id]))).toBeInstanceOf(PendingAlreadyPosted)
      }))

    it.effect("a linked chain is all or nothing", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, rich, poor, sink] = yield* createAccounts(L, [noFlags, dmnec, dmnec, noFlags])
        yield* fund(L, source!, rich!, 100n)
        yield* fund(L, source!, poor!, 5n)
        const before = yield* ledger.balances([rich!, poor!, sink!])
        const ok = transferSpec(L, rich!, sink!, 50n)
        const short = transferSpec(L, poor!, sink!, 6n)
        const reserveError = yield* Effect.flip(ledger.reserve([ok, short], 10))
        expect(reserveError).toEqual(
          new InsufficientBalance({ accountId: poor!, transferId: short.id, reason: "exceeds_credits" })
        )
        const transferError = yield* Effect.flip(
          ledger.transfer([transferSpec(L, rich!, sink!, 50n), transferSpec(L, poor!, sink!, 6n)])
        )
        expect(transferError._tag).toBe("InsufficientBalance")
        expect(yield* ledger.balances([rich!, poor!, sink!])).toEqual(before)
      }))

    it.effect("debitsMustNotExceedCredits counts pending amounts", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 100n)
        const first = transferSpec(L, from!, to!, 60n)
        yield* ledger.reserve([first], 10)
        const second = transferSpec(L, from!, to!, 41n)
        const error = yield* Effect.flip(ledger.reserve([second], 10))
        expect(error).toEqual(new InsufficientBalance({ accountId: from!, transferId: second.id, reason: "exceeds_credits" }))
        yield* ledger.reserve([transferSpec(L, from!, to!, 40n)], 10) // exactly the rest: the boundary
        const third = yield* Effect.flip(ledger.transfer([transferSpec(L, from!, to!, 1n)]))
        expect(third._tag).toBe("InsufficientBalance")
        yield* ledger.voidPending([first.id])
        yield* ledger.transfer([transferSpec(L, from!, to!, 60n)])
      }))

    it.effect("creditsMustNotExceedDebits refuses with exceeds_debits", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [capped, other] = yield* createAccounts(L, [cmned, noFlags])
        yield* ledger.transfer([transferSpec(L, capped!, other!, 10n)])
        yield* ledger.transfer([transferSpec(L, other!, capped!, 10n)])
        const over = transferSpec(L, other!, capped!, 1n)
        expect(yield* Effect.flip(ledger.reserve([over], 10))).toEqual(
          new InsufficientBalance({ accountId: capped!, transferId: over.id, reason: "exceeds_debits" })
        )
      }))

    it.effect("a credit line lets liquidity go below zero down to the limit only", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [liquidity, sink] = yield* createAccounts(L, [dmnec, noFlags])
        const [creditLine] = yield* createAccounts(L, [cmned], AccountCode.creditLine)
        const line = { ledger: L, liquidityAccountId: liquidity!, creditLineAccountId: creditLine! }
        expect((yield* Effect.flip(ledger.transfer([transferSpec(L, liquidity!, sink!, 1n)])))._tag)
          .toBe("InsufficientBalance")
        yield* setCreditLimit(line, 100n)
        yield* ledger.transfer([transferSpec(L, liquidity!, sink!, 80n)])
        expect((yield* Effect.flip(ledger.reserve([transferSpec(L, liquidity!, sink!, 21n)], 10)))._tag)
          .toBe("InsufficientBalance")
        const lower = yield* Effect.flip(setCreditLimit(line, 50n)) // 80 in use
        expect(lower._tag).toBe("InsufficientBalance")
        yield* setCreditLimit(line, 80n)
        yield* setCreditLimit(line, 80n) // no change, no transfer
        const balance = yield* balanceOf(liquidity!)
        expect(balance.creditsPosted - balance.debitsPosted).toBe(0n) // 80 granted, 80 used
        expect((yield* balanceOf(creditLine!)).debitsPosted - (yield* balanceOf(creditLine!)).creditsPosted).toBe(80n)
      }))

    it.effect("a reservation that timed out cannot be posted and its amount is released", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 100n)
        const posted = transferSpec(L, from!, to!, 30n)
        const voided = transferSpec(L, from!, to!, 30n)
        yield* ledger.reserve([posted], 1)
        yield* ledger.reserve([voided], 1)
        yield* Effect.sleep("1200 millis")
        expect(yield* Effect.flip(ledger.post([posted.id]))).toEqual(new PendingExpired({ transferId: posted.id }))
        yield* ledger.voidPending([voided.id]) // harmless
        yield* eventually(Effect.gen(function*() {
          expect(yield* balanceOf(from!)).toEqual({ ...zeroBalance(from!), creditsPosted: 100n })
          expect(yield* balanceOf(to!)).toEqual(zeroBalance(to!))
        }))
        expect(yield* Effect.flip(ledger.post([posted.id]))).toEqual(new PendingExpired({ transferId: posted.id }))
      }), 10_000)

    it.effect("posting an unknown pending transfer fails with PendingNotFound", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const id = newTransferId()
        expect(yield* Effect.flip(ledger.post([id]))).toEqual(new PendingNotFound({ transferId: id }))
      }))

    it.effect("u128 amounts beyond 2^64 are exact", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        const big = (1n << 127n) + 12_345_678_901_234_567_890n
        yield* fund(L, source!, from!, big)
        const packet = transferSpec(L, from!, to!, big - 1n)
        yield* ledger.reserve([packet], 10)
        yield* ledger.post([packet.id])
        expect(yield* balanceOf(from!)).toEqual({ ...zeroBalance(from!), debitsPosted: big - 1n, creditsPosted: big })
        expect(yield* balanceOf(to!)).toEqual({ ...zeroBalance(to!), creditsPosted: big - 1n })
        expect((yield* Effect.flip(ledger.transfer([transferSpec(L, from!, to!, 2n)])))._tag).toBe("InsufficientBalance")
        yield* ledger.transfer([transferSpec(L, from!, to!, 1n)])
      }))

    it.effect("retrying with the same ids is idempotent; reusing an id differently is a defect", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 100n)
        const chain = [transferSpec(L, from!, to!, 10n), transferSpec(L, from!, to!, 20n)]
        yield* ledger.reserve(chain, 10)
        yield* ledger.reserve(chain, 10)
        expect((yield* balanceOf(from!)).debitsPending).toBe(30n)
        const single = transferSpec(L, source!, to!, 7n)
        yield* ledger.transfer([single])
        yield* ledger.transfer([single])
        expect((yield* balanceOf(to!)).creditsPosted).toBe(7n)
        expect(yield* defectOf(ledger.transfer([{ ...single, amount: 8n }]))).toBeInstanceOf(LedgerDefect)
      }))

    it.effect("an id that failed for lack of balance must not be reused", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        const attempt = transferSpec(L, from!, to!, 10n)
        expect((yield* Effect.flip(ledger.transfer([attempt])))._tag).toBe("InsufficientBalance")
        yield* fund(L, source!, from!, 100n)
        expect(yield* defectOf(ledger.transfer([attempt]))).toBeInstanceOf(LedgerDefect)
      }))

    it.effect("invalid input is a defect, not a typed error", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [a, b] = yield* createAccounts(L, [noFlags, noFlags])
        const valid = transferSpec(L, a!, b!, 1n)
        yield* defectOf(ledger.transfer([{ ...valid, creditAccountId: a! }]))
        yield* defectOf(ledger.transfer([{ ...valid, id: 0n }]))
        yield* defectOf(ledger.transfer([{ ...valid, amount: -1n }]))
        yield* defectOf(ledger.transfer([valid, valid]))
        yield* defectOf(ledger.reserve([valid], 0))
        yield* defectOf(ledger.transfer([{ ...valid, debitAccountId: newTransferId() }])) // unknown account
        yield* defectOf(ledger.transfer([transferSpec(L + 1, a!, b!, 1n)])) // wrong ledger
        yield* defectOf(ledger.post([valid.id, valid.id]))
      }))

    it.effect("concurrent reservations never overdraw a flagged account", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 100n)
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 250 }, () => transferSpec(L, from!, to!, 1n)),
          (transfer) => Effect.result(ledger.reserve([transfer], 10)),
          { concurrency: "unbounded" }
        )
        expect(outcomes.filter((outcome) => outcome._tag === "Success").length).toBe(100)
        expect((yield* balanceOf(from!)).debitsPending).toBe(100n)
      }))

    it.effect("createChain mixes posted and pending transfers in one all-or-nothing chain", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, line, out] = yield* createAccounts(L, [noFlags, dmnec, cmned, noFlags])
        yield* fund(L, source!, from!, 100n)
        yield* fund(L, line!, from!, 50n) // a credit line of 50: `from` may use 150
        const unlock = transferSpec(L, from!, line!, 50n, TransferCode.creditLine)
        const relock = transferSpec(L, line!, from!, 50n, TransferCode.creditLine)
        // Taking the credit line out first limits the pending withdrawal to the 100 deposited.
        const tooMuch = { ...transferSpec(L, from!, out!, 101n, TransferCode.withdrawal), timeoutSeconds: 60 }
        const refused = yield* Effect.flip(ledger.createChain([unlock, tooMuch, relock]))
        expect(refused).toBeInstanceOf(InsufficientBalance)
        expect(yield* balanceOf(from!)).toEqual({ ...zeroBalance(from!), creditsPosted: 150n })
        const unlock2 = transferSpec(L, from!, line!, 50n, TransferCode.creditLine)
        const relock2 = transferSpec(L, line!, from!, 50n, TransferCode.creditLine)
        const hold = { ...transferSpec(L, from!, out!, 100n, TransferCode.withdrawal), timeoutSeconds: 60 }
        yield* ledger.createChain([unlock2, hold, relock2])
        yield* ledger.createChain([unlock2, hold, relock2]) // a retry with the same ids changes nothing
        expect(yield* balanceOf(from!)).toEqual({
          ...zeroBalance(from!),
          debitsPosted: 50n,
          debitsPending: 100n,
          creditsPosted: 200n
        })
        expect(yield* balanceOf(line!)).toEqual({ ...zeroBalance(line!), debitsPosted: 100n, creditsPosted: 50n })
        const [unlocked, held] = yield* ledger.lookupTransfers([unlock2.id, hold.id])
        expect(unlocked).toMatchObject({ pending: false, state: "posted", amount: 50n, timeoutSeconds: 0 })
        expect(held).toMatchObject({
          id: hold.id,
          debitAccountId: from!,
          creditAccountId: out!,
          amount: 100n,
          ledger: L,
          code: TransferCode.withdrawal,
          pending: true,
          timeoutSeconds: 60,
          state: "pending"
        })
        yield* ledger.post([hold.id])
        expect(yield* balanceOf(out!)).toEqual({ ...zeroBalance(out!), creditsPosted: 100n })
        expect((yield* ledger.lookupTransfers([hold.id]))[0]!.state).toBe("posted")
      }))

    it.effect("lookupTransfers reports each transfer's state, in the order asked, unknown ids left out", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const [source, from, to] = yield* createAccounts(L, [noFlags, dmnec, noFlags])
        yield* fund(L, source!, from!, 1_000n)
        const single = transferSpec(L, from!, to!, 1n)
        yield* ledger.transfer([single])
        const [toPost, toVoid, toKeep, toExpire] = [2n, 3n, 4n, 5n].map((amount) => transferSpec(L, from!, to!, amount))
        yield* ledger.reserve([toPost!], 60)
        yield* ledger.reserve([toVoid!], 60)
        yield* ledger.reserve([toKeep!], 60)
        yield* ledger.reserve([toExpire!], 1)
        yield* ledger.post([toPost!.id])
        yield* ledger.voidPending([toVoid!.id])
        const unknown = newTransferId()
        yield* eventually(Effect.gen(function*() {
          const found = yield* ledger.lookupTransfers([toExpire!.id, unknown, toKeep!.id, toVoid!.id, toPost!.id, single.id])
          expect(found.map((t) => [t.id, t.state])).toEqual([
            [toExpire!.id, "expired"],
            [toKeep!.id, "pending"],
            [toVoid!.id, "voided"],
            [toPost!.id, "posted"],
            [single.id, "posted"]
          ])
        }), 10_000)
        expect(yield* ledger.lookupTransfers([])).toEqual([])
        const [timedOut] = yield* ledger.lookupTransfers([toExpire!.id])
        expect(timedOut!.timestamp > 0n).toBe(true)
      }))

    it.effect("reports pending transfers when it can count them", () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const counted = yield* ledger.countPending
        if (Option.isSome(counted)) expect(counted.value).toBeGreaterThanOrEqual(0)
      }))
  })
}
