/**
 * Pending receipt amounts held in memory, authoritatively, for the receipt totals on the embedded
 * ledger's connection (`ReceiptTotalsSqliteInLedger.ts`): a capped packet's `reserve` writes no
 * row and waits for no batch; its `commit`, in the ledger's post transaction, writes the packet's
 * row as committed (with the transaction's other commits, before its COMMIT). Why and what it answers: docs/performance/local-delivery.md, "Capped incoming
 * payments in memory (issue 13, sixth session)".
 *
 * This table is the ONLY record of what is pending (never the clearable `ReceiptCache`): clearing
 * it would let the cap be passed. What it holds per packet id:
 * - `pending`: counts against its payment's cap until committed, released or lapsed;
 * - `lapsed`: past its lapse time (the ledger reservation's timeout): no longer counted, still
 *   committable (the ledger did post) until its forget time;
 * - a tombstone (`released`) until its forget time: a late commit answers `released`, a late
 *   reserve is refused as released.
 *
 * Rollback: a commit moves the packet from here to the committed totals inside a transaction (the
 * ledger's post batch, or the store's own write batch); each move is logged (`undo`) until that
 * transaction's COMMIT succeeded (`committed`), and put back if it rolled back (`rolledBack`).
 * Transactions on the connection never interleave (everything on it is synchronous), so one log.
 * The same log gives the committed rows to write: the transaction's owner writes them all in a
 * few multi-row statements right before its COMMIT (`writeCommittedRows`), and until then a
 * repeated commit or a release of the id answers from the log (`committedInTransaction`).
 *
 * Lapse: a payment's due packets lapse at its next reserve (skipped while `nextLapseMs` is ahead)
 * and in the periodic pass (`sweep`), which also forgets lapsed packets and tombstones past their
 * forget time.
 *
 * Bounds: per payment `pendingPerPaymentMax` pending packets (beyond it a reserve is
 * `ReceiptStoreUnavailable`, T00); in all, `entriesMax` packets and tombstones: a reserve beyond
 * it first drops the oldest tombstones (then a late commit of that id answers `unknown` instead of
 * `released`; neither counts), and is `ReceiptStoreUnavailable` if the table is full of live packets
 * (a release then leaves no tombstone). A reserve cannot arrive late in-process (it is synchronous:
 * it has answered before the caller can release), so a missing tombstone only changes which
 * non-`committed` answer a late commit gets.
 *
 * Restart: nothing here survives the process. A commit of a packet reserved before the restart
 * finds no row and answers `unknown`; its release answers `released`. The embedded ledger voids
 * every pending transfer at open, so no post (and no commit in a post) can follow for them.
 */
import { type AddRequest, type AddResult, decideAdd, defaults as totalsDefaults, releasedRefusal } from "./ReceiptTotals.ts"

export interface PendingPacket {
  readonly amount: bigint
  readonly paymentKey: string | undefined
  readonly lapseAtMs: number
  readonly forgetAtMs: number
  /** False once lapsed: no longer counted against the cap, still committable. */
  readonly counted: boolean
}

interface PaymentPending {
  total: bigint
  /** Ids of its counted packets. */
  readonly ids: Set<string>
  /** No counted packet lapses before this time (Infinity: none counted). */
  nextLapseMs: number
}

/** Packets and tombstones held at once, by default. */
export const pendingEntriesMax = 100_000

export type ReserveDecision =
  | { readonly _tag: "Accepted"; readonly result: AddResult }
  | { readonly _tag: "Refused"; readonly result: AddResult }
  | { readonly _tag: "ReservedTwice" }
  | { readonly _tag: "Full"; readonly message: string }

export type Found =
  | { readonly _tag: "Packet"; readonly packet: PendingPacket }
  | { readonly _tag: "Released" }
  | { readonly _tag: "Absent" }

/** A commit logged in the open transaction: the packet as it was held, its row written or not yet. */
export interface CommittedPacket {
  readonly packetId: string
  readonly packet: PendingPacket
}

export class PendingTable {
  readonly packets = new Map<string, PendingPacket>()
  /** Released packet ids and their forget time, oldest first. */
  readonly tombstones = new Map<string, number>()
  readonly payments = new Map<string, PaymentPending>()
  private undo: Array<CommittedPacket> = []
  private nextRoomSweepMs = -Infinity
  readonly entriesMax: number
  readonly perPaymentMax: number

  constructor(entriesMax: number = pendingEntriesMax, perPaymentMax: number = totalsDefaults.pendingPerPaymentMax) {
    this.entriesMax = entriesMax
    this.perPaymentMax = perPaymentMax
  }

