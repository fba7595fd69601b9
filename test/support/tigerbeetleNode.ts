/**
 * Node processes on a TigerBeetle cluster, for the integration tests that run the node as an
 * operator would (`node src/main.ts --config <file>` with `TIGERBEETLE_ADDRESSES`): config files,
 * admin calls, a load of ILP-over-HTTP senders that records every answer, the audit command, and
 * polling with a deadline.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Pool } from "undici"
import { decodeReply, isDecodeFailure, PacketType } from "../../src/Connector/Packet.ts"
import { makePrepare } from "./packets.ts"
import { type NodeProcess, runCli, startNodeProcess } from "./process.ts"
import { freePorts } from "./ports.ts"
import type { TigerBeetleCluster } from "./tigerbeetle.ts"

export const usd = { code: "USD", scale: 2 } as const
export const adminToken = "tigerbeetle-test-admin-token-01"
export const senderToken = "tigerbeetle-test-sender-token-1"

export interface NodeFiles {
  /** Prefix of the peer ids (`<prefix>sender`, `<prefix>upstream`): tests sharing a cluster keep their accounts apart. */
  readonly prefix: string
  readonly configFile: string
  readonly connectorPort: number
  readonly adminPort: number
  readonly health: string
}

/**
 * A config for a node with a `sender` peer (sends to us, `senderCreditLimit` of credit) and an
 * `upstream` peer at `peerUrl` (reached at `test.upstream`), its own ports and data dir under `dir`.
 */
export const writeNodeConfig = async (
  dir: string,
  options: {
    readonly peerUrl: string
    readonly prefix?: string
    readonly senderCreditLimit?: bigint
    readonly maxHoldTimeMs?: number
  }
): Promise<NodeFiles> => {
  const prefix = options.prefix ?? ""
  mkdirSync(dir, { recursive: true })
  const [connectorPort, adminPort, openPaymentsPort] = (await freePorts(3)) as [number, number, number]
  const configFile = join(dir, "config.json")
  writeFileSync(
    configFile,
    JSON.stringify({
      ilpAddress: "test.tb",
      connectorPort,
      adminPort,
      openPaymentsPort,
      adminToken,
      dataDir: join(dir, "data"),
      ...(options.maxHoldTimeMs === undefined ? {} : { maxHoldTimeMs: options.maxHoldTimeMs }),
      peers: [
        {
          id: `${prefix}sender`,
          asset: usd,
          incomingTokens: [senderToken],
          staticIlpAddress: "test.sender",
          ...(options.senderCreditLimit === undefined ? {} : { creditLimit: options.senderCreditLimit.toString() })
        },
        {
          id: `${prefix}upstream`,
          asset: usd,
          incomingTokens: ["tigerbeetle-test-upstream-token"],
          outgoing: { url: options.peerUrl, token: "tigerbeetle-test-outgoing-tok1" },
          staticIlpAddress: "test.upstream"
        }
      ]
    }),
    { mode: 0o600 }
  )
  return { prefix, configFile, connectorPort, adminPort, health: `http://127.0.0.1:${adminPort}/healthz` }
}

export const clusterEnv = (cluster: TigerBeetleCluster): Record<string, string> => ({
  TIGERBEETLE_ADDRESSES: cluster.addresses.join(","),
  TIGERBEETLE_CLUSTER_ID: String(cluster.clusterId)
})

export const startNodeOn = (cluster: TigerBeetleCluster, files: NodeFiles): Promise<NodeProcess> =>
  startNodeProcess(["--config", files.configFile], files.health, clusterEnv(cluster))

export interface Balance {
  readonly debitsPosted: bigint
  readonly creditsPosted: bigint
  readonly debitsPending: bigint
  readonly creditsPending: bigint
}

/** One admin API call; throws unless 200. */
export const admin = async (files: NodeFiles, path: string, body?: unknown): Promise<unknown> => {
  const response = await fetch(`http://127.0.0.1:${files.adminPort}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (response.status !== 200) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`)
  return response.json()
}

