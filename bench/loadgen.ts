/**
 * The load generator: one process, forked by `run.ts`, driven over IPC. For each `run` command it
 * builds its packets first (outside the measured time), then keeps `concurrency` requests in
 * flight over ONE keep-alive undici Pool until `packetsMax` packets are done or `durationMs` has
 * passed, whichever comes first, and answers with throughput, latency quantiles and outcomes.
 *
 * Packets:
 * - `forward`: Prepares whose data is their own 32-byte fulfillment (the peer fulfils by echoing).
 * - `stream`: valid STREAM Prepares (one StreamMoney frame each, encrypted with the connection's
 *   shared secret, condition from STREAM's fulfillment key), exactly what a STREAM sender would
 *   put on the wire. The first fulfill of a run is decrypted to check it carries a STREAM receipt.
 *
 * Every reply is checked: only HTTP 200 + ILP Fulfill counts as fulfilled.
 */
import { decrypt, encrypt, hmac } from "@interledger/stream-receiver/dist/src/utils.js"
import { FrameType, Packet, StreamMoneyFrame } from "ilp-protocol-stream/dist/src/packet.js"
import { randomBytes } from "node:crypto"
import { Pool } from "undici"
import { encodePrepare, sha256 } from "../src/Connector/Packet.ts"
import { quantiles, readLength, rejectCode } from "./common.ts"

export type PacketSpec =
  | { readonly kind: "forward"; readonly destination: string; readonly amount: string }
  | { readonly kind: "stream"; readonly destination: string; readonly sharedSecretHex: string; readonly amount: string }

export interface RunCommand {
  readonly type: "run"
  readonly url: string
  readonly token: string
  /**
   * More nodes to load beside `url` (N instances of one node on a shared ledger): the workers are
   * split evenly, worker i sending to target i mod N (`url` is target 0).
   */
  readonly moreTargets?: ReadonlyArray<{ readonly url: string; readonly token: string }>
  readonly packets: PacketSpec
  /** Distinct packets built up front (cycled when more are sent). */
  readonly distinctPackets: number
  readonly concurrency: number
  readonly packetsMax: number
  readonly durationMs: number
  /** How long each built packet stays valid. */
  readonly expiresInMs: number
}

export interface RunResult {
  readonly type: "result"
  readonly packets: number
  readonly fulfilled: number
  readonly rejected: number
  readonly failed: number
  readonly elapsedMs: number
  readonly packetsPerSecond: number
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number }
  /** Reject codes seen, with counts (at most a few distinct ones are expected: none). */
  readonly rejectCodes: Record<string, number>
  /** HTTP statuses other than 200 and network errors, with counts. */
  readonly failures: Record<string, number>
  /** For `stream` runs: whether a fulfill carried a STREAM receipt frame. */
  readonly receipts: boolean | undefined
  readonly buildMs: number
}

const encryptionKeyString = Buffer.from("ilp_stream_encryption")
const fulfillmentKeyString = Buffer.from("ilp_stream_fulfillment")
const ilpPrepareType = 12

const buildForward = (spec: Extract<PacketSpec, { kind: "forward" }>, expiresAt: number): Uint8Array => {
  const fulfillment = randomBytes(32)
  return encodePrepare({
    amount: BigInt(spec.amount),
    expiresAt,
    executionCondition: sha256(fulfillment),
    destination: spec.destination,
    data: fulfillment
  })
}

const streamKeys = (sharedSecretHex: string) => {
  const sharedSecret = Buffer.from(sharedSecretHex, "hex")
  return {
    encryptionKey: hmac(sharedSecret, encryptionKeyString),
    fulfillmentKey: hmac(sharedSecret, fulfillmentKeyString)
  }
}

const buildStream = (
  spec: Extract<PacketSpec, { kind: "stream" }>,
  keys: ReturnType<typeof streamKeys>,
  sequence: number,
  expiresAt: number
): Uint8Array => {
  // prepareAmount 0: the sender accepts whatever arrives (same asset here, so it is `amount`).
  const stream = new Packet(sequence, ilpPrepareType as never, 0, [new StreamMoneyFrame(1, 1)])
  const data = encrypt(keys.encryptionKey, stream._serialize())
  const fulfillment = hmac(keys.fulfillmentKey, data)
  return encodePrepare({
    amount: BigInt(spec.amount),
    expiresAt,
    executionCondition: sha256(fulfillment),
    destination: spec.destination,
    data
  })
}

