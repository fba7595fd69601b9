/**
 * What the embedded receipt totals have written, remembered in memory so a write step does not read
 * it back from SQLite (see `ReceiptTotalsSqlite.ts`; bench/experiments/receipts.ts measured the
 * reads at about half of a packet's reserve + commit).
 *
 * Why it is exact: this process is the only writer of the file (`DataDirLock.ts`), and every
 * write to the three cached tables goes through the write steps or `deletePayment`, which update or
 * forget the entry in the same synchronous step as the SQL statement. An entry is only ever set
 * from a value just written (or just read) in the current transaction, so when a transaction rolls
 * back the whole cache is cleared (`clear`), and reads go to SQLite again. A miss always reads
 * SQLite; the cache never answers for a key it has not seen written or read.
 *
 * - connection totals with their expiry: an entry past its expiry counts as absent, exactly as the
 *   `expires_at_ms > now` of the SELECT does (the sweeper may delete the row later; absent either way);
 * - committed payment totals;
 * - pending sums and counts per payment, mirroring its pending packet rows (changed in the same
 *   step as the row; on a miss summed from the rows, which are the record: the sum is not stored),
 *   with a lower bound on the earliest lapse of those packets (`nextLapseMs`), so the due-packet
 *   query runs only when a packet may be due;
 * - the packet rows this process reserved while they are still pending (`packets`): set by the
 *   reserve step right after its INSERT, forgotten (before the statement) by any step that changes
 *   the row (commit, release, lapse), by `forgetPayment` (its release of the payment's pending rows)
 *   and by `clear`. A remembered row answers a packet read only before its lapse time (which comes
 *   before its forget time, when the sweep may delete it): from then on the row may be lapsed or
 *   gone, so the read goes to SQLite. This takes the commit's `SELECT` off a capped packet;
 * - `nextForgetMs`: when a write batch next sweeps forgotten packet rows (`ReceiptTotalsSqlite.ts`):
 *   set from the table after a sweep that deleted all that was due (when `batchSweepMin` more rows
 *   are forgotten), lowered by every row a step writes (`noteForget`), unknown (-Infinity: sweep)
 *   at first and after `clear`. Only when rows are deleted; no read depends on it (a forgotten row
 *   is absent to every read whether deleted or not).
 *
 * Bounded: at most `entriesMax` keys per map; beyond it the oldest-inserted key is forgotten (it is
 * read from SQLite again when needed).
 */

export interface PendingEntry {
  readonly total: bigint
  readonly count: number
  /**
   * No pending packet of this payment lapses before this time (ms). `-Infinity`: unknown (read
   * from SQLite, or after lapsing a full batch); `Infinity`: nothing pending.
   */
  readonly nextLapseMs: number
}

export interface ConnectionEntry {
  readonly total: bigint
  readonly expiresAtMs: number
}

/** A pending packet row as this process inserted it (`receipt_packets`, state pending). */
export interface PendingPacketEntry {
  readonly amount: bigint
  readonly paymentKey: string | undefined
  /** The row's `lapse_at_ms`: the entry answers reads only before it. */
  readonly lapseAtMs: number
}

/** Keys remembered per map. */
export const cacheEntriesMax = 10_000

const boundedSet = <V>(map: Map<string, V>, key: string, value: V, max: number): void => {
  if (map.size >= max && !map.has(key)) {
    const oldest = map.keys().next()
    if (!oldest.done) map.delete(oldest.value)
  }
  map.set(key, value)
}

export class ReceiptCache {
  readonly connections = new Map<string, ConnectionEntry>()
  readonly payments = new Map<string, bigint>()
  readonly pending = new Map<string, PendingEntry>()
  readonly packets = new Map<string, PendingPacketEntry>()
  nextForgetMs = -Infinity
  readonly entriesMax: number

  constructor(entriesMax: number = cacheEntriesMax) {
    this.entriesMax = entriesMax
  }

  setConnection(key: string, entry: ConnectionEntry): void {
    boundedSet(this.connections, key, entry, this.entriesMax)
  }

  setPayment(key: string, total: bigint): void {
    boundedSet(this.payments, key, total, this.entriesMax)
  }

  setPending(key: string, entry: PendingEntry): void {
    boundedSet(this.pending, key, entry, this.entriesMax)
  }

  /** A step wrote a packet row forgotten at `forgetAtMs`. */
  noteForget(forgetAtMs: number): void {
    if (forgetAtMs < this.nextForgetMs) this.nextForgetMs = forgetAtMs
  }

  setPendingPacket(packetId: string, entry: PendingPacketEntry): void {
    boundedSet(this.packets, packetId, entry, this.entriesMax)
  }

  /**
   * The payment's rows were deleted or changed outside the steps: forget what is known of it
   * (every remembered packet row too: its pending rows were released; rare, so not by payment).
   */
  forgetPayment(key: string): void {
    this.payments.delete(key)
    this.pending.delete(key)
    this.packets.clear()
  }

  /** A transaction rolled back: nothing remembered may be trusted. */
  clear(): void {
    this.connections.clear()
    this.payments.clear()
    this.pending.clear()
    this.packets.clear()
    this.nextForgetMs = -Infinity
  }
}
