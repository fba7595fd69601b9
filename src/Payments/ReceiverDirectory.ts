/**
 * `Stream/ReceiverDirectory` from the payments resources, per instance over the shared store:
 *
 * - an open incoming payment's state is read from the store on every packet (one primary-key
 *   read; the embedded store, this process's own file, answers from memory: IncomingPaymentsCache.ts),
 *   so a payment completed or cancelled through any instance takes no more money on any
 *   other; its cap holds across instances through `ReceiptTotals`, its expiry by the clock;
 * - a closed one (completed, expired, cancelled: final states) is cached, at most
 *   `closedEntriesMax`, so a sender that keeps trying costs no store reads;
 * - wallet addresses come through their own bounded cache (WalletAddresses.ts).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ReceiverDirectory, type IncomingPaymentReceiver } from "../Stream/ReceiverDirectory.ts"
import { type IncomingPayment, type IncomingPaymentState, IncomingPayments, isOpen, stateAfter } from "./IncomingPayments.ts"
import { WalletAddresses } from "./WalletAddresses.ts"

/** Closed incoming payments remembered per instance (final states: never stale). */
export const closedEntriesMax = 10_000

export const make = Effect.gen(function*() {
  const incomingPayments = yield* IncomingPayments
  const walletAddresses = yield* WalletAddresses
  const closed = new Map<string, IncomingPaymentReceiver>()
  // The receiver built from a payment as read: the same payment object (an unchanged record, see
  // IncomingPayments.get) gives the same receiver. A wallet's asset never changes and wallet
  // addresses are never deleted, so its wallet need not be looked up again.
  const receivers = new WeakMap<IncomingPayment, IncomingPaymentReceiver>()
  const rememberClosed = (receiver: IncomingPaymentReceiver) => {
    if (receiver.open) return
    if (closed.size >= closedEntriesMax) {
      const oldest = closed.keys().next()
      if (!oldest.done) closed.delete(oldest.value)
    }
    closed.set(receiver.id, receiver)
  }

  return ReceiverDirectory.of({
    incomingPayment: (id) => {
      const known = closed.get(id)
      if (known !== undefined) return Effect.succeed(known)
      return incomingPayments.get(id).pipe(
        Effect.flatMap((payment) => {
          const known = receivers.get(payment)
          if (known !== undefined) return Effect.succeed(known)
          return Effect.map(incomingPayments.walletAddressOf(payment), (wallet): IncomingPaymentReceiver => {
            const receiver: IncomingPaymentReceiver = {
              kind: "incoming",
              id: payment.id,
              ledgerAccountId: payment.ledgerAccountId,
              asset: wallet.asset,
              incomingAmount: payment.incomingAmount,
              open: isOpen(payment),
              state: payment.state
            }
            receivers.set(payment, receiver)
            return receiver
          })
        }),
        Effect.tap((receiver) => Effect.sync(() => rememberClosed(receiver))),
        Effect.catchTags({
          IncomingPaymentNotFound: () => Effect.succeed(undefined),
          WalletAddressNotFound: () => Effect.succeed(undefined)
        })
      )
    },
    walletAddress: (id) =>
      walletAddresses.get(id).pipe(
        Effect.map((wallet) => ({
          kind: "wallet" as const,
          id: wallet.id,
          ledgerAccountId: wallet.ledgerAccountId,
          asset: wallet.asset,
          active: wallet.active
        })),
        Effect.catchTag("WalletAddressNotFound", () => Effect.succeed(undefined))
      ),
    recordReceived: (payment, total) => {
      // States only move forward: when the total would not move the payment as matched, it does
      // not move the stored one either (one store call per state change, not per packet).
      const matched = { state: payment.state as IncomingPaymentState, incomingAmount: payment.incomingAmount }
      if (stateAfter(matched, total) === matched.state) return Effect.void
      return Effect.ignore(incomingPayments.recordReceived(payment.id, total))
    }
  })
})

export const layer = Layer.effect(ReceiverDirectory, make)
