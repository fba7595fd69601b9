/**
 * The payments store contract: every `PaymentsStore` layer runs this one suite
 * (`StoreSqlite.test.ts`, `StorePostgres.test.ts`). Tests use fresh ids, so they share one store.
 * Over 400 lines on purpose: one contract that every store runs whole, so none can skip a part.
 */
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { describe, expect, it } from "vitest"
import type {
  IncomingPaymentRecord,
  PaymentsStoreShape,
  QuoteRecord,
  WalletAddressRecord
} from "../../src/Payments/Store.ts"

const run = <A>(effect: Effect.Effect<A>): Promise<A> => Effect.runPromise(effect)

const u64Max = 2n ** 64n - 1n
const u128Max = 2n ** 128n - 1n
/** Past 2^53: a float would lose it. */
const bigTime = 1_796_000_000_123

export const walletRecord = (overrides: Partial<WalletAddressRecord> = {}): WalletAddressRecord => {
  const id = randomUUID()
  return {
    id,
    url: `https://wallet.example/${id}`,
    path: `/${id}`,
    assetCode: "USD",
    assetScale: 2,
    publicName: null,
    active: true,
    createdAt: bigTime,
    ...overrides
  }
}

export const quoteRecord = (walletAddressId: string, overrides: Partial<QuoteRecord> = {}): QuoteRecord => ({
  id: randomUUID(),
  walletAddressId,
  receiverKind: "stream",
  receiver: "test.bob.abc",
  sharedSecret: Buffer.alloc(32, 7).toString("base64"),
  paymentType: "FixedDelivery",
  debitAmount: u64Max,
  debitAssetCode: "USD",
  debitAssetScale: 2,
  receiveAmount: u64Max - 1n,
  receiveAssetCode: "EUR",
  receiveAssetScale: 9,
  maxPacketAmount: u128Max,
  minExchangeRate: "99/100",
  lowEstimatedExchangeRate: "1/1",
  highEstimatedExchangeRate: "340282366920938463463374607431768211455/3",
  expiresAt: bigTime + 300_000,
  createdAt: bigTime,
  ...overrides
})

