/**
 * The settings store contract. Every `SettingsStore` layer runs this one suite
 * (`SettingsSqlite.test.ts`, `SettingsPostgres.test.ts`): `open` gives a fresh, empty store.
 */
import { Effect, Redacted } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { hashToken, type PeerConfig } from "../../src/Config.ts"
import { samePeer, type SettingsStoreShape } from "../../src/Settings/SettingsStore.ts"

export interface OpenedStore {
  readonly store: SettingsStoreShape
  readonly close: () => Promise<void>
}

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }

export const peer = (id: string, overrides: Partial<PeerConfig> = {}): PeerConfig => ({
  id,
  asset: usd,
  incomingTokenHashes: [hashToken(`${id}-incoming-token-00000001`)],
  outgoing: { url: `http://127.0.0.1:9/${id}`, token: Redacted.make(`${id}-outgoing-token-000001`) },
  staticIlpAddress: `test.${id}`,
  routes: [`test.${id}-friends`],
  routeWeight: 3,
  maxPacketAmount: 18446744073709551615n,
  rateLimit: { packetsPerSecond: 0.5, burst: 2 },
  throughputLimit: { amount: 1000n, periodMs: 60_000 },
  creditLimit: 12n,
  ...overrides
})

export const settingsStoreContract = (name: string, open: () => Promise<OpenedStore>) =>
  describe(`SettingsStore contract: ${name}`, () => {
    let opened: OpenedStore | undefined
    const fresh = async () => {
      opened = await open()
      return opened.store
    }
    const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
    afterEach(async () => {
      await opened?.close()
      opened = undefined
    })

    it("starts empty", async () => {
      const store = await fresh()
      const loaded = await run(store.load)
      expect(loaded).toMatchObject({ peers: [], assets: [], rates: [] })
      expect(loaded.retiredPeers.size).toBe(0)
    })

    it("round-trips a peer exactly (u64 amounts, fractional rates, tokens) and replaces it by id", async () => {
      const store = await fresh()
      const bob = peer("bob")
      await run(store.putPeer(bob))
      const [loaded] = (await run(store.load)).peers
      expect(samePeer(loaded!, bob)).toBe(true)
      expect(Redacted.value(loaded!.outgoing!.token)).toBe("bob-outgoing-token-000001")
      const minimal = peer("bob", { outgoing: undefined, maxPacketAmount: undefined, rateLimit: undefined, throughputLimit: undefined, routes: [] })
      await run(store.putPeer(minimal))
      const peers = (await run(store.load)).peers
      expect(peers.length).toBe(1)
      expect(samePeer(peers[0]!, minimal)).toBe(true)
    })

    it("deletes a peer into a tombstone that remembers its asset; putting it again revives it", async () => {
      const store = await fresh()
      await run(store.putPeer(peer("bob", { asset: eur })))
      expect(await run(store.deletePeer("bob"))).toBe(true)
      expect(await run(store.deletePeer("bob"))).toBe(false)
      expect(await run(store.deletePeer("nobody"))).toBe(false)
      const loaded = await run(store.load)
      expect(loaded.peers).toEqual([])
      expect(loaded.retiredPeers.get("bob")).toEqual(eur)
      await run(store.putPeer(peer("bob", { asset: eur })))
      const revived = await run(store.load)
      expect(revived.peers.map((p) => p.id)).toEqual(["bob"])
      expect(revived.retiredPeers.has("bob")).toBe(false)
    })

    it("refuses a peer whose incoming token another live peer holds (a deleted peer's tokens are free again)", async () => {
      const store = await fresh()
      await run(store.putPeer(peer("bob")))
      const thief = peer("thief", { incomingTokenHashes: [hashToken("thief-token-000000000001"), ...peer("bob").incomingTokenHashes] })
      const refused = await Effect.runPromise(Effect.flip(store.putPeer(thief)))
      expect(refused._tag).toBe("SettingsTokenTaken")
      expect(refused.message).toContain('"bob"')
      expect((await run(store.load)).peers.map((p) => p.id)).toEqual(["bob"])
      // Replacing bob with his own tokens is fine; once bob is deleted, the token may move.
      await run(store.putPeer(peer("bob", { creditLimit: 1n })))
      await run(store.deletePeer("bob"))
      await run(store.putPeer(thief))
      expect((await run(store.load)).peers.map((p) => p.id)).toEqual(["thief"])
    })

    it("keeps assets as a set and rates per pair with an optional spread", async () => {
      const store = await fresh()
      await run(store.putAsset(usd))
      await run(store.putAsset(usd))
      await run(store.putAsset(eur))
      expect((await run(store.load)).assets).toEqual([eur, usd])
      expect(await run(store.deleteAsset(eur))).toBe(true)
      expect(await run(store.deleteAsset(eur))).toBe(false)

      await run(store.putRate({ base: "USD", quote: "EUR", rate: "0.9" }))
      await run(store.putRate({ base: "USD", quote: "EUR", rate: "0.91", spread: "0.005" }))
      await run(store.putRate({ base: "EUR", quote: "USD", rate: "1.1" }))
      expect((await run(store.load)).rates).toEqual([
        { base: "EUR", quote: "USD", rate: "1.1" },
        { base: "USD", quote: "EUR", rate: "0.91", spread: "0.005" }
      ])
      expect(await run(store.deleteRate("USD", "EUR"))).toBe(true)
      expect(await run(store.deleteRate("USD", "EUR"))).toBe(false)
    })

    it("changes its version on every write and not on reads", async () => {
      const store = await fresh()
      const versions = [await run(store.version)]
      const writes = [
        store.putPeer(peer("a")),
        store.putAsset(usd),
        store.putRate({ base: "USD", quote: "EUR", rate: "1" }),
        store.deletePeer("a"),
        store.deleteAsset(usd),
        store.deleteRate("USD", "EUR")
      ]
      for (const write of writes) {
        await run(write)
        await run(store.load)
        versions.push(await run(store.version))
      }
      expect(new Set(versions).size).toBe(versions.length)
      expect((await run(store.load)).version).toBe(versions.at(-1))
    })

    it("seeds each config key once: edits and deletions survive a later seed; new keys are seeded", async () => {
      const store = await fresh()
      const data = { peers: [peer("a"), peer("b")], assets: [usd], rates: [{ base: "USD", quote: "EUR", rate: "0.9" }] }
      expect([...(await run(store.seed(data)))].sort()).toEqual(["asset:USD:2", "peer:a", "peer:b", "rate:USD:EUR"])
      await run(store.putPeer(peer("a", { creditLimit: 99n })))
      await run(store.deletePeer("b"))
      await run(store.deleteAsset(usd))
      await run(store.putRate({ base: "USD", quote: "EUR", rate: "0.8" }))
      // An API-made peer that a later config file also names keeps its stored values.
      await run(store.putPeer(peer("c", { creditLimit: 7n })))

      const again = await run(store.seed({ ...data, peers: [...data.peers, peer("c"), peer("d")], assets: [usd, eur] }))
      expect([...again].sort()).toEqual(["asset:EUR:2", "peer:c", "peer:d"])
      const loaded = await run(store.load)
      expect(loaded.peers.map((p) => [p.id, p.creditLimit])).toEqual([["a", 99n], ["c", 7n], ["d", 12n]])
      expect(loaded.assets).toEqual([eur])
      expect(loaded.rates).toEqual([{ base: "USD", quote: "EUR", rate: "0.8" }])
      expect(await run(store.seed(data))).toEqual([])
    })
  })
