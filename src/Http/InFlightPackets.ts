/**
 * The packets a listener is processing, for the drain on shutdown: a slot per packet in an array
 * that only grows (to the most packets ever in flight at once, which the listener's connection cap
 * bounds), and a stack of free slots. Not a `Set`, on purpose.
 *
 * A `Set` with an add and a delete per packet rehashes its table every few dozen packets, and V8
 * allocates a long-lived Set's new table in the old generation. The table it replaces still points
 * at every fiber that was in flight at that moment; that table is dead, but only a mark-compact
 * can see so: until then the scavenges take its slots as roots, so each of those fibers, with its
 * exit (the reply, the Fulfill and its data, the peer's answer buffer), survived two scavenges and
 * was promoted, whatever its own life. That was most of what the forwarding node's scavenges
 * promoted (docs/performance/hot-path.md, "What the scavenges promote"). Here a finished packet's
 * slot is overwritten with `undefined` in place, so nothing dead keeps it.
 */
export class InFlightPackets<A> {
  private readonly slots: Array<A | undefined> = []
  private readonly free: Array<number> = []
  private count = 0

  /** How many are in flight. */
  get size(): number {
    return this.count
  }

  /** Slots held: the most items ever in flight at once (the array never shrinks). */
  get capacity(): number {
    return this.slots.length
  }

  /** Records `item`; the answer is its slot, for `delete`. */
  add(item: A): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.slots.length
    this.slots[slot] = item
    this.count++
    return slot
  }

  /** Forgets the item in `slot` (once). */
  delete(slot: number): void {
    if (this.slots[slot] === undefined) return
    this.slots[slot] = undefined
    this.free.push(slot)
    this.count--
  }

  /** The items in flight now. */
  values(): Array<A> {
    const items: Array<A> = []
    for (const item of this.slots) if (item !== undefined) items.push(item)
    return items
  }
}
