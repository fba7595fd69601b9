/**
 * Receipt totals in process memory, for tests: atomic because every call runs synchronously; not
 * durable. See `ReceiptTotals.ts` for the contract.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  type AddRequest,
  addRequestProblem,
  checkKey,
  decideAdd,
  defaults,
  dieIf,
  graceProblem,
  packetRefProblem,
  ReceiptStoreUnavailable,
  ReceiptTotals,
  type ReceiptTotalsShape,
  releasedRefusal,
  reserveRequestProblem,
  ttlMs,
  ttlProblem
} from "./ReceiptTotals.ts"

/** A packet's record. */
interface PacketRecord {
  readonly state: "pending" | "committed" | "released"
  readonly amount: bigint
  readonly paymentKey: string | undefined
  /** When a pending amount stops counting. */
  readonly lapseAtMs: number
  /** When the record is forgotten. */
  readonly forgetAtMs: number
}

interface ConnectionEntry {
  readonly total: bigint
  readonly expiresAtMs: number
}

export interface MemoryOptions {
  readonly connectionTtlSeconds?: number
  readonly settleGraceMs?: number
  /** Bound on each map; when full (after dropping expired entries), `add`/`reserve` are unavailable. */
  readonly entriesMax?: number
}

const full = new ReceiptStoreUnavailable({ message: "in-memory receipt store is full" })
const busy = new ReceiptStoreUnavailable({ message: "too many packets pending for one payment" })

const liveConnection = (connections: Map<string, ConnectionEntry>, key: string, nowMs: number) => {
  const entry = connections.get(key)
  if (entry === undefined || entry.expiresAtMs > nowMs) return entry
  connections.delete(key)
  return undefined
}

const dropExpired = (connections: Map<string, ConnectionEntry>, nowMs: number): void => {
  for (const [key, entry] of connections) if (entry.expiresAtMs <= nowMs) connections.delete(key)
}

const dropForgotten = (packets: Map<string, PacketRecord>, nowMs: number): void => {
  for (const [key, record] of packets) if (record.forgetAtMs <= nowMs) packets.delete(key)
}

