/**
 * The shape of the packet path. A handler takes a request and returns an Effect of a Fulfill,
 * failing with a tagged `IlpError`. A stage is a function from the next handler to a handler.
 * Stages never mutate their input: what a later stage needs travels as a typed field of the request
 * it passes on (`Routed`, `Priced`, `Timed`, ...), so the compiler checks the order of the pipeline.
 *
 * Stages are built once, at layer construction, with the services they need already resolved:
 * per packet there is no service lookup and no allocation of services.
 */
import type * as Effect from "effect/Effect"
import type { SourceAccount } from "./Account.ts"
import type { IlpError } from "./IlpErrors.ts"
import type { Fulfill, Prepare } from "./Packet.ts"
import type { PeerEntry } from "./Peers.ts"

/** Raw bytes from a source, before decoding. */
export interface IncomingPacket {
  readonly bytes: Uint8Array
  readonly source: SourceAccount
  /** Quote rate probes from our own payment services: they must create no ledger transfers. */
  readonly unfulfillable: boolean
}

/** A decoded Prepare with its source. */
export interface PacketRequest {
  readonly prepare: Prepare
  readonly source: SourceAccount
  readonly unfulfillable: boolean
  /** Epoch ms at which the packet entered the pipeline. */
  readonly receivedAt: number
}

/** Where the packet goes next: a peer, or a receiver on this node (see `LocalReceivers`). */
export type Destination =
  | { readonly kind: "peer"; readonly peer: PeerEntry }
  | { readonly kind: "local"; readonly receiver: LocalReceiver }

/** A local STREAM receiver matched from the destination address (wallet address or incoming payment). */
export interface LocalReceiver {
  /** The ledger account credited with what the receiver accepts. */
  readonly ledgerAccountId: bigint
  readonly asset: { readonly code: string; readonly scale: number }
  /**
   * Whether the receiver could fulfill this packet's condition at all. False for rate probes (they
   * carry a random condition): the ledger stage reserves nothing for them, so probes from another
   * node's sender create no transfers here either.
   */
  readonly fulfillable: boolean
  /**
   * The fulfillment the receiver checked hashes to this packet's condition when it matched it:
   * a Fulfill carrying this very object is not hashed again (`FulfillmentCheck`).
   */
  readonly checkedFulfillment?: Uint8Array | undefined
  /** Opaque state the receiver stage needs to build the reply. */
  readonly context: unknown
}

export interface Routed extends PacketRequest {
  readonly destination: Destination
}

/** After the exchange rate: the amount the next hop receives, in its asset. */
export interface Priced extends Routed {
  readonly destinationAmount: bigint
}

/** The packet's ledger reservation, as the stages after the ledger stage see it. */
export interface Reservation {
  /** The first pending transfer's id: names the packet in stores that follow the ledger (receipt totals). */
  readonly id: bigint
  /** How long after it was made the ledger voids or expires the reservation by itself. */
  readonly timeoutMs: number
}

/** After the outgoing expiry check: when the next hop's copy of the packet expires. */
export interface Timed extends Priced {
  readonly outgoingExpiresAt: number
  /** Set by the ledger stage for the stages after it; absent when the packet reserves nothing. */
  readonly reservation?: Reservation
}

export type Handler<In> = (request: In) => Effect.Effect<Fulfill, IlpError>

export type Stage<In, Out = In> = (next: Handler<Out>) => Handler<In>
