/**
 * The ledger side of an outgoing payment: funding it from its wallet address, reading what is left
 * once packet reservations have settled, refunding the rest. Transfer ids are derived from the
 * payment id, so funding and refund are idempotent whichever instance (or restart) repeats them.
 * The ledger is the truth for what was sent: the payment account's posted debits.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { createHash } from "node:crypto"
import { ids, ledgerOf } from "../Accounting/Accounts.ts"
import { type AccountBalance, type LedgerShape, TransferCode } from "../Accounting/Ledger.ts"
import type { SendingLimits } from "./Limits.ts"
import type { Quote } from "./Quotes.ts"

/** Packet reservations on the payment's account did not settle within `settleWaitMsMax`. */
export class ReservationsPending extends Data.TaggedError("ReservationsPending")<{ readonly paymentId: string }> {}

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/** A u128 transfer id derived from a label (first 16 bytes of its SHA-256), like account ids. Pure. */
export const transferIdFor = (label: string): bigint => {
  const bytes = digest(`transfer:${label}`)
  let id = 0n
  for (let i = 0; i < 16; i++) id = (id << 8n) | BigInt(bytes[i]!)
  if (id === 0n || id === (1n << 128n) - 1n) throw new Error(`reserved transfer id for ${label}`)
  return id
}

export const transferIds = {
  funding: (paymentId: string) => transferIdFor(`outgoing-payment-funding:${paymentId}`),
  refund: (paymentId: string) => transferIdFor(`outgoing-payment-refund:${paymentId}`)
} as const

export const makePaymentLedger = (ledger: LedgerShape, limits: Pick<SendingLimits, "settleWaitMsMax">) => {
  const balanceOf = (id: string) =>
    Effect.map(ledger.balances([ids.outgoingPayment(id)]), ([balance]): AccountBalance =>
      balance ?? { id: ids.outgoingPayment(id), debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n })

  /**
   * The payment account's balance once no packet reservation is pending (bounded wait). After an
   * instance died mid-payment its reservations settle when the ledger times them out (hold time +
   * margin), which `settleWaitMsMax` outlasts.
   */
  const settledBalance = (id: string) =>
    balanceOf(id).pipe(
      Effect.flatMap((balance) =>
        balance.debitsPending === 0n ? Effect.succeed(balance) : Effect.fail(new ReservationsPending({ paymentId: id }))
      ),
      Effect.retry({ while: (error) => error._tag === "ReservationsPending", schedule: Schedule.spaced("50 millis") }),
      Effect.timeoutOrElse({
        duration: limits.settleWaitMsMax,
        orElse: () => Effect.fail(new ReservationsPending({ paymentId: id }))
      })
    )

  const fund = (quote: Quote, id: string, walletAccountId: bigint) =>
    ledger.transfer([{
      id: transferIds.funding(id),
      debitAccountId: walletAccountId,
      creditAccountId: ids.outgoingPayment(id),
      amount: quote.debitAmount.value,
      ledger: ledgerOf(quote.debitAmount.asset),
      code: TransferCode.paymentFunding
    }])

  const refund = (quote: Quote, id: string, walletAccountId: bigint, amount: bigint) =>
    amount === 0n ? Effect.void : ledger.transfer([{
      id: transferIds.refund(id),
      debitAccountId: ids.outgoingPayment(id),
      creditAccountId: walletAccountId,
      amount,
      ledger: ledgerOf(quote.debitAmount.asset),
      code: TransferCode.refund
    }]).pipe(
      Effect.retry({ while: (error) => error._tag === "LedgerUnavailable", schedule: Schedule.exponential("100 millis"), times: 5 })
    )

  return { balanceOf, settledBalance, fund, refund }
}