/** Whether a Fulfill's data decrypts to a STREAM reply carrying a StreamReceipt frame. */
const hasReceipt = (fulfill: Uint8Array, encryptionKey: Buffer): boolean => {
  try {
    const envelope = readLength(fulfill, 1)
    if (envelope === undefined) return false
    const at = 1 + envelope[1] + 32
    const data = readLength(fulfill, at)
    if (data === undefined) return false
    const start = at + data[1]
    const plaintext = decrypt(encryptionKey, Buffer.from(fulfill.subarray(start, start + data[0])))
    return Packet._deserializeUnencrypted(plaintext).frames.some((frame) => frame.type === FrameType.StreamReceipt)
  } catch {
    return false
  }
}

const count = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

export const run = async (command: RunCommand): Promise<RunResult> => {
  const buildStart = performance.now()
  const expiresAt = Date.now() + command.expiresInMs
  const spec = command.packets
  const keys = spec.kind === "stream" ? streamKeys(spec.sharedSecretHex) : undefined
  const distinct = Math.max(1, Math.min(command.distinctPackets, command.packetsMax))
  const packets: Array<Uint8Array> = []
  for (let i = 0; i < distinct; i++) {
    packets.push(spec.kind === "forward" ? buildForward(spec, expiresAt) : buildStream(spec, keys!, i + 1, expiresAt))
  }
  const buildMs = performance.now() - buildStart

  const targets = [{ url: command.url, token: command.token }, ...(command.moreTargets ?? [])].map((target) => {
    const url = new URL(target.url)
    return {
      pool: new Pool(url.origin, { connections: command.concurrency, pipelining: 1, keepAliveTimeout: 30_000 }),
      port: Number(url.port),
      headers: { "content-type": "application/octet-stream", authorization: `Bearer ${target.token}` },
      path: `${url.pathname}${url.search}`
    }
  })
  const latencies = new Float64Array(command.packetsMax)
  const rejectCodes: Record<string, number> = {}
  const failures: Record<string, number> = {}
  let next = 0
  let done = 0
  let fulfilled = 0
  let rejected = 0
  let failed = 0
  let receipts: boolean | undefined = undefined

  // Set only by bench/experiments/packetTrace.ts (a preload): each request's send and answer times.
  const trace = (globalThis as { __benchTrace?: (packet: Uint8Array, sentAt: number, doneAt: number, port: number) => void })
    .__benchTrace
  const start = performance.now()
  const deadline = start + command.durationMs
  const worker = async (_: unknown, index: number) => {
    const { pool, headers, path, port } = targets[index % targets.length]!
    while (true) {
      const i = next++
      if (i >= command.packetsMax || performance.now() >= deadline) return
      const sentAt = performance.now()
      try {
        const response = await pool.request({ path, method: "POST", headers, body: packets[i % packets.length]! })
        const body = new Uint8Array(await response.body.arrayBuffer())
        const doneAt = performance.now()
        latencies[done++] = doneAt - sentAt
        trace?.(packets[i % packets.length]!, sentAt, doneAt, port)
        if (response.statusCode !== 200) {
          failed++
          count(failures, `HTTP ${response.statusCode}`)
        } else if (body[0] === 13) {
          fulfilled++
          if (receipts === undefined && keys !== undefined) receipts = hasReceipt(body, keys.encryptionKey)
        } else {
          rejected++
          count(rejectCodes, rejectCode(body) ?? "undecodable")
        }
      } catch (error) {
        latencies[done++] = performance.now() - sentAt
        failed++
        count(failures, (error as Error).message.slice(0, 80))
      }
    }
  }
  await Promise.all(Array.from({ length: command.concurrency }, worker))
  const elapsedMs = performance.now() - start
  await Promise.all(targets.map((target) => target.pool.close()))

  const [p50, p90, p99, max] = quantiles(latencies, done, [0.5, 0.9, 0.99, 1])
  return {
    type: "result",
    packets: done,
    fulfilled,
    rejected,
    failed,
    elapsedMs,
    packetsPerSecond: (done * 1000) / elapsedMs,
    latencyMs: { p50: p50!, p90: p90!, p99: p99!, max: max! },
    rejectCodes,
    failures,
    receipts,
    buildMs
  }
}

// Driven over IPC when forked by run.ts.
if (process.send !== undefined) {
  process.on("message", (message: RunCommand | { readonly type: "exit" }) => {
    if (message.type === "exit") process.exit(0)
    run(message).then(
      (result) => process.send!(result),
      (error: unknown) => process.send!({ type: "error", message: String((error as Error)?.stack ?? error) })
    )
  })
  process.on("disconnect", () => process.exit(0))
  process.send({ type: "ready" })
}
