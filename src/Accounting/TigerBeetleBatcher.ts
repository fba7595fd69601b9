/**
 * Coalesces the `create_transfers` calls of concurrent packets into few TigerBeetle requests.
 *
 * Every packet makes two ledger calls (reserve, then post or void), each a chain of 1–3 events. Sent
 * one call per request, a busy node pays a native submit, a promise, a timer and a result
 * conversion per call, and the cluster sees many tiny requests. Here calls that arrive while a
 * request is in flight wait in a queue and leave together in the next request (up to
 * `batchEventsMax` events, TigerBeetle's limit); the first call after an idle moment waits only
 * until the end of the current event-loop turn (`setImmediate`), so concurrent calls of that turn
 * share its request.
 *
 * A chain stays a chain: its events are contiguous and `linked` except the last, so chains of
 * different calls in one request succeed or fail independently (TigerBeetle's linked events).
 * Each call gets back the statuses of its own events, in order.
 *
 * Bounds:
 * - at most `requestsInFlightMax` requests unanswered by the client (requests that timed out count
 *   until the client settles them); at most `inFlightRequestsSent` of them are live at once;
 * - at most `eventsQueuedMax` events waiting; a call beyond either bound fails at once;
 * - every call is answered within `requestTimeoutMs` of joining its batch (the timer is per batch,
 *   started when the batch opens): queued, it is dropped unsent; sent, its outcome is unknown and
 *   the caller may retry with the same ids.
 */
import { type CreateTransferResult, type CreateTransferStatus, RequestError, type Transfer } from "tigerbeetle-node"

/**
 * TigerBeetle's default batch limit (events per request). A cluster may allow fewer (one started
 * with `--development` takes about 250 transfers): the client refuses a request that is too large
 * before sending it (`ERR_TOO_MUCH_DATA`), and the batcher then halves its limit and re-sends the
 * calls in smaller requests; the limit never grows back for the life of the client.
 */
export const batchEventsMax = 8189

const isTooMuchData = (cause: unknown): boolean => cause instanceof RequestError && cause.code === "ERR_TOO_MUCH_DATA"

export interface BatcherOptions {
  readonly requestTimeoutMs: number
  readonly requestsInFlightMax: number
  readonly eventsQueuedMax: number
  /**
   * Requests sent and not yet answered or timed out (1: the client runs one request at a time); a
   * function when it changes (client sessions opened on demand).
   */
  readonly inFlightRequestsSent?: number | (() => number)
  /** Called when calls wait because `inFlightRequestsSent` requests are live (demand for more). */
  readonly saturated?: () => void
}

/** Why a call got no statuses. `unknown`: the request may still be applied later. */
export class BatchFailure extends Error {
  override readonly name = "BatchFailure"
  readonly kind: "refused" | "timeout" | "rejected" | "defect"
  constructor(message: string, kind: BatchFailure["kind"], cause?: unknown) {
    super(message, { cause })
    this.kind = kind
  }
}

/**
 * Answers a call: `results[offset + i].status` is the status of the call's event `i` (the whole
 * request's results, not a copy per call).
 */
export type Answered = (results: ReadonlyArray<CreateTransferResult>, offset: number) => void

/** The statuses of a call's `count` events from its answer (`Answered`), as an array of their own. */
export const statusesOf = (
  results: ReadonlyArray<CreateTransferResult>,
  offset: number,
  count: number
): Array<CreateTransferStatus> => {
  const statuses = new Array<CreateTransferStatus>(count)
  for (let i = 0; i < count; i++) statuses[i] = results[offset + i]!.status
  return statuses
}

interface Call {
  /** `performance.now()` when the call was made. */
  readonly at: number
  /** Whether every session had a request in flight when the call was made (it waits for one to answer). */
  readonly behind: boolean
  readonly events: ReadonlyArray<Transfer>
  readonly resolve: Answered
  readonly reject: (failure: BatchFailure) => void
}

interface Batch {
  readonly calls: Array<Call>
  events: number
  state: "queued" | "sent" | "done"
  timer: NodeJS.Timeout | undefined
  /** `Date.now()` by which every call of the batch is answered. */
  readonly deadline: number
}

