/**
 * What the local STREAM receiver needs to know about the receivers a payment tag names, and where
 * it reports money received: the seam between `Stream/` (the protocol) and `Payments/` (the
 * resources). `Stream/` defines it and never imports `Payments/`; `Payments/ReceiverDirectory.ts`
 * provides it from wallet addresses and incoming payments.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { Asset } from "../Config.ts"

export interface IncomingPaymentReceiver {
  readonly kind: "incoming"
  readonly id: string
  readonly ledgerAccountId: bigint
  readonly asset: Asset
  /** The cap; undefined when the payment takes any amount. */
  readonly incomingAmount: bigint | undefined
  /** False once completed, expired or cancelled: it takes no more money. */
  readonly open: boolean
  /** Its state as read (opaque here): `recordReceived` compares against it. */
  readonly state: string
}

export interface WalletAddressReceiver {
  readonly kind: "wallet"
  readonly id: string
  readonly ledgerAccountId: bigint
  readonly asset: Asset
  readonly active: boolean
}

export interface ReceiverDirectoryShape {
  /** The incoming payment, with its wallet's asset; undefined when it (or its wallet) is gone. */
  readonly incomingPayment: (id: string) => Effect.Effect<IncomingPaymentReceiver | undefined>
  readonly walletAddress: (id: string) => Effect.Effect<WalletAddressReceiver | undefined>
  /**
   * The payment's received total is now `total`: its state follows (processing, completed). Only
   * touches the store when the state moves (judged from `payment` as matched for the packet).
   */
  readonly recordReceived: (payment: IncomingPaymentReceiver, total: bigint) => Effect.Effect<void>
}

export class ReceiverDirectory extends Context.Service<ReceiverDirectory, ReceiverDirectoryShape>()(
  "Stream/ReceiverDirectory"
) {}
