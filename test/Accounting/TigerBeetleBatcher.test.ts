import { CreateTransferStatus, ErrorCodes, RequestError, type Transfer } from "tigerbeetle-node"
import { describe, expect, it } from "vitest"
import { BatchFailure, makeTransferBatcher } from "../../src/Accounting/TigerBeetleBatcher.ts"
import { emptyTransfer } from "../support/tigerbeetle.ts"

const event = (id: number): Transfer => ({
  ...emptyTransfer,
  id: BigInt(id),
  debit_account_id: 1n,
  credit_account_id: 2n,
  amount: 1n,
  ledger: 1,
  code: 1
})

/** A fake client: records each request, answers when `answer` is called (status = id % 2 ? created : exists). */
const fakeClient = (maxEvents = Infinity) => {
  const requests: Array<{ events: Array<Transfer>; answer: () => void; refuse: (cause: unknown) => void }> = []
  const send = (events: Array<Transfer>) => {
    if (events.length > maxEvents) return Promise.reject(new RequestError(ErrorCodes.ERR_TOO_MUCH_DATA))
    return new Promise<ReadonlyArray<{ timestamp: bigint; status: CreateTransferStatus }>>((resolve, reject) => {
      requests.push({
        events,
        answer: () =>
          resolve(events.map((e) => ({
            timestamp: 1n,
            status: e.id % 2n === 1n ? CreateTransferStatus.created : CreateTransferStatus.exists
          }))),
        refuse: reject
      })
    })
  }
  return { requests, send }
}

const until = async (condition: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met")
    await new Promise((resolve) => setImmediate(resolve))
  }
}

const options = { requestTimeoutMs: 10_000, requestsInFlightMax: 16, eventsQueuedMax: 1_000 }

describe("TigerBeetleBatcher", () => {
  it("sends calls of one turn in one request and calls that arrive meanwhile in the next, each getting its own statuses", async () => {
    const client = fakeClient()
    const batcher = makeTransferBatcher(client.send, options)
    const first = [batcher.submit([event(1), event(2)]), batcher.submit([event(3)])]
    await until(() => client.requests.length === 1)
    const second = [batcher.submit([event(5)]), batcher.submit([event(6), event(7), event(8)])]
    await new Promise((resolve) => setImmediate(resolve))
    expect(client.requests.length).toBe(1) // one request at a time
    expect(client.requests[0]!.events.map((e) => e.id)).toEqual([1n, 2n, 3n])
    client.requests[0]!.answer()
    expect(await Promise.all(first)).toEqual([
      [CreateTransferStatus.created, CreateTransferStatus.exists],
      [CreateTransferStatus.created]
    ])
    await until(() => client.requests.length === 2)
    expect(client.requests[1]!.events.map((e) => e.id)).toEqual([5n, 6n, 7n, 8n])
    client.requests[1]!.answer()
    expect(await Promise.all(second)).toEqual([
      [CreateTransferStatus.created],
      [CreateTransferStatus.exists, CreateTransferStatus.created, CreateTransferStatus.exists]
    ])
    expect(batcher.stats()).toMatchObject({ queuedEvents: 0, unanswered: 0, sent: 0 })
  })

  it("halves its limit and re-sends when the cluster takes smaller requests, keeping chains whole", async () => {
    const client = fakeClient(4)
    const batcher = makeTransferBatcher(client.send, options)
    const calls = Array.from({ length: 5 }, (_, i) => batcher.submit([event(10 * i + 1), event(10 * i + 2)]))
    const answered = Promise.all(calls)
    for (let n = 1; n <= 3; n++) {
      await until(() => client.requests.length === n)
      client.requests[n - 1]!.answer()
    }
    expect((await answered).every((statuses) => statuses.length === 2)).toBe(true)
    expect(client.requests.map((r) => r.events.length)).toEqual([4, 4, 2])
    expect(batcher.stats().limit).toBe(5)
  })

  it("answers a call within the timeout when the cluster never answers, and refuses calls beyond its bounds", async () => {
    const client = fakeClient()
    const batcher = makeTransferBatcher(client.send, { ...options, requestTimeoutMs: 200, eventsQueuedMax: 3 })
    const started = Date.now()
    const stuck = batcher.submit([event(1)]).catch((error: unknown) => error)
    await until(() => client.requests.length === 1)
    const queued = batcher.submit([event(2), event(3)]).catch((error: unknown) => error)
    const refused = await batcher.submit([event(4), event(5)]).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(BatchFailure)
    expect((refused as BatchFailure).kind).toBe("refused")
    for (const call of [stuck, queued]) expect(((await call) as BatchFailure).kind).toBe("timeout")
    expect(Date.now() - started).toBeLessThan(5_000)
    // The timed-out request no longer blocks the next one.
    const next = batcher.submit([event(7)])
    const carrying = () => client.requests.find((request) => request.events.some((e) => e.id === 7n))
    await until(() => carrying() !== undefined)
    carrying()!.answer()
    expect(await next).toEqual([CreateTransferStatus.created])
    expect(batcher.stats().unanswered).toBeGreaterThanOrEqual(1) // timed-out requests, still held by the client
  })

  it("follows a changing number of sessions: says when calls wait on busy sessions, and sends more once one is added", async () => {
    const client = fakeClient()
    let sessions = 1
    let saturated = 0
    const batcher = makeTransferBatcher(client.send, {
      ...options,
      inFlightRequestsSent: () => sessions,
      saturated: () => saturated++
    })
    const first = batcher.submit([event(1)])
    await until(() => client.requests.length === 1)
    expect(saturated).toBe(0) // nothing waits yet
    const second = batcher.submit([event(3)])
    await until(() => saturated > 0) // one session, busy, and a call waiting
    expect(client.requests.length).toBe(1)
    sessions = 2
    batcher.pump()
    expect(client.requests.length).toBe(2) // the waiting call left on the new session at once
    for (const request of client.requests) request.answer()
    expect(await Promise.all([first, second])).toEqual([[CreateTransferStatus.created], [CreateTransferStatus.created]])
  })

  it("sends the next request before the answered calls' callbacks run", async () => {
    const client = fakeClient()
    const batcher = makeTransferBatcher(client.send, options)
    let requestsWhenAnswered = -1
    batcher.submitWith([event(1)], () => {
      requestsWhenAnswered = client.requests.length
    }, () => {})
    await until(() => client.requests.length === 1)
    const queued = batcher.submit([event(3)]) // waits behind the first request
    await new Promise((resolve) => setImmediate(resolve))
    expect(client.requests.length).toBe(1)
    client.requests[0]!.answer()
    await until(() => requestsWhenAnswered >= 0)
    expect(requestsWhenAnswered).toBe(2) // the queued call had already left when the first call heard back
    client.requests[1]!.answer()
    expect(await queued).toEqual([CreateTransferStatus.created])
  })

  it("fails every call of a request the client rejects", async () => {
    const client = fakeClient()
    const batcher = makeTransferBatcher(client.send, options)
    const calls = [batcher.submit([event(1)]), batcher.submit([event(3)])].map((call) => call.catch((e: unknown) => e))
    await until(() => client.requests.length === 1)
    client.requests[0]!.refuse(new RequestError(ErrorCodes.ERR_CLIENT_CLOSED))
    for (const call of calls) expect(((await call) as BatchFailure).kind).toBe("rejected")
  })
})
