/**
 * `Stream/ReceiverDirectory` from the payments resources: incoming payments (state read from the
 * store on every call, so a payment completed or cancelled through any instance takes no more
 * money) and wallet addresses (through their bounded cache, see WalletAddresses.ts).
 */
import { Effect, Layer } from "effect"
import { ReceiverDirectory, type IncomingPaymentReceiver } from "../Stream/ReceiverDirectory.ts"
import { type IncomingPaymentState, IncomingPayments, isOpen, stateAfter } from "./IncomingPayments.ts"
import { WalletAddresses } from "./WalletAddresses.ts"

export const make = Effect.gen(function*() {
  const incomingPayments = yield* IncomingPayments
  const walletAddresses = yield* WalletAddresses

  return ReceiverDirectory.of({
    incomingPayment: (id) =>
      incomingPayments.get(id).pipe(
        Effect.flatMap((payment) =>
          Effect.map(incomingPayments.walletAddressOf(payment), (wallet): IncomingPaymentReceiver => ({
            kind: "incoming",
            id: payment.id,
            ledgerAccountId: payment.ledgerAccountId,
            asset: wallet.asset,
            incomingAmount: payment.incomingAmount,
            open: isOpen(payment),
            state: payment.state
          }))
        ),
        Effect.catchTags({
          IncomingPaymentNotFound: () => Effect.succeed(undefined),
          WalletAddressNotFound: () => Effect.succeed(undefined)
        })
      ),
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
