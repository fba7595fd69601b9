/**
 * The account a packet comes from: a configured peer (ILP-over-HTTP) or a local account of this
 * node's own payment services (the in-process plugin). Stages read only the fields they need.
 */
import { ids } from "../Accounting/Accounts.ts"
import { type Asset, defaults, type PeerConfig } from "../Config.ts"

export interface RateLimitSettings {
  readonly packetsPerSecond: number
  readonly burst: number
}

export interface ThroughputLimitSettings {
  readonly amount: bigint
  readonly periodMs: number
}

export interface SourceAccount {
  /** Unique across kinds: `peer:<id>` or `local:<id>`. Keys rate-limit buckets. */
  readonly key: string
  readonly kind: "peer" | "local"
  /** The peer id for peers; the local account id otherwise. */
  readonly id: string
  readonly asset: Asset
  /** What ILDCP tells this account its address is. */
  readonly ilpAddress: string
  readonly maxPacketAmount: bigint | undefined
  readonly rateLimit: RateLimitSettings | undefined
  readonly throughputLimit: ThroughputLimitSettings | undefined
  /** The ledger account this source's packets are debited from (and a peer's are credited to). */
  readonly ledgerAccountId: bigint
}

export const peerAccount = (peer: PeerConfig): SourceAccount => ({
  key: `peer:${peer.id}`,
  kind: "peer",
  id: peer.id,
  asset: peer.asset,
  ilpAddress: peer.staticIlpAddress,
  maxPacketAmount: peer.maxPacketAmount,
  // A peer without a configured packet rate gets the documented default (`defaults.peerRateLimit`).
  rateLimit: peer.rateLimit ?? defaults.peerRateLimit,
  throughputLimit: peer.throughputLimit,
  ledgerAccountId: ids.peerLiquidity(peer.id)
})
