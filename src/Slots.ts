/**
 * Items held for a while by a long-lived owner, with an add and a delete per item at a high rate
 * (the listener's packets in flight, `Http/IlpOverHttp.ts`; the embedded ledger's cached pending
 * transfers, `Accounting/LedgerSqliteStore.ts`): a slot per item in an array that only grows (to
 * the most items ever held at once, which the owner bounds) and a stack of free slots. Not a `Set`
 * or a `Map` of the items, on purpose.
 *
 * A long-lived `Set` or `Map` with an add and a delete per item rehashes its table every few dozen
 * items, and V8 allocates a long-lived collection's new table in the old generation. The table it
 * replaces still points at every item it held at that moment; that table is dead, but only a
 * mark-compact can see so: until then the scavenges take its slots as roots, so each of those
 * items (a packet's fiber with its exit: the reply, the Fulfill and its data, the peer's answer
 * buffer; a transfer row with its bigints) survived two scavenges and was promoted, whatever its
 * own life. That was most of what the forwarding node's scavenges promoted
 * (docs/performance/hot-path.md, "What the scavenges promote"). Here a deleted item's slot is
 * overwritten with `undefined` in place, so nothing dead keeps it.
 */
export class Slots<A> {
  private readonly slots: Array<A | undefined> = []
  private readonly free: Array<number> = []
  private count = 0

  /** How many are held. */
  get size(): number {
    return this.count
  }

  /** Slots in the array: the most items ever held at once (it never shrinks but by `clear`). */
  get capacity(): number {
    return this.slots.length
  }

  /** Holds `item` (never `undefined`); the answer is its slot, for `get`, `set` and `delete`. */
  add(item: A): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.slots.length
    this.slots[slot] = item
    this.count++
    return slot
  }

  /** The item in `slot`, or undefined if it was deleted. */
  get(slot: number): A | undefined {
    return this.slots[slot]
  }

  /** Replaces the item in a held `slot`. */
  set(slot: number, item: A): void {
    if (this.slots[slot] !== undefined) this.slots[slot] = item
  }

  /** Forgets the item in `slot` (once). */
  delete(slot: number): void {
    if (this.slots[slot] === undefined) return
    this.slots[slot] = undefined
    this.free.push(slot)
    this.count--
  }

  /** Forgets every item and slot. */
  clear(): void {
    this.slots.length = 0
    this.free.length = 0
    this.count = 0
  }

  /** The items held now. */
  values(): Array<A> {
    const items: Array<A> = []
    for (const item of this.slots) if (item !== undefined) items.push(item)
    return items
  }
}