const makeMemory = (options: MemoryOptions): ReceiptTotalsShape => {
  const connectionTtlMs = ttlMs(options.connectionTtlSeconds ?? defaults.connectionTtlSeconds)
  const settleGraceMs = options.settleGraceMs ?? defaults.settleGraceMs
  const entriesMax = options.entriesMax ?? defaults.memoryEntriesMax
  const connections = new Map<string, ConnectionEntry>()
  const payments = new Map<string, bigint>()
  const packets = new Map<string, PacketRecord>()
  /** Per payment, the ids of its pending packets (lapsed ones are dropped when met). */
  const pendingOf = new Map<string, Set<string>>()

  const livePacket = (packetId: string, nowMs: number) => {
    const record = packets.get(packetId)
    if (record === undefined || record.forgetAtMs > nowMs) return record
    packets.delete(packetId)
    return undefined
  }
  const dropPending = (paymentKey: string | undefined, packetId: string) => {
    if (paymentKey === undefined) return
    const ids = pendingOf.get(paymentKey)
    ids?.delete(packetId)
    if (ids?.size === 0) pendingOf.delete(paymentKey)
  }
  /** Committed + live pending; drops lapsed ids from the index. */
  const countedTotal = (paymentKey: string, nowMs: number): bigint => {
    let total = payments.get(paymentKey) ?? 0n
    const ids = pendingOf.get(paymentKey)
    for (const id of ids ?? []) {
      const record = livePacket(id, nowMs)
      if (record === undefined || record.state !== "pending" || record.lapseAtMs <= nowMs) ids!.delete(id)
      else total += record.amount
    }
    return total
  }
  const hasRoom = (request: AddRequest, packetId: string | undefined, nowMs: number): boolean => {
    if (!connections.has(request.connectionKey) && connections.size >= entriesMax) dropExpired(connections, nowMs)
    if (packetId !== undefined && packets.size >= entriesMax) dropForgotten(packets, nowMs)
    const connectionFits = connections.has(request.connectionKey) || connections.size < entriesMax
    const paymentFits = request.payment === undefined || payments.has(request.payment.key) || payments.size < entriesMax
    const packetFits = packetId === undefined || packets.size < entriesMax
    return connectionFits && paymentFits && packetFits
  }
  const decide = (request: AddRequest, nowMs: number) =>
    decideAdd({
      connectionTotal: liveConnection(connections, request.connectionKey, nowMs)?.total ?? 0n,
      paymentTotal: request.payment === undefined ? 0n : countedTotal(request.payment.key, nowMs)
    }, request)
  const commitAmount = (connectionKey: string, paymentKey: string | undefined, amount: bigint, nowMs: number) => {
    const connectionTotal = (liveConnection(connections, connectionKey, nowMs)?.total ?? 0n) + amount
    connections.set(connectionKey, { total: connectionTotal, expiresAtMs: nowMs + connectionTtlMs })
    if (paymentKey === undefined) return { connectionTotal }
    const paymentTotal = (payments.get(paymentKey) ?? 0n) + amount
    payments.set(paymentKey, paymentTotal)
    return { connectionTotal, paymentTotal }
  }

  return {
    inProcess: true,
    add: Effect.fn("ReceiptTotals.add")(function*(request) {
      yield* dieIf(addRequestProblem(request))
      const nowMs = yield* Clock.currentTimeMillis
      const result = decide(request, nowMs)
      if (!result.accepted) return result
      if (!hasRoom(request, undefined, nowMs)) return yield* full
      commitAmount(request.connectionKey, request.payment?.key, request.amount, nowMs)
      return result
    }),
    reserve: Effect.fn("ReceiptTotals.reserve")(function*(request) {
      yield* dieIf(reserveRequestProblem(request))
      const nowMs = yield* Clock.currentTimeMillis
      const existing = livePacket(request.packetId, nowMs)
      const counted = request.payment === undefined ? 0n : countedTotal(request.payment.key, nowMs)
      if (existing?.state === "released") return releasedRefusal(counted)
      if (existing !== undefined) return yield* Effect.die(new Error("ReceiptTotals: packet id reserved twice"))
      const result = decide(request, nowMs)
      if (!result.accepted) return result
      if (!hasRoom(request, request.packetId, nowMs)) return yield* full
      const paymentKey = request.payment?.key
      const ids = paymentKey === undefined ? undefined : pendingOf.get(paymentKey) ?? new Set<string>()
      if (ids !== undefined && ids.size >= defaults.pendingPerPaymentMax) return yield* busy
      const lapseAtMs = nowMs + request.pendingMs
      packets.set(request.packetId, {
        state: "pending",
        amount: request.amount,
        paymentKey,
        lapseAtMs,
        forgetAtMs: lapseAtMs + settleGraceMs
      })
      if (ids !== undefined && paymentKey !== undefined) pendingOf.set(paymentKey, ids.add(request.packetId))
      return result
    }),
    commit: Effect.fn("ReceiptTotals.commit")(function*(packet) {
      yield* dieIf(packetRefProblem(packet))
      const nowMs = yield* Clock.currentTimeMillis
      const record = livePacket(packet.packetId, nowMs)
      if (record === undefined) return { outcome: "unknown" } as const
      if (record.state === "released") return { outcome: "released" } as const
      if (record.state === "committed") {
        const connectionTotal = liveConnection(connections, packet.connectionKey, nowMs)?.total ?? 0n
        return record.paymentKey === undefined
          ? { outcome: "committed", connectionTotal } as const
          : { outcome: "committed", connectionTotal, paymentTotal: payments.get(record.paymentKey) ?? 0n } as const
      }
      packets.set(packet.packetId, { ...record, state: "committed" })
      dropPending(record.paymentKey, packet.packetId)
      return { outcome: "committed", ...commitAmount(packet.connectionKey, record.paymentKey, record.amount, nowMs) } as const
    }),
    release: Effect.fn("ReceiptTotals.release")(function*(packet) {
      yield* dieIf(packetRefProblem(packet))
      const nowMs = yield* Clock.currentTimeMillis
      const record = livePacket(packet.packetId, nowMs)
      if (record?.state === "committed") return "committed" as const
      if (record === undefined) {
        if (packets.size >= entriesMax) dropForgotten(packets, nowMs)
        if (packets.size >= entriesMax) return yield* full
        packets.set(packet.packetId, {
          state: "released",
          amount: 0n,
          paymentKey: packet.paymentKey,
          lapseAtMs: nowMs,
          forgetAtMs: nowMs + settleGraceMs
        })
        return "released" as const
      }
      packets.set(packet.packetId, { ...record, state: "released" })
      dropPending(record.paymentKey, packet.packetId)
      return "released" as const
    }),
    get: Effect.fn("ReceiptTotals.get")(function*(connectionKey) {
      yield* checkKey("connection key", connectionKey)
      const nowMs = yield* Clock.currentTimeMillis
      return liveConnection(connections, connectionKey, nowMs)?.total ?? 0n
    }),
    paymentTotal: Effect.fn("ReceiptTotals.paymentTotal")(function*(paymentKey) {
      yield* checkKey("payment key", paymentKey)
      return payments.get(paymentKey) ?? 0n
    }),
    deletePayment: Effect.fn("ReceiptTotals.deletePayment")(function*(paymentKey) {
      yield* checkKey("payment key", paymentKey)
      payments.delete(paymentKey)
      pendingOf.delete(paymentKey)
    })
  }
}

/** Process-memory totals for tests: atomic because every call runs synchronously. Not durable. */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<ReceiptTotals> =>
  Layer.effect(
    ReceiptTotals,
    Effect.andThen(
      dieIf(
        ttlProblem(options.connectionTtlSeconds ?? defaults.connectionTtlSeconds) ??
          graceProblem(options.settleGraceMs ?? defaults.settleGraceMs)
      ),
      () => Effect.sync(() => makeMemory(options))
    )
  )