export interface TransferBatcher {
  /** Sends what waits, as far as the bounds allow (e.g. after `inFlightRequestsSent` grew). */
  readonly pump: () => void
  /** The statuses of `events` (one chain or independent events, as the caller encoded them). */
  readonly submit: (events: ReadonlyArray<Transfer>) => Promise<ReadonlyArray<CreateTransferStatus>>
  /**
   * `submit` without a promise and without a statuses array per call: exactly one of `done` /
   * `failed` is called, later (or at once for a call refused by the bounds). The ledger's
   * per-packet path uses this (one promise, one microtask and one array less per call).
   */
  readonly submitWith: (
    events: ReadonlyArray<Transfer>,
    done: Answered,
    failed: (failure: BatchFailure) => void
  ) => void
  /** Requests and events currently held, and totals since the start, for tests and metrics. */
  readonly stats: () => {
    readonly queuedEvents: number
    readonly unanswered: number
    readonly sent: number
    readonly limit: number
    readonly totals: Totals
  }
}

/** Where calls waited, summed since the batcher was made. */
export interface Totals {
  /** Requests answered by the cluster, and the events and calls they carried. */
  readonly requests: number
  readonly events: number
  readonly calls: number
  /** Σ per answered request of its round trip (sent to answered), ms. */
  readonly roundTripMs: number
  /** Σ per call of its wait in the queue (made to sent), ms. */
  readonly queuedMs: number
  /**
   * Of those, the calls made while every session had a request in flight (they wait for one to
   * answer), and their Σ wait; the others waited only for the end of the event-loop turn.
   */
  readonly behindCalls: number
  readonly behindMs: number
  /** The largest request answered (events). */
  readonly eventsMaxPerRequest: number
}