export const paymentsStoreContract = (name: string, store: () => PaymentsStoreShape) =>
  describe(`PaymentsStore contract: ${name}`, () => {
    const newWallet = async (overrides: Partial<WalletAddressRecord> = {}) => {
      const record = walletRecord(overrides)
      expect(await run(store().walletAddresses.insert(record))).toBe("inserted")
      return record
    }
    const newPayment = async () => {
      const wallet = await newWallet()
      const quote = quoteRecord(wallet.id)
      await run(store().quotes.insert(quote))
      const id = randomUUID()
      expect(await run(store().outgoingPayments.insert({ id, quoteId: quote.id, walletAddressId: wallet.id, createdAt: bigTime })))
        .toBe("inserted")
      return { id, quote, wallet }
    }

    it("wallet addresses: round trip, lookup by path, unique URL and path, active flag", async () => {
      const wallet = await newWallet({ publicName: "Alice" })
      expect(await run(store().walletAddresses.byId(wallet.id))).toEqual(wallet)
      expect(await run(store().walletAddresses.byPath(wallet.path))).toEqual(wallet)
      expect(await run(store().walletAddresses.byId(randomUUID()))).toBeUndefined()
      expect(await run(store().walletAddresses.byPath("/nobody"))).toBeUndefined()
      expect(await run(store().walletAddresses.insert({ ...walletRecord(), url: wallet.url }))).toBe("conflict")
      expect(await run(store().walletAddresses.insert({ ...walletRecord(), path: wallet.path }))).toBe("conflict")
      expect(await run(store().walletAddresses.setActive(wallet.id, false))).toBe(true)
      expect((await run(store().walletAddresses.byId(wallet.id)))?.active).toBe(false)
      expect(await run(store().walletAddresses.setActive(randomUUID(), false))).toBe(false)
    })

    it("wallet addresses: keyset pages in id order, bounded by the limit", async () => {
      const ids = (await Promise.all([1, 2, 3].map(() => newWallet()))).map((wallet) => wallet.id).sort()
      const before = ids[0]!.slice(0, -1) + String.fromCharCode(ids[0]!.charCodeAt(ids[0]!.length - 1) - 1)
      const page = await run(store().walletAddresses.page({ after: before, limit: 2 }))
      expect(page.length).toBe(2)
      expect(page[0]!.id <= page[1]!.id).toBe(true)
      const afterLast = await run(store().walletAddresses.page({ after: ids[2]!, limit: 500 }))
      expect(afterLast.every((wallet) => wallet.id > ids[2]!)).toBe(true)
    })

    it("incoming payments: exact amounts, metadata, conditional state transitions", async () => {
      const wallet = await newWallet()
      const record: IncomingPaymentRecord = {
        id: randomUUID(),
        walletAddressId: wallet.id,
        incomingAmount: u64Max,
        expiresAt: bigTime + 1,
        metadata: JSON.stringify({ note: "ünïcode", n: 1 }),
        state: "pending",
        createdAt: bigTime,
        completedAt: null
      }
      await run(store().incomingPayments.insert(record))
      expect(await run(store().incomingPayments.byId(record.id))).toEqual(record)
      const uncapped = { ...record, id: randomUUID(), incomingAmount: null, expiresAt: null, metadata: null }
      await run(store().incomingPayments.insert(uncapped))
      expect(await run(store().incomingPayments.byId(uncapped.id))).toEqual(uncapped)

      const transition = (from: ReadonlyArray<IncomingPaymentRecord["state"]>, to: IncomingPaymentRecord["state"]) =>
        run(store().incomingPayments.transition(record.id, { from, to, completedAt: to === "completed" ? bigTime + 5 : null }))
      expect(await transition(["pending"], "processing")).toBe(true)
      expect(await transition(["pending"], "processing")).toBe(false)
      expect(await transition(["pending", "processing"], "completed")).toBe(true)
      expect(await transition(["pending", "processing"], "expired")).toBe(false)
      expect(await run(store().incomingPayments.byId(record.id))).toMatchObject({ state: "completed", completedAt: bigTime + 5 })

      const page = await run(store().incomingPayments.page(wallet.id, { after: "", limit: 500 }))
      expect(page.map((payment) => payment.id).sort()).toEqual([record.id, uncapped.id].sort())
      expect(await run(store().incomingPayments.page(randomUUID(), { after: "", limit: 500 }))).toEqual([])
    })

    it("quotes: u64 and u128 amounts and rates round trip exactly", async () => {
      const wallet = await newWallet()
      const quote = quoteRecord(wallet.id)
      await run(store().quotes.insert(quote))
      expect(await run(store().quotes.byId(quote.id))).toEqual(quote)
      const spsp = quoteRecord(wallet.id, { receiverKind: "spsp", receiver: "https://x.example/p", sharedSecret: null })
      await run(store().quotes.insert(spsp))
      expect(await run(store().quotes.byId(spsp.id))).toEqual(spsp)
      expect(await run(store().quotes.byId(randomUUID()))).toBeUndefined()
    })

    it("outgoing payments: one per quote, patches, attempts, removal only while funding", async () => {
      const { id, quote, wallet } = await newPayment()
      expect(await run(store().outgoingPayments.insert({ id: randomUUID(), quoteId: quote.id, walletAddressId: wallet.id, createdAt: 1 })))
        .toBe("quoteUsed")
      expect(await run(store().outgoingPayments.byId(id))).toMatchObject({
        state: "funding",
        outcome: null,
        sentAmount: 0n,
        deliveredAmount: 0n,
        attempts: 0,
        leaseOwner: null,
        leaseExpiresAt: null
      })
      expect((await run(store().outgoingPayments.byQuote(quote.id)))?.id).toBe(id)
      await run(store().outgoingPayments.update(id, { state: "sending" }, bigTime + 1))
      await run(store().outgoingPayments.update(id, { sentAmount: u64Max, deliveredAmount: u128Max, error: "rates moved" }, bigTime + 2))
      await run(store().outgoingPayments.addAttempt(id, bigTime + 3))
      await run(store().outgoingPayments.addAttempt(id, bigTime + 3))
      expect(await run(store().outgoingPayments.byId(id))).toMatchObject({
        state: "sending",
        sentAmount: u64Max,
        deliveredAmount: u128Max,
        error: "rates moved",
        attempts: 2,
        updatedAt: bigTime + 3
      })
      await run(store().outgoingPayments.update(id, { error: null }, bigTime + 4))
      expect((await run(store().outgoingPayments.byId(id)))?.error).toBeNull()
      await run(store().outgoingPayments.removeFunding(id))
      expect(await run(store().outgoingPayments.byId(id))).toBeDefined()

      const other = await newPayment()
      await run(store().outgoingPayments.removeFunding(other.id))
      expect(await run(store().outgoingPayments.byId(other.id))).toBeUndefined()
      const page = await run(store().outgoingPayments.page(wallet.id, { after: "", limit: 500 }))
      expect(page.map((payment) => payment.id)).toEqual([id])
    })

    it("outgoing payments: the outcome is decided once", async () => {
      const { id } = await newPayment()
      const decide = (outcome: "completed" | "failed", error: string | null, sent: bigint | null) =>
        run(store().outgoingPayments.decide(id, { outcome, error, sentAmount: sent }, bigTime + 9))
      const results = await Promise.all([decide("failed", "cancelled", null), decide("completed", null, 5n)])
      expect(results.filter(Boolean).length).toBe(1)
      const row = await run(store().outgoingPayments.byId(id))
      expect(row?.outcome === "failed" ? row.error : row?.sentAmount).toEqual(row?.outcome === "failed" ? "cancelled" : 5n)
      expect(await decide("completed", null, 7n)).toBe(false)
      // A late attempt's reason does not replace the decided one.
      const before = await run(store().outgoingPayments.byId(id))
      await run(store().outgoingPayments.update(id, { error: "late attempt" }, bigTime + 10))
      expect((await run(store().outgoingPayments.byId(id)))?.error).toBe(before?.error)
    })

    it("outgoing payments: a lease is held by one owner until it lapses, renewed by its owner, released", async () => {
      const { id } = await newPayment()
      const lease = (owner: string, now: number) => run(store().outgoingPayments.lease(id, owner, now, now + 1_000))
      const results = await Promise.all([lease("a", bigTime), lease("b", bigTime), lease("c", bigTime)])
      expect(results.filter(Boolean).length).toBe(1)
      const holder = ["a", "b", "c"][results.indexOf(true)]!
      const other = holder === "a" ? "b" : "a"
      expect(await lease(other, bigTime + 999)).toBe(false)
      expect(await lease(holder, bigTime + 999)).toBe(true) // renewed until bigTime + 1999
      expect(await lease(other, bigTime + 1_500)).toBe(false)
      expect(await lease(other, bigTime + 1_999)).toBe(true) // lapsed: taken over
      expect(await run(store().outgoingPayments.byId(id))).toMatchObject({ leaseOwner: other, leaseExpiresAt: bigTime + 2_999 })
      await run(store().outgoingPayments.release(id, holder)) // not the holder any more: no effect
      expect((await run(store().outgoingPayments.byId(id)))?.leaseOwner).toBe(other)
      await run(store().outgoingPayments.release(id, other))
      expect(await lease(holder, bigTime + 2_000)).toBe(true)
      // Progress is recorded only by the lease holder.
      expect(await run(store().outgoingPayments.recordProgress(id, other, { sentAmount: 5n, deliveredAmount: 4n }, bigTime))).toBe(false)
      expect(await run(store().outgoingPayments.recordProgress(id, holder, { sentAmount: u64Max, deliveredAmount: 4n }, bigTime)))
        .toBe(true)
      expect(await run(store().outgoingPayments.byId(id))).toMatchObject({ sentAmount: u64Max, deliveredAmount: 4n })
      // A finished payment cannot be leased.
      await run(store().outgoingPayments.update(id, { state: "completed" }, bigTime))
      expect(await lease(holder, bigTime + 2_000)).toBe(false)
    })

    it("outgoing payments: unleased lists unfinished payments without a live lease, oldest first, paged", async () => {
      const now = 4_000_000_000_000 + Math.floor(Math.random() * 1_000_000) * 1_000
      const made = [] as Array<string>
      for (let i = 0; i < 3; i++) {
        const wallet = await newWallet()
        const quote = quoteRecord(wallet.id)
        await run(store().quotes.insert(quote))
        const id = randomUUID()
        await run(store().outgoingPayments.insert({ id, quoteId: quote.id, walletAddressId: wallet.id, createdAt: now + i }))
        made.push(id)
      }
      await run(store().outgoingPayments.lease(made[1]!, "x", now, now + 10_000))
      const list = (at: number) =>
        run(store().outgoingPayments.unleased(at, { createdAt: now - 1, id: "" }, 500)).then((rows) =>
          rows.filter((row) => made.includes(row.id)).map((row) => row.id)
        )
      expect(await list(now)).toEqual([made[0], made[2]])
      expect(await list(now + 10_000)).toEqual(made)
      const firstPage = await run(store().outgoingPayments.unleased(now + 10_000, { createdAt: now - 1, id: "" }, 1))
      expect(firstPage.map((row) => row.id)).toEqual([made[0]])
      const next = await run(store().outgoingPayments.unleased(now + 10_000, firstPage[0]!, 500))
      expect(next.map((row) => row.id).filter((id) => made.includes(id))).toEqual([made[1], made[2]])
      await run(store().outgoingPayments.update(made[0]!, { state: "failed" }, now))
      expect(await list(now)).toEqual([made[2]])
    })

    // ----- events outbox ------------------------------------------------------------------------

    const eventsOf = async (resourceId: string) =>
      (await run(store().events.list({ limit: 500, before: 0 }))).filter((event) => event.resourceId === resourceId).reverse()

    it("events: an incoming payment's creation, completion and expiry each write one event with the change", async () => {
      const wallet = await newWallet()
      const record: IncomingPaymentRecord = {
        id: randomUUID(),
        walletAddressId: wallet.id,
        incomingAmount: u64Max,
        expiresAt: bigTime + 1,
        metadata: JSON.stringify({ order: 7 }),
        state: "pending",
        createdAt: bigTime,
        completedAt: null
      }
      await run(store().incomingPayments.insert(record))
      const created = await eventsOf(record.id)
      expect(created.map((event) => event.type)).toEqual(["incoming_payment.created"])
      expect(created[0]).toMatchObject({ state: "pending", attempts: 0, nextAttemptAt: bigTime, createdAt: bigTime })
      expect(JSON.parse(created[0]!.data)).toMatchObject({ id: record.id, incomingAmount: u64Max.toString(), metadata: { order: 7 } })
      // processing writes nothing; a transition that does not take effect writes nothing.
      await run(store().incomingPayments.transition(record.id, { from: ["pending"], to: "processing", completedAt: null }))
      expect(await eventsOf(record.id)).toHaveLength(1)
      await run(store().incomingPayments.transition(record.id, { from: ["pending", "processing"], to: "completed", completedAt: bigTime + 5 }))
      await run(store().incomingPayments.transition(record.id, { from: ["pending", "processing"], to: "completed", completedAt: bigTime + 6 }))
      const after = await eventsOf(record.id)
      expect(after.map((event) => event.type)).toEqual(["incoming_payment.created", "incoming_payment.completed"])
      expect(JSON.parse(after[1]!.data)).toMatchObject({ state: "completed", completedAt: bigTime + 5 })
      expect(new Set(after.map((event) => event.id)).size).toBe(2)

      const expiring = { ...record, id: randomUUID(), expiresAt: bigTime + 10 }
      await run(store().incomingPayments.insert(expiring))
      expect(await run(store().incomingPayments.overdue(bigTime + 9, 500))).not.toContain(expiring.id)
      expect(await run(store().incomingPayments.overdue(bigTime + 10, 500))).toContain(expiring.id)
      expect(await run(store().incomingPayments.transition(expiring.id, { from: ["pending", "processing"], to: "expired", completedAt: null })))
        .toBe(true)
      expect(await run(store().incomingPayments.overdue(bigTime + 10, 500))).not.toContain(expiring.id)
      expect((await eventsOf(expiring.id)).map((event) => event.type)).toEqual(["incoming_payment.created", "incoming_payment.expired"])
    })

    it("events: an outgoing payment writes created when funded (funding → sending), then completed or failed, once each", async () => {
      const { id } = await newPayment()
      expect(await eventsOf(id)).toEqual([])
      await run(store().outgoingPayments.update(id, { state: "sending" }, bigTime + 1))
      await run(store().outgoingPayments.update(id, { state: "sending" }, bigTime + 2))
      await run(store().outgoingPayments.update(id, { sentAmount: 5n }, bigTime + 3))
      await run(store().outgoingPayments.update(id, { state: "completed", sentAmount: u64Max, deliveredAmount: 7n }, bigTime + 4))
      await run(store().outgoingPayments.update(id, { state: "completed" }, bigTime + 5))
      const events = await eventsOf(id)
      expect(events.map((event) => event.type)).toEqual(["outgoing_payment.created", "outgoing_payment.completed"])
      expect(JSON.parse(events[1]!.data)).toMatchObject({ state: "completed", sentAmount: u64Max.toString(), deliveredAmount: "7" })

      const failed = await newPayment()
      await run(store().outgoingPayments.update(failed.id, { state: "failed" }, bigTime))
      expect((await eventsOf(failed.id)).map((event) => event.type)).toEqual(["outgoing_payment.failed"])
      // A payment whose funding is refused (removed in funding) writes nothing.
      const refused = await newPayment()
      await run(store().outgoingPayments.removeFunding(refused.id))
      expect(await eventsOf(refused.id)).toEqual([])
    })

    it("events: claimed by one owner at a time, attempts recorded only by the holder, replay re-queues", async () => {
      const { id } = await newPayment()
      await run(store().outgoingPayments.update(id, { state: "sending" }, bigTime))
      const [event] = await eventsOf(id)
      const eventId = event!.id
      expect(await run(store().events.due(bigTime - 1, 10_000))).not.toContain(eventId)
      expect(await run(store().events.due(bigTime, 10_000))).toContain(eventId)
      const backlog = await run(store().events.backlog())
      expect(backlog).toBeGreaterThanOrEqual(1)

      expect(await run(store().events.claim(eventId, "a", bigTime, bigTime + 100))).toBe(true)
      expect(await run(store().events.claim(eventId, "b", bigTime + 99, bigTime + 200))).toBe(false)
      expect(await run(store().events.due(bigTime + 99, 10_000))).not.toContain(eventId)
      // The lease lapsed: b takes it; a's late result is not recorded.
      expect(await run(store().events.claim(eventId, "b", bigTime + 100, bigTime + 200))).toBe(true)
      expect(await run(store().events.attempted(eventId, "a", { _tag: "delivered", at: bigTime + 101 }))).toBe(false)
      expect(await run(store().events.attempted(eventId, "b", {
        _tag: "retry",
        at: bigTime + 150,
        error: "x".repeat(10_000),
        nextAttemptAt: bigTime + 1_000
      }))).toBe(true)
      const retried = await run(store().events.byId(eventId))
      expect(retried).toMatchObject({ state: "pending", attempts: 1, nextAttemptAt: bigTime + 1_000, lastAttemptAt: bigTime + 150, leaseOwner: null })
      expect(retried!.lastError!.length).toBeLessThanOrEqual(500)
      expect(await run(store().events.due(bigTime + 999, 10_000))).not.toContain(eventId)

      expect(await run(store().events.claim(eventId, "a", bigTime + 1_000, bigTime + 1_100))).toBe(true)
      expect(await run(store().events.attempted(eventId, "a", { _tag: "delivered", at: bigTime + 1_001 }))).toBe(true)
      expect(await run(store().events.byId(eventId))).toMatchObject({ state: "delivered", attempts: 2, deliveredAt: bigTime + 1_001 })
      // Delivered: no longer due, not claimable.
      expect(await run(store().events.claim(eventId, "a", bigTime + 2_000, bigTime + 2_100))).toBe(false)
      expect(await run(store().events.list({ limit: 500, before: 0, state: "delivered" })).then((rows) => rows.map((row) => row.id)))
        .toContain(eventId)

      const replayed = await run(store().events.replay(eventId, bigTime + 3_000))
      expect(replayed).toMatchObject({ id: eventId, state: "pending", attempts: 0, nextAttemptAt: bigTime + 3_000, deliveredAt: null })
      expect(await run(store().events.replay(randomUUID(), bigTime))).toBeUndefined()

      expect(await run(store().events.claim(eventId, "a", bigTime + 3_000, bigTime + 3_100))).toBe(true)
      expect(await run(store().events.attempted(eventId, "a", { _tag: "failed", at: bigTime + 3_001, error: "HTTP 500" }))).toBe(true)
      expect(await run(store().events.byId(eventId))).toMatchObject({ state: "failed", attempts: 1, lastError: "HTTP 500" })
      expect(await run(store().events.due(bigTime + 10_000, 10_000))).not.toContain(eventId)

      // Retention: only delivered events, delivered before the cutoff, are deleted.
      const [kept] = await eventsOf((await newPayment().then(async (p) => {
        await run(store().outgoingPayments.update(p.id, { state: "sending" }, bigTime))
        return p
      })).id)
      expect(await run(store().events.claim(kept!.id, "a", bigTime, bigTime + 100))).toBe(true)
      expect(await run(store().events.attempted(kept!.id, "a", { _tag: "delivered", at: bigTime + 50 }))).toBe(true)
      await run(store().events.prune(bigTime + 50, 1_000_000))
      expect(await run(store().events.byId(kept!.id))).toBeDefined()
      expect(await run(store().events.byId(eventId))).toBeDefined()
      expect(await run(store().events.prune(bigTime + 51, 1_000_000))).toBeGreaterThanOrEqual(1)
      expect(await run(store().events.byId(kept!.id))).toBeUndefined()
      expect(await run(store().events.byId(eventId))).toBeDefined()
    })

    it("events: listing is newest first, keyset-paged by seq", async () => {
      const wallet = await newWallet()
      for (let i = 0; i < 3; i++) {
        await run(store().incomingPayments.insert({
          id: randomUUID(),
          walletAddressId: wallet.id,
          incomingAmount: null,
          expiresAt: null,
          metadata: null,
          state: "pending",
          createdAt: bigTime,
          completedAt: null
        }))
      }
      const first = await run(store().events.list({ limit: 2, before: 0 }))
      expect(first).toHaveLength(2)
      expect(first[0]!.seq).toBeGreaterThan(first[1]!.seq)
      const next = await run(store().events.list({ limit: 2, before: first[1]!.seq }))
      expect(next[0]!.seq).toBeLessThan(first[1]!.seq)
    })

    it("events: liquidity below its threshold writes one event per dip", async () => {
      const low = { kind: "peer" as const, id: `peer-${randomUUID()}`, balance: 5n, threshold: 10n, assetCode: "USD", assetScale: 2 }
      const check = (below: boolean) => run(store().events.liquidityLow(low, below, { id: randomUUID(), at: bigTime }))
      expect(await check(false)).toBe(false)
      expect(await check(true)).toBe(true)
      expect(await check(true)).toBe(false)
      expect(await check(false)).toBe(false)
      expect(await check(true)).toBe(true)
      const events = await eventsOf(low.id)
      expect(events.map((event) => event.type)).toEqual(["liquidity.peer_low", "liquidity.peer_low"])
      expect(JSON.parse(events[0]!.data)).toEqual({ kind: "peer", id: low.id, asset: { code: "USD", scale: 2 }, balance: "5", threshold: "10" })
    })
  })
