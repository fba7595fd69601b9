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
import type { CreateTransferResult, CreateTransferStatus, Transfer } from "tigerbeetle-node"

/** TigerBeetle's batch limit (events per request). */
export const batchEventsMax = 8189

export interface BatcherOptions {
  readonly requestTimeoutMs: number
  readonly requestsInFlightMax: number
  readonly eventsQueuedMax: number
  /** Requests sent and not yet answered or timed out (1: the client runs one request at a time). */
  readonly inFlightRequestsSent?: number
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

interface Call {
  readonly events: ReadonlyArray<Transfer>
  readonly resolve: (statuses: ReadonlyArray<CreateTransferStatus>) => void
  readonly reject: (failure: BatchFailure) => void
}

interface Batch {
  readonly calls: Array<Call>
  events: number
  state: "queued" | "sent" | "done"
  timer: NodeJS.Timeout | undefined
}

export interface TransferBatcher {
  /** The statuses of `events` (one chain or independent events, as the caller encoded them). */
  readonly submit: (events: ReadonlyArray<Transfer>) => Promise<ReadonlyArray<CreateTransferStatus>>
  /** Requests and events currently held, for tests and metrics. */
  readonly stats: () => { readonly queuedEvents: number; readonly unanswered: number; readonly sent: number }
}

export const makeTransferBatcher = (
  send: (events: Array<Transfer>) => Promise<ReadonlyArray<CreateTransferResult>>,
  options: BatcherOptions
): TransferBatcher => {
  const liveMax = options.inFlightRequestsSent ?? 1
  const queue: Array<Batch> = []
  let queuedEvents = 0
  /** Sent, not yet settled by the client (timed-out ones included). */
  let unanswered = 0
  /** Sent, neither settled nor timed out. */
  let live = 0
  let scheduled = false

  const finish = (batch: Batch, outcome: (call: Call, offset: number) => void) => {
    if (batch.state === "done") return
    if (batch.state === "queued") {
      queue.splice(queue.indexOf(batch), 1)
      queuedEvents -= batch.events
    } else live--
    batch.state = "done"
    clearTimeout(batch.timer)
    let offset = 0
    for (const call of batch.calls) {
      outcome(call, offset)
      offset += call.events.length
    }
    pump()
  }

  const fail = (batch: Batch, failure: BatchFailure) => finish(batch, (call) => call.reject(failure))

  const dispatch = (batch: Batch) => {
    queue.shift()
    queuedEvents -= batch.events
    batch.state = "sent"
    live++
    unanswered++
    const events = batch.calls.length === 1 ? [...batch.calls[0]!.events] : batch.calls.flatMap((call) => call.events)
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
        finish(batch, (call, offset) => {
          const statuses = new Array<CreateTransferStatus>(call.events.length)
          for (let i = 0; i < statuses.length; i++) statuses[i] = results[offset + i]!.status
          call.resolve(statuses)
        })
      },
      (cause: unknown) => {
        settled()
        fail(batch, new BatchFailure("TigerBeetle create_transfers failed", "rejected", cause))
      }
    )
  }

  const pump = () => {
    while (queue.length > 0 && live < liveMax && unanswered < options.requestsInFlightMax) dispatch(queue[0]!)
  }

  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(() => {
      scheduled = false
      pump()
    })
  }

  const openBatch = (): Batch => {
    const batch: Batch = { calls: [], events: 0, state: "queued", timer: undefined }
    batch.timer = setTimeout(() => {
      const message = `TigerBeetle create_transfers timed out after ${options.requestTimeoutMs} ms`
      fail(batch, new BatchFailure(message, "timeout"))
    }, options.requestTimeoutMs)
    queue.push(batch)
    return batch
  }

  const submit = (events: ReadonlyArray<Transfer>): Promise<ReadonlyArray<CreateTransferStatus>> => {
    if (events.length === 0) return Promise.resolve([])
    if (events.length > batchEventsMax) {
      return Promise.reject(new BatchFailure(`${events.length} events exceed ${batchEventsMax}`, "defect"))
    }
    if (queuedEvents + events.length > options.eventsQueuedMax) {
      return Promise.reject(new BatchFailure(`${queuedEvents} TigerBeetle events already queued`, "refused"))
    }
    if (unanswered >= options.requestsInFlightMax) {
      return Promise.reject(new BatchFailure(`${unanswered} TigerBeetle requests in flight`, "refused"))
    }
    return new Promise((resolve, reject) => {
      const last = queue.at(-1)
      const batch = last !== undefined && last.events + events.length <= batchEventsMax ? last : openBatch()
      batch.calls.push({ events, resolve, reject })
      batch.events += events.length
      queuedEvents += events.length
      schedule()
    })
  }

  return { submit, stats: () => ({ queuedEvents, unanswered, sent: live }) }
}
