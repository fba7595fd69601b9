/**
 * Deadlines for the peer client's requests on ONE Node timer: a binary min-heap of (monotonic
 * time, callback), and a timer armed for the earliest. A `setTimeout` per request cost more than
 * its Timeout object: every packet has its own remaining hold time in ms, and Node keeps one timer
 * list per distinct duration, so each request created a list, inserted it into Node's priority
 * queue and deleted it again (docs/performance/hot-path.md, "Allocation per packet").
 *
 * Same timing as `setTimeout(onExpire, delayMs)`: a callback never runs before `delayMs` have
 * passed on the monotonic clock, and runs on a timer turn once they have. A cancelled entry leaves
 * the heap at once, so the heap holds exactly the requests waiting (bounded by the pools' bounds on
 * requests in flight and queued); the timer is ref'd while anything waits, as a pending
 * `setTimeout` was, and cleared when nothing does.
 */

/** The longest delay Node's `setTimeout` honours (2^31 − 1 ms, ~24.8 days). */
const timerDelayMaxMs = 2_147_483_647

export interface Deadline {
  /** Monotonic ms (`performance.now()`) at which `onExpire` runs. */
  readonly at: number
  readonly onExpire: () => void
  /** Position in the heap; -1 once it fired or was cancelled. */
  index: number
}

export class Deadlines {
  private readonly heap: Array<Deadline> = []
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** When the armed timer is due (monotonic ms); Infinity when none is armed. */
  private armedAt = Number.POSITIVE_INFINITY

  /** How many deadlines are waiting. */
  get size(): number {
    return this.heap.length
  }

  /** Runs `onExpire` once `delayMs` have passed (NaN or negative: at once), unless `cancel` is called first. */
  add(delayMs: number, onExpire: () => void): Deadline {
    const deadline: Deadline = { at: performance.now() + (delayMs > 0 ? delayMs : 0), onExpire, index: this.heap.length }
    this.heap.push(deadline)
    this.up(deadline.index)
    if (deadline.at < this.armedAt) this.arm(deadline.at)
    return deadline
  }

  /** The deadline will not fire (nothing happens if it already did). */
  cancel(deadline: Deadline): void {
    if (deadline.index < 0) return
    this.removeAt(deadline.index)
    if (this.heap.length === 0) this.disarm()
  }

  private readonly fire = (): void => {
    this.timer = undefined
    this.armedAt = Number.POSITIVE_INFINITY
    try {
      const now = performance.now()
      while (this.heap.length > 0 && this.heap[0]!.at <= now) {
        const due = this.heap[0]!
        this.removeAt(0)
        due.onExpire()
      }
    } finally {
      // Armed for the earliest that waits, whatever the callbacks did: one may have added a later
      // deadline (which armed the timer for itself) or thrown (an uncaught exception, as from a
      // timer of its own) before the rest ran.
      if (this.heap.length === 0) this.disarm()
      else if (this.heap[0]!.at < this.armedAt) this.arm(this.heap[0]!.at)
    }
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.armedAt = at
    // Node's timers round to whole ms and may run a fraction early against `performance.now()`:
    // `fire` then finds nothing due and arms again for the rest. Node runs a delay past
    // `timerDelayMaxMs` after 1 ms: a later deadline wakes at that bound and arms again.
    this.timer = setTimeout(this.fire, Math.min(timerDelayMaxMs, Math.max(1, Math.ceil(at - performance.now()))))
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.armedAt = Number.POSITIVE_INFINITY
  }

  private removeAt(index: number): void {
    const heap = this.heap
    const removed = heap[index]!
    removed.index = -1
    const last = heap.pop()!
    if (index === heap.length) return
    heap[index] = last
    last.index = index
    this.down(index)
    this.up(last.index)
  }

  private up(index: number): void {
    const heap = this.heap
    const item = heap[index]!
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = heap[parentIndex]!
      if (parent.at <= item.at) break
      heap[index] = parent
      parent.index = index
      index = parentIndex
    }
    heap[index] = item
    item.index = index
  }

  private down(index: number): void {
    const heap = this.heap
    const item = heap[index]!
    for (;;) {
      const left = 2 * index + 1
      if (left >= heap.length) break
      const right = left + 1
      const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left
      if (heap[child]!.at >= item.at) break
      heap[index] = heap[child]!
      heap[index]!.index = index
      index = child
    }
    heap[index] = item
    item.index = index
  }
}
