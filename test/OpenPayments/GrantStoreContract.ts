/**
 * The grant store contract. Every `GrantStore` layer runs this one suite (`GrantStoreSqlite.test.ts`,
 * `GrantStorePostgres.test.ts`): `open` gives a fresh, empty store.
 */
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { Grant, GrantStoreShape } from "../../src/OpenPayments/GrantStore.ts"

export interface OpenedGrantStore {
  readonly store: GrantStoreShape
  readonly close: () => Promise<void>
}

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

export const grant = (id: string, client = "https://client.test/alice"): Grant => ({
  id,
  client,
  key: { kid: `${id}-key`, x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
  access: [{ type: "incoming-payment", actions: ["create", "read"], identifier: "https://node.test/alice" }],
  createdAt: 1_700_000_000_123
})

const token = (id: string, grantId: string, expiresAt: number) => ({ id, grantId, hash: `hash-of-${id}`, expiresAt })

export const grantStoreContract = (name: string, open: () => Promise<OpenedGrantStore>) =>
  describe(`GrantStore contract: ${name}`, () => {
    let opened: OpenedGrantStore | undefined
    const fresh = async () => {
      opened = await open()
      return opened.store
    }
    afterEach(async () => {
      await opened?.close()
      opened = undefined
    })

    it("stores a grant with its token and finds the token by digest while it is live", async () => {
      const store = await fresh()
      await run(store.create({ grant: grant("g1"), continueTokenHash: "continue-g1", token: token("t1", "g1", 2_000) }))
      const found = await run(store.findToken("hash-of-t1", 1_000))
      expect(found).toEqual({ token: { id: "t1", grantId: "g1", expiresAt: 2_000 }, grant: grant("g1") })
      expect(await run(store.findToken("hash-of-t1", 2_000))).toBeUndefined() // expired at its expiry
      expect(await run(store.findToken("hash-of-nothing", 1_000))).toBeUndefined()
      expect(await run(store.findGrant("g1"))).toEqual({ grant: grant("g1"), continueTokenHash: "continue-g1" })
      expect(await run(store.findGrant("nope"))).toBeUndefined()
    })

    it("revokes a token once", async () => {
      const store = await fresh()
      await run(store.create({ grant: grant("g1"), continueTokenHash: "c", token: token("t1", "g1", 2_000) }))
      expect(await run(store.revokeToken("t1"))).toBe(true)
      expect(await run(store.revokeToken("t1"))).toBe(false)
      expect(await run(store.revokeToken("nope"))).toBe(false)
      expect(await run(store.findToken("hash-of-t1", 1_000))).toBeUndefined()
    })

    it("rotates a live token exactly once (the old one stops working, the new one works)", async () => {
      const store = await fresh()
      await run(store.create({ grant: grant("g1"), continueTokenHash: "c", token: token("t1", "g1", 2_000) }))
      const rotations = await Promise.all([
        run(store.rotateToken("t1", token("t2", "g1", 5_000), 1_000)),
        run(store.rotateToken("t1", token("t3", "g1", 5_000), 1_000))
      ])
      expect(rotations.filter(Boolean).length).toBe(1)
      const winner = rotations[0] ? "t2" : "t3"
      expect(await run(store.findToken("hash-of-t1", 1_000))).toBeUndefined()
      expect((await run(store.findToken(`hash-of-${winner}`, 1_000)))?.token.id).toBe(winner)
      // An expired token cannot be rotated; nor one of another grant.
      expect(await run(store.rotateToken(winner, token("t4", "g1", 9_000), 5_000))).toBe(false)
      await run(store.create({ grant: grant("g2"), continueTokenHash: "c2", token: token("u1", "g2", 9_000) }))
      expect(await run(store.rotateToken("u1", token("u2", "g1", 9_000), 1_000))).toBe(false)
    })

    it("deletes a grant with its tokens", async () => {
      const store = await fresh()
      await run(store.create({ grant: grant("g1"), continueTokenHash: "c", token: token("t1", "g1", 2_000) }))
      expect(await run(store.deleteGrant("g1"))).toBe(true)
      expect(await run(store.deleteGrant("g1"))).toBe(false)
      expect(await run(store.findToken("hash-of-t1", 1_000))).toBeUndefined()
      expect(await run(store.findGrant("g1"))).toBeUndefined()
    })

    it("a store fault (a duplicate token digest) is GrantStoreUnavailable, not 'not found'", async () => {
      const store = await fresh()
      await run(store.create({ grant: grant("g1"), continueTokenHash: "c", token: token("t1", "g1", 2_000) }))
      const duplicate = await Effect.runPromise(Effect.flip(
        store.create({ grant: grant("g2"), continueTokenHash: "c", token: { ...token("t2", "g2", 2_000), hash: "hash-of-t1" } })
      ))
      expect(duplicate._tag).toBe("GrantStoreUnavailable")
      // The failed create left nothing behind.
      expect(await run(store.findGrant("g2"))).toBeUndefined()
    })

    it("records which client created each payment and pages a client's own payments in id order", async () => {
      const store = await fresh()
      for (const [payment, client] of [["p3", "alice"], ["p1", "alice"], ["p2", "bob"], ["p4", "alice"]] as const) {
        await run(store.recordPaymentClient(payment, "w1", client, 1))
      }
      await run(store.recordPaymentClient("p5", "w2", "alice", 1))
      expect(await run(store.paymentClient("p2"))).toBe("bob")
      expect(await run(store.paymentClient("p9"))).toBeUndefined()
      expect(await run(store.clientPayments("w1", "alice", { limit: 2, after: undefined }))).toEqual(["p1", "p3"])
      expect(await run(store.clientPayments("w1", "alice", { limit: 2, after: "p3" }))).toEqual(["p4"])
      expect(await run(store.clientPayments("w1", "carol", { limit: 2, after: undefined }))).toEqual([])
    })

    it("purges expired and revoked tokens and the grants left without tokens", async () => {
      const store = await fresh()
      await run(store.create({ grant: grant("old"), continueTokenHash: "c", token: token("t-old", "old", 1_000) }))
      await run(store.create({ grant: grant("revoked"), continueTokenHash: "c", token: token("t-rev", "revoked", 9_000) }))
      await run(store.create({ grant: grant("live"), continueTokenHash: "c", token: token("t-live", "live", 9_000) }))
      await run(store.revokeToken("t-rev"))
      await run(store.purge(5_000))
      expect(await run(store.findGrant("old"))).toBeUndefined()
      expect(await run(store.findGrant("revoked"))).toBeUndefined()
      expect(await run(store.findGrant("live"))).toBeDefined()
      expect((await run(store.findToken("hash-of-t-live", 5_000)))?.token.id).toBe("t-live")
    })
  })