export const makeTransferBatcher = (
  send: (events: Array<Transfer>) => Promise<ReadonlyArray<CreateTransferResult>>,
  options: BatcherOptions
): TransferBatcher => {
  const sent = options.inFlightRequestsSent ?? 1
  const liveMax = typeof sent === "number" ? () => sent : sent
  const queue: Array<Batch> = []
  let queuedEvents = 0
  /** Sent, not yet settled by the client (timed-out ones included). */
  let unanswered = 0
  /** Sent, neither settled nor timed out. */
  let live = 0
  let scheduled = false
  /** Events per request: `batchEventsMax` until the cluster says it takes fewer. */
  let limit = batchEventsMax
  const totals = { requests: 0, events: 0, calls: 0, roundTripMs: 0, queuedMs: 0, behindCalls: 0, behindMs: 0, eventsMaxPerRequest: 0 }

  const finish = (batch: Batch, outcome: (call: Call, offset: number) => void) => {
    if (batch.state === "done") return
    if (batch.state === "queued") {
      queue.splice(queue.indexOf(batch), 1)
      queuedEvents -= batch.events
    } else live--
    batch.state = "done"
    clearTimeout(batch.timer)
    // The next request leaves first: the callers' callbacks (`submitWith`) run their packets on
    // synchronously (forwarding them, milliseconds for a full batch), and the calls queued behind
    // this batch must not wait for that.
    pump()
    let offset = 0
    for (const call of batch.calls) {
      outcome(call, offset)
      offset += call.events.length
    }
  }

  const fail = (batch: Batch, failure: BatchFailure) => finish(batch, (call) => call.reject(failure))

  const dispatch = (batch: Batch) => {
    queue.shift()
    queuedEvents -= batch.events
    batch.state = "sent"
    live++
    unanswered++
    // One array of the request's events, written in place (no array per call as `flatMap` makes).
    const events = new Array<Transfer>(batch.events)
    let at = 0
    for (const call of batch.calls) for (const event of call.events) events[at++] = event
    const sentAt = performance.now()
    const settled = () => {
      unanswered--
    }
    let request: Promise<ReadonlyArray<CreateTransferResult>>
    try {
      request = send(events)
    } catch (cause) {
      request = Promise.reject(cause)
    }
    request.then(
      (results) => {
        settled()
        if (results.length !== events.length) {
          const message = `TigerBeetle answered ${results.length} results for ${events.length} events`
          return fail(batch, new BatchFailure(message, "defect"))
        }
        const now = performance.now()
        totals.requests++
        totals.events += events.length
        totals.calls += batch.calls.length
        totals.roundTripMs += now - sentAt
        if (events.length > totals.eventsMaxPerRequest) totals.eventsMaxPerRequest = events.length
        for (const call of batch.calls) {
          totals.queuedMs += sentAt - call.at
          if (call.behind) {
            totals.behindCalls++
            totals.behindMs += sentAt - call.at
          }
        }
        finish(batch, (call, offset) => call.resolve(results, offset))
      },
      (cause: unknown) => {
        settled()
        if (isTooMuchData(cause) && batch.calls.length > 1) return split(batch)
        fail(batch, new BatchFailure("TigerBeetle create_transfers failed", "rejected", cause))
      }
    )
  }

  const pump = () => {
    while (queue.length > 0 && live < liveMax() && unanswered < options.requestsInFlightMax) dispatch(queue[0]!)
    if (queue.length > 0 && live > 0 && live >= liveMax()) options.saturated?.()
  }

  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(() => {
      scheduled = false
      pump()
    })
  }

  const newBatch = (deadline = Date.now() + options.requestTimeoutMs): Batch => {
    const batch: Batch = { calls: [], events: 0, state: "queued", timer: undefined, deadline }
    batch.timer = setTimeout(() => {
      const message = `TigerBeetle create_transfers timed out after ${options.requestTimeoutMs} ms`
      fail(batch, new BatchFailure(message, "timeout"))
    }, Math.max(0, deadline - Date.now()))
    return batch
  }

  const openBatch = (): Batch => {
    const batch = newBatch()
    queue.push(batch)
    return batch
  }

  /**
   * The client refused `batch` as too large without sending it: lower the limit and queue its
   * calls again, first, in order, in batches of the new size (keeping the original deadline).
   */
  const split = (batch: Batch) => {
    live--
    batch.state = "done"
    clearTimeout(batch.timer)
    limit = Math.max(1, Math.min(limit, Math.floor(batch.events / 2)))
    const batches: Array<Batch> = []
    for (const call of batch.calls) {
      const last = batches.at(-1)
      const target = last !== undefined && last.events + call.events.length <= limit ? last : newBatch(batch.deadline)
      if (target !== last) batches.push(target)
      target.calls.push(call)
      target.events += call.events.length
    }
    queue.unshift(...batches)
    queuedEvents += batch.events
    pump()
  }

  const submitWith = (
    events: ReadonlyArray<Transfer>,
    done: Answered,
    failed: (failure: BatchFailure) => void
  ): void => {
    if (events.length === 0) return done([], 0)
    if (events.length > batchEventsMax) {
      return failed(new BatchFailure(`${events.length} events exceed ${batchEventsMax}`, "defect"))
    }
    if (queuedEvents + events.length > options.eventsQueuedMax) {
      return failed(new BatchFailure(`${queuedEvents} TigerBeetle events already queued`, "refused"))
    }
    if (unanswered >= options.requestsInFlightMax) {
      return failed(new BatchFailure(`${unanswered} TigerBeetle requests in flight`, "refused"))
    }
    const last = queue.at(-1)
    const batch = last !== undefined && last.state === "queued" && last.events + events.length <= limit ?
      last :
      openBatch()
    batch.calls.push({ at: performance.now(), behind: live >= liveMax(), events, resolve: done, reject: failed })
    batch.events += events.length
    queuedEvents += events.length
    schedule()
  }

  const submit = (events: ReadonlyArray<Transfer>): Promise<ReadonlyArray<CreateTransferStatus>> =>
    new Promise((resolve, reject) =>
      submitWith(events, (results, offset) => resolve(statusesOf(results, offset, events.length)), reject)
    )

  return { pump, submit, submitWith, stats: () => ({ queuedEvents, unanswered, sent: live, limit, totals: { ...totals } }) }
}
