/**
 * Small builders shared by the connector tests: accounts, peers, packets, requests at each point of
 * the pipeline, and a spy terminal handler that records what reached it.
 */
import { Effect } from "effect"
import type { PeerConfig } from "../../src/Config.ts"
import type { SourceAccount } from "../../src/Connector/Account.ts"
import type { IlpError } from "../../src/Connector/IlpErrors.ts"
import { type Fulfill, type Prepare, sha256 } from "../../src/Connector/Packet.ts"
import { type PeerEntry, make as makePeers } from "../../src/Connector/Peers.ts"
import type { Handler, LocalReceiver, PacketRequest, Priced, Routed, Timed } from "../../src/Connector/Stage.ts"

export const ourAddress = "test.us"

/** A fixed, realistic instant (2023-11-14T22:13:20Z) so times are easy to read in failures. */
export const nowMs = 1_700_000_000_000

export const fulfillment: Uint8Array = new Uint8Array(32).fill(7)
export const condition: Uint8Array = sha256(fulfillment)

export const fulfill: Fulfill = { fulfillment, data: new Uint8Array([1, 2, 3]) }

export const peerConfig = (overrides: Partial<PeerConfig> = {}): PeerConfig => ({
  id: "bob",
  asset: { code: "USD", scale: 2 },
  incomingTokenHashes: [],
  outgoing: undefined,
  staticIlpAddress: `test.${overrides.id ?? "bob"}`,
  routes: [],
  routeWeight: 0,
  maxPacketAmount: undefined,
  rateLimit: undefined,
  throughputLimit: undefined,
  creditLimit: 0n,
  ...overrides
})

export const peerEntry = (overrides: Partial<PeerConfig> = {}): PeerEntry => {
  const entry = makePeers([peerConfig(overrides)]).all()[0]
  if (entry === undefined) throw new Error("peer fixture missing")
  return entry
}

export const account = (overrides: Partial<SourceAccount> = {}): SourceAccount => ({
  key: `peer:${overrides.id ?? "alice"}`,
  kind: "peer",
  id: "alice",
  asset: { code: "USD", scale: 2 },
  ilpAddress: "test.alice",
  maxPacketAmount: undefined,
  rateLimit: undefined,
  throughputLimit: undefined,
  ledgerAccountId: 1n,
  ...overrides
})

export const prepare = (overrides: Partial<Prepare> = {}): Prepare => ({
  amount: 100n,
  expiresAt: nowMs + 10_000,
  executionCondition: condition,
  destination: "test.bob.wallet",
  data: new Uint8Array([9, 9]),
  ...overrides
})

export const request = (
  overrides: { readonly prepare?: Partial<Prepare>; readonly source?: Partial<SourceAccount> } & Partial<
    Omit<PacketRequest, "prepare" | "source">
  > = {}
): PacketRequest => ({
  prepare: prepare(overrides.prepare),
  source: account(overrides.source),
  unfulfillable: overrides.unfulfillable ?? false,
  receivedAt: overrides.receivedAt ?? nowMs
})

export const localReceiver: LocalReceiver = {
  ledgerAccountId: 42n,
  asset: { code: "EUR", scale: 2 },
  fulfillable: true,
  context: { tag: "opaque" }
}

export const routedToPeer = (base: PacketRequest, peer: PeerEntry = peerEntry()): Routed => ({
  ...base,
  destination: { kind: "peer", peer }
})

export const routedLocal = (base: PacketRequest, receiver: LocalReceiver = localReceiver): Routed => ({
  ...base,
  destination: { kind: "local", receiver }
})

export const priced = (routed: Routed, destinationAmount: bigint = routed.prepare.amount): Priced => ({
  ...routed,
  destinationAmount
})

export const timed = (p: Priced, outgoingExpiresAt: number = p.prepare.expiresAt - 1_000): Timed => ({
  ...p,
  outgoingExpiresAt
})

/** A terminal handler that records every request it receives and answers `reply` (a Fulfill by default). */
export const spy = <In>(
  reply: (request: In) => Effect.Effect<Fulfill, IlpError> = () => Effect.succeed(fulfill)
): { readonly handler: Handler<In>; readonly calls: Array<In> } => {
  const calls: Array<In> = []
  return {
    calls,
    handler: (request) =>
      Effect.suspend(() => {
        calls.push(request)
        return reply(request)
      })
  }
}

export { patternBytes } from "./bytes.ts"
