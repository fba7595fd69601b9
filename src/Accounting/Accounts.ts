/**
 * Which ledger accounts the connector uses, and how their ids are derived.
 *
 * Ids are deterministic (a hash of what the account is for), so every instance of the node computes
 * the same ids without a lookup and accounts can be created idempotently at start-up. Ledgers are
 * one per asset (code + scale), numbered by a hash too; `ledgerNumbers` fails start-up on the
 * (astronomically unlikely) collision of two assets.
 *
 * Packet transfer shapes (SPEC §6), all in one linked chain:
 * - same asset: source → destination for the common amount; any difference between the source and
 *   destination amounts moves to or from the asset's liquidity account;
 * - cross asset: source → source-asset liquidity, destination-asset liquidity → destination (the
 *   node's own float in the destination asset pays out, and may not go below zero).
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import type { Asset, NodeConfig, PeerConfig } from "../Config.ts"
import {
  type AccountSpec,
  AccountCode,
  Ledger,
  setCreditLimit,
  type TransferSpec,
  TransferCode
} from "./Ledger.ts"

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/**
 * Derived ids are pure functions of their labels, and the packet path asks for the same few (its
 * peers' and assets') on every packet: each derivation remembers up to `derivedIdsCachedMax`
 * labels (then forgets them all at once), so a packet costs no SHA-256 for them (bench/: five
 * hashes per forwarded packet before).
 */
export const derivedIdsCachedMax = 10_000

const remembered = <A>(derive: (label: string) => A) => {
  const cache = new Map<string, A>()
  return (label: string): A => {
    const hit = cache.get(label)
    if (hit !== undefined) return hit
    const value = derive(label)
    if (cache.size >= derivedIdsCachedMax) cache.clear()
    cache.set(label, value)
    return value
  }
}

/** A u128 id from a label: the first 16 bytes of its SHA-256 (never 0 or 2^128-1 in practice; checked). */
export const accountIdFor: (label: string) => bigint = remembered((label) => {
  const bytes = digest(`account:${label}`)
  let id = 0n
  for (let i = 0; i < 16; i++) id = (id << 8n) | BigInt(bytes[i]!)
  if (id === 0n || id === (1n << 128n) - 1n) throw new Error(`reserved account id for ${label}`)
  return id
})

const assetKey = (asset: Asset): string => `${asset.code}:${asset.scale}`

const ledgerOfKey = remembered((key) => {
  const n = digest(`ledger:${key}`).readUInt32BE(0)
  return n === 0 ? 1 : n
})

/** The ledger (u32, non-zero) that holds an asset's accounts. */
export const ledgerOf = (asset: Asset): number => ledgerOfKey(assetKey(asset))

export const ids = {
  assetLiquidity: (asset: Asset) => accountIdFor(`asset-liquidity:${assetKey(asset)}`),
  settlement: (asset: Asset) => accountIdFor(`settlement:${assetKey(asset)}`),
  peerLiquidity: (peerId: string) => accountIdFor(`peer-liquidity:${peerId}`),
  creditLine: (peerId: string) => accountIdFor(`credit-line:${peerId}`),
  walletAddress: (id: string) => accountIdFor(`wallet-address:${id}`),
  incomingPayment: (id: string) => accountIdFor(`incoming-payment:${id}`),
  outgoingPayment: (id: string) => accountIdFor(`outgoing-payment:${id}`)
} as const

/** Every asset the configuration mentions, once each. */
export const assetsOf = (config: NodeConfig): ReadonlyArray<Asset> => {
  const byKey = new Map<string, Asset>()
  for (const asset of [...config.assets, ...config.peers.map((peer) => peer.asset)]) byKey.set(assetKey(asset), asset)
  return [...byKey.values()]
}

/** Fails (returns the problem) when two assets would share a ledger number. */
export const ledgerCollision = (assets: ReadonlyArray<Asset>): string | undefined => {
  const seen = new Map<number, string>()
  for (const asset of assets) {
    const ledger = ledgerOf(asset)
    const other = seen.get(ledger)
    if (other !== undefined && other !== assetKey(asset)) return `assets ${other} and ${assetKey(asset)} share ledger ${ledger}`
    seen.set(ledger, assetKey(asset))
  }
  return undefined
}

export const assetAccounts = (asset: Asset): ReadonlyArray<AccountSpec> => [
  {
    id: ids.assetLiquidity(asset),
    ledger: ledgerOf(asset),
    code: AccountCode.assetLiquidity,
    flags: { debitsMustNotExceedCredits: true }
  },
  // Settlement goes "negative" as money comes in: it mirrors what sits outside the ledger.
  { id: ids.settlement(asset), ledger: ledgerOf(asset), code: AccountCode.settlement, flags: {} }
]

export const peerAccounts = (peer: PeerConfig): ReadonlyArray<AccountSpec> => [
  {
    id: ids.peerLiquidity(peer.id),
    ledger: ledgerOf(peer.asset),
    code: AccountCode.peerLiquidity,
    flags: { debitsMustNotExceedCredits: true }
  },
  {
    id: ids.creditLine(peer.id),
    ledger: ledgerOf(peer.asset),
    code: AccountCode.creditLine,
    flags: { creditsMustNotExceedDebits: true }
  }
]

/** Creates the accounts of every configured asset and peer and applies the peers' credit limits. */
export const ensureConfiguredAccounts = (config: NodeConfig) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const assets = assetsOf(config)
    const collision = ledgerCollision(assets)
    if (collision !== undefined) return yield* Effect.die(new Error(collision))
    yield* ledger.createAccounts([...assets.flatMap(assetAccounts), ...config.peers.flatMap(peerAccounts)])
    for (const peer of config.peers) {
      yield* setCreditLimit(
        { ledger: ledgerOf(peer.asset), liquidityAccountId: ids.peerLiquidity(peer.id), creditLineAccountId: ids.creditLine(peer.id) },
        peer.creditLimit
      )
    }
  })

export interface PacketLeg {
  readonly accountId: bigint
  readonly asset: Asset
  readonly amount: bigint
}

/** The linked chain of transfers for one packet (zero-amount legs left out). Pure. */
export const packetTransfers = (
  source: PacketLeg,
  destination: PacketLeg,
  newId: () => bigint
): ReadonlyArray<TransferSpec> => {
  const transfer = (debitAccountId: bigint, creditAccountId: bigint, amount: bigint, asset: Asset): TransferSpec => ({
    id: newId(),
    debitAccountId,
    creditAccountId,
    amount,
    ledger: ledgerOf(asset),
    code: TransferCode.packet
  })
  const legs: Array<TransferSpec> = []
  if (ledgerOf(source.asset) === ledgerOf(destination.asset)) {
    const liquidity = ids.assetLiquidity(source.asset)
    const common = source.amount < destination.amount ? source.amount : destination.amount
    if (common > 0n) legs.push(transfer(source.accountId, destination.accountId, common, source.asset))
    if (source.amount > common) legs.push(transfer(source.accountId, liquidity, source.amount - common, source.asset))
    if (destination.amount > common) {
      legs.push(transfer(liquidity, destination.accountId, destination.amount - common, source.asset))
    }
    return legs
  }
  if (source.amount > 0n) {
    legs.push(transfer(source.accountId, ids.assetLiquidity(source.asset), source.amount, source.asset))
  }
  if (destination.amount > 0n) {
    legs.push(transfer(ids.assetLiquidity(destination.asset), destination.accountId, destination.amount, destination.asset))
  }
  return legs
}
