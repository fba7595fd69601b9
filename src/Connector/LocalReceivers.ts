/**
 * The seam where local STREAM receiving plugs into the packet path (SPEC §7).
 *
 * `match` runs in the routing stage for addresses under our own ILP address: it decodes the payment
 * tag and finds the wallet address or incoming payment it names. `deliver` runs at the end of the
 * pipeline for matched packets and lets the STREAM receiver build the reply. `settle` runs in the
 * ledger stage once the packet's reservation is settled, so what the receiver recorded for the
 * packet (receipt totals) follows the ledger: `posted`; `voided` (also when a post was refused
 * because the reservation had expired or been voided); or `unknown` (the ledger did not answer the
 * post: it may have posted, or will expire it; the receiver must not count it yet).
 * It is not called for packets the receiver refused itself (`ReceiverRejected`): a receiver that
 * refuses holds nothing for the packet. It never fails and is not interrupted.
 *
 * `layerNone` is the node without any local receiver (a pure forwarder): every address under our
 * own is unreachable (F02). The STREAM receiver layer (src/Stream) provides the real one.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { PostAlongside } from "../Accounting/Ledger.ts"
import type { IlpError } from "./IlpErrors.ts"
import type { Fulfill } from "./Packet.ts"
import type { LocalReceiver, PacketRequest, Timed } from "./Stage.ts"

export type SettleOutcome = "posted" | "voided" | "unknown"

export interface LocalReceiversShape {
  readonly match: (request: PacketRequest) => Effect.Effect<LocalReceiver | undefined, IlpError>
  readonly deliver: (request: Timed, receiver: LocalReceiver) => Effect.Effect<Fulfill, IlpError>
  /**
   * What the receiver must write once the packet is posted, to run in the ledger's post
   * transaction (`Ledger.PostAlongside`: the embedded ledger and receipt store share one); the
   * ledger stage passes it to the post and back to `settle`. Undefined: `settle` writes it all.
   */
  readonly alongsidePost?: (request: Timed, receiver: LocalReceiver) => PostAlongside | undefined
  /**
   * `request` carries the `reservation` the packet was delivered with; `alongside` is what
   * `alongsidePost` gave for this packet (it tells whether it ran in the post).
   */
  readonly settle: (
    request: Timed,
    receiver: LocalReceiver,
    outcome: SettleOutcome,
    alongside?: PostAlongside
  ) => Effect.Effect<void>
}

export class LocalReceivers extends Context.Service<LocalReceivers, LocalReceiversShape>()(
  "Connector/LocalReceivers"
) {}

export const layerNone: Layer.Layer<LocalReceivers> = Layer.succeed(
  LocalReceivers,
  LocalReceivers.of({
    match: () => Effect.succeed(undefined),
    deliver: () => Effect.die(new Error("no local receivers are configured")),
    settle: () => Effect.void
  })
)