/** A peer's liquidity balance from `GET /balances` (`peer` without the prefix). */
export const peerBalance = async (files: NodeFiles, peer: "sender" | "upstream"): Promise<Balance> => {
  const peerId = `${files.prefix}${peer}`
  const balances = await admin(files, "/balances") as {
    peers: Array<{ peerId: string; liquidity: Record<keyof Balance, string> }>
  }
  const entry = balances.peers.find((peer) => peer.peerId === peerId)
  if (entry === undefined) throw new Error(`no balance for ${peerId}: ${JSON.stringify(balances)}`)
  return {
    debitsPosted: BigInt(entry.liquidity.debitsPosted),
    creditsPosted: BigInt(entry.liquidity.creditsPosted),
    debitsPending: BigInt(entry.liquidity.debitsPending),
    creditsPending: BigInt(entry.liquidity.creditsPending)
  }
}

export interface LoadTotals {
  sent: bigint
  fulfilled: bigint
  fulfills: number
  rejects: number
  /** Requests that got no ILP answer (connection refused or reset: the node died). */
  failures: number
  /** Reject codes seen, with counts. */
  readonly codes: Map<string, number>
}

/** The largest packet amount `startLoad` sends (what a test bounds the packets in flight by). */
export const loadPacketAmountMax = 100n

/**
 * `workers` concurrent senders posting packets of 1..`loadPacketAmountMax` to `destination` through the node at
 * `connectorPort` until `stop()`. Fulfilled amounts are summed from the answers the senders saw.
 */
export const startLoad = (
  connectorPort: number,
  options: { readonly workers?: number; readonly destination?: string; readonly expiresInMs?: number } = {}
) => {
  const workers = options.workers ?? 20
  const pool = new Pool(`http://127.0.0.1:${connectorPort}`, { connections: workers })
  const totals: LoadTotals = { sent: 0n, fulfilled: 0n, fulfills: 0, rejects: 0, failures: 0, codes: new Map() }
  let stopped = false
  const worker = async () => {
    while (!stopped) {
      const amount = 1n + BigInt(Math.floor(Math.random() * Number(loadPacketAmountMax)))
      const { bytes } = makePrepare({
        destination: options.destination ?? "test.upstream.x",
        amount,
        expiresAt: Date.now() + (options.expiresInMs ?? 10_000)
      })
      totals.sent += amount
      try {
        const response = await pool.request({
          path: "/ilp",
          method: "POST",
          headers: { authorization: `Bearer ${senderToken}`, "content-type": "application/octet-stream" },
          body: bytes
        })
        const reply = decodeReply(new Uint8Array(await response.body.arrayBuffer()))
        if (isDecodeFailure(reply)) totals.failures++
        else if (reply.type === PacketType.Fulfill) {
          totals.fulfilled += amount
          totals.fulfills++
        } else {
          totals.rejects++
          totals.codes.set(reply.reject.code, (totals.codes.get(reply.reject.code) ?? 0) + 1)
        }
      } catch {
        totals.failures++
        if (stopped) return
        await new Promise((r) => setTimeout(r, 20))
      }
    }
  }
  const running = Array.from({ length: workers }, worker)
  return {
    totals,
    stop: async () => {
      stopped = true
      await Promise.all(running)
      await pool.close().catch(() => undefined)
    }
  }
}

/** Polls `check` until it holds or `timeoutMs` passes; answers whether it held. */
export const waitUntil = async (check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await Promise.resolve().then(check).catch(() => false)) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

/** `node src/main.ts audit --tigerbeetle <addresses>` with extra arguments. */
export const auditCluster = (cluster: TigerBeetleCluster, args: ReadonlyArray<string> = []) =>
  runCli(["audit", "--tigerbeetle", cluster.addresses.join(","), "--cluster-id", String(cluster.clusterId), ...args])
