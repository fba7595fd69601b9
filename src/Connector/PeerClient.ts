/**
 * The seam where the packet path sends to a peer: the deliver stage asks for `send`, and a layer
 * provides it (ILP-over-HTTP with keep-alive pools: `src/Http/PeerClient.ts`). The pipeline depends
 * on this interface only, not on how packets travel.
 *
 * Failures: no reply before `deadlineMs` → R00 (`Expired`); connection refused, network error or
 * non-2xx status → T01 (`PeerUnreachable`); a reply too large to be an ILP packet → T00. Decoding
 * the reply is the deliver stage's concern.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { PeerConfig } from "../Config.ts"
import type { Expired, InternalError, PeerUnreachable } from "./IlpErrors.ts"

export interface PeerClientShape {
  readonly send: (
    peer: PeerConfig,
    prepare: Uint8Array,
    deadlineMs: number
  ) => Effect.Effect<Uint8Array, PeerUnreachable | Expired | InternalError>
}

export class PeerClient extends Context.Service<PeerClient, PeerClientShape>()("Connector/PeerClient") {}