  get size(): number {
    return this.packets.size + this.tombstones.size
  }

  /** The payment's pending sum and count, after lapsing what is due at `nowMs`. */
  pendingOf(paymentKey: string, nowMs: number): { readonly total: bigint; readonly count: number } {
    const payment = this.payments.get(paymentKey)
    if (payment === undefined) return { total: 0n, count: 0 }
    if (nowMs >= payment.nextLapseMs) this.lapseDue(paymentKey, payment, nowMs)
    return { total: payment.total, count: payment.ids.size }
  }

  /**
   * One reserve, synchronous: the cap check against `committed` (the payment's committed total)
   * plus what is pending here, and the pending entry. `connectionTotal`: the connection's committed total.
   */
  reserve(
    request: AddRequest & { readonly packetId: string; readonly pendingMs: number },
    nowMs: number,
    settleGraceMs: number,
    committed: (paymentKey: string) => bigint,
    connectionTotal: (connectionKey: string) => bigint
  ): ReserveDecision {
    const id = request.packetId
    const payment = request.payment
    const counted = () => payment === undefined ? 0n : committed(payment.key) + this.pendingOf(payment.key, nowMs).total
    // An id known here (until its forget time: then it is absent, as a forgotten row was).
    if (this.packets.has(id) || this.tombstones.has(id)) {
      const found = this.find(id, nowMs)
      if (found._tag === "Packet") return { _tag: "ReservedTwice" }
      if (found._tag === "Released") return { _tag: "Refused", result: releasedRefusal(counted()) }
    }
    const result = decideAdd({ connectionTotal: connectionTotal(request.connectionKey), paymentTotal: counted() }, request)
    if (!result.accepted) return { _tag: "Refused", result }
    if (payment !== undefined && this.pendingOf(payment.key, nowMs).count >= this.perPaymentMax) {
      return { _tag: "Full", message: "too many packets pending for one payment" }
    }
    if (!this.makeRoom(nowMs)) return { _tag: "Full", message: "too many receipt packets pending" }
    const lapseAtMs = nowMs + request.pendingMs
    this.hold(id, { amount: request.amount, paymentKey: payment?.key, lapseAtMs, forgetAtMs: lapseAtMs + settleGraceMs, counted: true })
    return { _tag: "Accepted", result }
  }

  /** What is known of a packet id here (a packet, pending or lapsed; a tombstone; nothing). */
  find(packetId: string, nowMs: number): Found {
    let packet = this.packets.get(packetId)
    if (packet !== undefined) {
      if (packet.counted && packet.paymentKey !== undefined && nowMs >= packet.lapseAtMs) {
        // Due: its payment's due packets lapse first (this one no longer counts).
        this.pendingOf(packet.paymentKey, nowMs)
        packet = this.packets.get(packetId)!
      }
      if (nowMs < packet.forgetAtMs) return { _tag: "Packet", packet }
      this.drop(packetId, packet)
      return { _tag: "Absent" }
    }
    const forgetAtMs = this.tombstones.get(packetId)
    if (forgetAtMs === undefined) return { _tag: "Absent" }
    if (nowMs < forgetAtMs) return { _tag: "Released" }
    this.tombstones.delete(packetId)
    return { _tag: "Absent" }
  }

  /**
   * The packet's commit runs in a transaction: it leaves this table (its row is written committed
   * by the caller), logged until that transaction's COMMIT.
   */
  commit(packetId: string, packet: PendingPacket): void {
    this.drop(packetId, packet)
    this.undo.push({ packetId, packet })
  }

  /**
   * The packet as held when it was committed in the open transaction; undefined when it was not.
   * A scan of the log (at most one ledger batch of commits): only a commit or release of a packet
   * not held here asks (a repeated one, or one reserved before a restart), so no index per commit.
   */
  committedInTransaction(packetId: string): PendingPacket | undefined {
    for (let i = this.undo.length - 1; i >= 0; i--) if (this.undo[i]!.packetId === packetId) return this.undo[i]!.packet
    return undefined
  }

  /** The commits of the open transaction, in order: the committed rows its owner writes right before its COMMIT. */
  get log(): ReadonlyArray<CommittedPacket> {
    return this.undo
  }

  /** Released (the ledger voided it, or the packet did not post): a tombstone until its forget time. */
  release(packetId: string, packet: PendingPacket | undefined, nowMs: number, settleGraceMs: number): void {
    if (packet !== undefined) this.drop(packetId, packet)
    this.tombstones.delete(packetId)
    // Full of live packets (a release of an id never held here, e.g. after a reserve refused as
    // full): no tombstone, so the table stays within its bound; a late commit then answers `unknown`.
    if (this.size >= this.entriesMax && !this.dropOldestTombstone()) return
    this.tombstones.set(packetId, packet?.forgetAtMs ?? nowMs + settleGraceMs)
  }

