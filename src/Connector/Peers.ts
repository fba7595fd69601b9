/**
 * The peers the node has now: lookup by incoming token (for ILP-over-HTTP auth) and by id, and the
 * in-memory route table built from every peer's static address and routes. Built from the config
 * file, then replaced as a whole by `Settings/NodeSettings.ts` at start and on every change made
 * through the operator API (a packet keeps the entry it was looked up with).
 *
 * Tokens are compared by their SHA-256 digest: the table is keyed by digest, so the time a lookup
 * takes does not depend on how much of a guessed token matches a real one.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { hashToken, NodeConfigService, type PeerConfig } from "../Config.ts"
import { peerAccount, type SourceAccount } from "./Account.ts"
import { makeRouteTable, type RouteTable } from "./Router.ts"

export interface PeerEntry {
  readonly config: PeerConfig
  readonly account: SourceAccount
}

export interface PeersShape {
  readonly byToken: (token: string) => PeerEntry | undefined
  readonly byId: (id: string) => PeerEntry | undefined
  readonly routes: () => RouteTable
  readonly all: () => ReadonlyArray<PeerEntry>
  /** Replaces the peer set (operator change); the route table is rebuilt once. */
  readonly replace: (peers: ReadonlyArray<PeerConfig>) => void
}

export class Peers extends Context.Service<Peers, PeersShape>()("Connector/Peers") {}

interface Snapshot {
  readonly byTokenHash: ReadonlyMap<string, PeerEntry>
  readonly byId: ReadonlyMap<string, PeerEntry>
  readonly routes: RouteTable
}

const snapshot = (peers: ReadonlyArray<PeerConfig>): Snapshot => {
  const byTokenHash = new Map<string, PeerEntry>()
  const byId = new Map<string, PeerEntry>()
  for (const config of peers) {
    const entry: PeerEntry = { config, account: peerAccount(config) }
    byId.set(config.id, entry)
    for (const hash of config.incomingTokenHashes) byTokenHash.set(hash, entry)
  }
  return { byTokenHash, byId, routes: makeRouteTable(peers) }
}

export const make = (peers: ReadonlyArray<PeerConfig>): PeersShape => {
  let current = snapshot(peers)
  return {
    byToken: (token) => current.byTokenHash.get(hashToken(token)),
    byId: (id) => current.byId.get(id),
    routes: () => current.routes,
    all: () => [...current.byId.values()],
    replace: (next) => {
      current = snapshot(next)
    }
  }
}

export const layer: Layer.Layer<Peers, never, NodeConfigService> = Layer.effect(
  Peers,
  Effect.map(NodeConfigService, (config) => make(config.peers))
)