  /** The payment was deleted: its pending packets are released (their commits answer `released`). */
  forgetPayment(paymentKey: string): void {
    this.payments.delete(paymentKey)
    // Lapsed packets of the payment too (a scan: deleting a payment is rare).
    for (const [id, packet] of this.packets) {
      if (packet.paymentKey !== paymentKey) continue
      this.packets.delete(id)
      this.tombstones.set(id, packet.forgetAtMs)
    }
  }

  /** The transaction holding the logged commits committed: they stay committed. */
  committed(): void {
    if (this.undo.length > 0) this.undo = []
  }

  /** The transaction holding the logged commits rolled back: each packet is as it was before its commit. */
  rolledBack(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const { packetId, packet } = this.undo[i]!
      this.hold(packetId, packet)
    }
    this.undo = []
  }

  /** Puts the packet in the table and, if counted, in its payment's pending sum (the reverse of `drop`). */
  private hold(packetId: string, packet: PendingPacket): void {
    this.packets.set(packetId, packet)
    if (!packet.counted || packet.paymentKey === undefined) return
    let entry = this.payments.get(packet.paymentKey)
    if (entry === undefined) {
      entry = { total: 0n, ids: new Set(), nextLapseMs: Infinity }
      this.payments.set(packet.paymentKey, entry)
    }
    entry.total += packet.amount
    entry.ids.add(packetId)
    if (packet.lapseAtMs < entry.nextLapseMs) entry.nextLapseMs = packet.lapseAtMs
  }

  /** Commits logged and not yet settled by `committed` / `rolledBack` (tests). */
  get undoLength(): number {
    return this.undo.length
  }

  /** The periodic pass: lapses every due packet, forgets lapsed packets and tombstones past their forget time. */
  sweep(nowMs: number): void {
    for (const [key, payment] of this.payments) if (nowMs >= payment.nextLapseMs) this.lapseDue(key, payment, nowMs)
    for (const [id, packet] of this.packets) {
      if (packet.counted && nowMs >= packet.lapseAtMs) {
        // A counted packet without a payment lapses here (it holds no cap).
        if (packet.paymentKey === undefined) this.packets.set(id, { ...packet, counted: false })
      }
      if (!packet.counted && nowMs >= packet.forgetAtMs) this.packets.delete(id)
    }
    for (const [id, forgetAtMs] of this.tombstones) if (nowMs >= forgetAtMs) this.tombstones.delete(id)
  }

  private lapseDue(paymentKey: string, payment: PaymentPending, nowMs: number): void {
    let next = Infinity
    for (const id of payment.ids) {
      const packet = this.packets.get(id)!
      if (nowMs >= packet.lapseAtMs) {
        payment.ids.delete(id)
        payment.total -= packet.amount
        this.packets.set(id, { ...packet, counted: false })
      } else if (packet.lapseAtMs < next) {
        next = packet.lapseAtMs
      }
    }
    payment.nextLapseMs = next
    if (payment.ids.size === 0) this.payments.delete(paymentKey)
  }

  /** Removes the packet from the table and, if counted, from its payment's pending sum. */
  private drop(packetId: string, packet: PendingPacket): void {
    this.packets.delete(packetId)
    if (!packet.counted || packet.paymentKey === undefined) return
    const payment = this.payments.get(packet.paymentKey)
    if (payment === undefined || !payment.ids.delete(packetId)) return
    payment.total -= packet.amount
    // `nextLapseMs` stays a lower bound; the next lapse pass recomputes it.
    if (payment.ids.size === 0) this.payments.delete(packet.paymentKey)
  }

  private dropOldestTombstone(): boolean {
    const oldest = this.tombstones.keys().next()
    if (oldest.done) return false
    this.tombstones.delete(oldest.value)
    return true
  }

  /** Room for one more packet: tombstones past due or oldest go first; false when full of packets. */
  private makeRoom(nowMs: number): boolean {
    if (this.size < this.entriesMax) return true
    // A full pass at most once a second while full (it is O(entries)).
    if (nowMs >= this.nextRoomSweepMs) {
      this.nextRoomSweepMs = nowMs + 1_000
      this.sweep(nowMs)
    }
    while (this.size >= this.entriesMax) if (!this.dropOldestTombstone()) return false
    return true
  }
}
