/**
 * NodeSettings over the embedded store and ledger: changes made by ANOTHER instance (a second
 * store on the same file) reach this one through the store's `changes` hook and through the
 * periodic reload, which is what a shared PostgreSQL store drives; credit limits are checked
 * against the ledger before anything is stored.
 */
import { Context, Effect, Exit, Layer, Logger, Queue, Redacted, Scope, Stream } from "effect"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { ids, ledgerOf } from "../../src/Accounting/Accounts.ts"
import { Ledger, newTransferId, TransferCode } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import * as Config from "../../src/Config.ts"
import { Peers } from "../../src/Connector/Peers.ts"
import * as PeersModule from "../../src/Connector/Peers.ts"
import * as Rates from "../../src/Rates/Rates.ts"
import { NodeSettings } from "../../src/Settings/NodeSettings.ts"
import * as NodeSettingsModule from "../../src/Settings/NodeSettings.ts"
import * as SettingsSqlite from "../../src/Settings/SettingsSqlite.ts"
import { SettingsStore, type SettingsStoreShape, SettingsUnavailable } from "../../src/Settings/SettingsStore.ts"
import { peer } from "./SettingsStoreContract.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const usd = { code: "USD", scale: 2 }

const dirs: Array<string> = []
const scopes: Array<Scope.Closeable> = []
afterEach(async () => {
  for (const scope of scopes.splice(0)) await Effect.runPromise(Scope.close(scope, Exit.void))
  for (const dir of dirs.splice(0)) removeTempDir(dir)
})

const tempFile = () => {
  const dir = makeTempDir("node-settings-")
  dirs.push(dir)
  return join(dir, "settings.sqlite")
}

/** Builds NodeSettings over `store` with an in-memory ledger; answers its services. */
const build = async (store: SettingsStoreShape, file: Record<string, unknown> = {}, logs: Array<string> = []) => {
  const config = await Effect.runPromise(Config.decodeConfig({ dataDir: ":memory:", ilpAddress: "test.node", ...file }, {}))
  const base = Layer.mergeAll(
    Layer.succeed(SettingsStore, store),
    PeersModule.layer,
    LedgerSqlite.layer({ filename: ":memory:" }),
    Rates.layerTable(undefined)
  ).pipe(Layer.provideMerge(Config.layer(config)))
  const scope = Scope.makeUnsafe()
  scopes.push(scope)
  const collect = Logger.layer([Logger.make((options) => void logs.push(String(options.message)))])
  const settingsLayer = NodeSettingsModule.layer.pipe(Layer.provideMerge(base), Layer.provide(collect))
  const context = await Effect.runPromise(Scope.provide(scope)(Layer.build(settingsLayer)))
  return {
    settings: Context.get(context, NodeSettings),
    peers: Context.get(context, Peers),
    rates: Context.get(context, Rates.Rates),
    run: <A, E>(effect: Effect.Effect<A, E, any>) => Effect.runPromise(Effect.provideContext(effect, context) as Effect.Effect<A, E>)
  }
}

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe("NodeSettings", () => {
  it("reloads when the store's changes hook fires (another instance wrote)", async () => {
    const filename = tempFile()
    const mine = SettingsSqlite.make(filename)
    const other = SettingsSqlite.make(filename)
    const notifications = await Effect.runPromise(Queue.unbounded<void>())
    const node = await build({ ...mine.store, changes: Stream.fromQueue(notifications) })
    try {
      await Effect.runPromise(other.store.putPeer(peer("remote")))
      await Effect.runPromise(other.store.putRate({ base: "USD", quote: "EUR", rate: "0.5" }))
      // Nothing tells this instance yet: it still runs the old settings.
      expect(node.peers.byId("remote")).toBeUndefined()
      await Effect.runPromise(Queue.offer(notifications, undefined))
      await waitFor(() => node.peers.byId("remote") !== undefined, "the peer written by the other instance")
      expect(node.peers.byToken("remote-incoming-token-00000001")?.config.id).toBe("remote")
      expect(node.peers.routes().lookup("test.remote-friends.x", undefined)?.peerId).toBe("remote")
      expect(await Effect.runPromise(node.rates.rate("USD", "EUR"))).toEqual({ num: 1n, den: 2n })
      // Its ledger accounts were made on this instance too: the credit limit is granted.
      const [line] = await node.run(Ledger.use((ledger) => ledger.balances([ids.creditLine("remote")])))
      expect(line?.debitsPosted).toBe(12n)

      await Effect.runPromise(other.store.deletePeer("remote"))
      await Effect.runPromise(Queue.offer(notifications, undefined))
      await waitFor(() => node.peers.byId("remote") === undefined, "the deletion")
      expect(node.peers.byToken("remote-incoming-token-00000001")).toBeUndefined()
    } finally {
      mine.close()
      other.close()
    }
  })

  it("reloads every reloadIntervalMs as a backstop when no notification comes", async () => {
    const filename = tempFile()
    const mine = SettingsSqlite.make(filename)
    const other = SettingsSqlite.make(filename)
    const node = await build({ ...mine.store, reloadIntervalMs: 50 })
    try {
      await Effect.runPromise(other.store.putPeer(peer("quiet")))
      await waitFor(() => node.peers.byId("quiet") !== undefined, "the periodic reload")
    } finally {
      mine.close()
      other.close()
    }
  })

  it("with a shared store, a write first catches up: a peer another instance just created is not overwritten", async () => {
    const filename = tempFile()
    const mine = SettingsSqlite.make(filename)
    const other = SettingsSqlite.make(filename)
    // Shared (a reload period is set) but neither a notification nor the period comes in time.
    const node = await build({ ...mine.store, reloadIntervalMs: 3_600_000 })
    try {
      await Effect.runPromise(other.store.putPeer(peer("taken", { creditLimit: 5n })))
      expect(node.peers.byId("taken")).toBeUndefined()
      const exit = await Effect.runPromiseExit(node.settings.createPeer(peer("taken", { creditLimit: 9n })))
      expect(JSON.stringify(exit)).toContain("SettingsConflict")
      expect((await Effect.runPromise(other.store.load)).peers.map((p) => [p.id, p.creditLimit])).toEqual([["taken", 5n]])
      expect(node.peers.byId("taken")).toBeDefined()
    } finally {
      mine.close()
      other.close()
    }
  })

  it("refuses a credit limit below what the peer owes, and nothing is stored", async () => {
    const made = SettingsSqlite.make(":memory:")
    const node = await build(made.store, { assets: [usd] })
    try {
      await node.run(node.settings.createPeer(peer("debtor", { creditLimit: 1000n })))
      // The peer spends 600 on credit (as a fulfilled packet would).
      await node.run(Ledger.use((ledger) =>
        ledger.transfer([{
          id: newTransferId(),
          debitAccountId: ids.peerLiquidity("debtor"),
          creditAccountId: ids.assetLiquidity(usd),
          amount: 600n,
          ledger: ledgerOf(usd),
          code: TransferCode.packet
        }])
      ))
      const refused = await node.run(Effect.flip(node.settings.updatePeer("debtor", (p) => ({ ...p, creditLimit: 500n }))))
      expect(refused._tag).toBe("SettingsConflict")
      expect((await Effect.runPromise(made.store.load)).peers[0]?.creditLimit).toBe(1000n)
      const lowered = await node.run(node.settings.updatePeer("debtor", (p) => ({ ...p, creditLimit: 600n })))
      expect(lowered.creditLimit).toBe(600n)

      const renamed = await node.run(Effect.flip(node.settings.updatePeer("debtor", (p) => ({ ...p, asset: { code: "EUR", scale: 2 } }))))
      expect(renamed._tag).toBe("SettingsInvalid")
      const ownAddress = await node.run(Effect.flip(node.settings.createPeer(peer("me", { staticIlpAddress: "test.node" }))))
      expect(ownAddress._tag).toBe("SettingsConflict")
      const same = peer("twin", { incomingTokenHashes: peer("debtor").incomingTokenHashes })
      expect((await node.run(Effect.flip(node.settings.createPeer(same))))._tag).toBe("SettingsConflict")
      expect(Redacted.value(node.peers.byId("debtor")!.config.outgoing!.token)).toBe("debtor-outgoing-token-000001")
    } finally {
      made.close()
    }
  })

  it("a store that refuses the write leaves the ledger's credit line as the stored peer says", async () => {
    const made = SettingsSqlite.make(":memory:")
    let refuse = false
    const flaky: SettingsStoreShape = {
      ...made.store,
      putPeer: (p) => refuse ? Effect.fail(new SettingsUnavailable({ message: "down" })) : made.store.putPeer(p)
    }
    const node = await build(flaky, { assets: [usd] })
    const granted = async () => {
      const [line] = await node.run(Ledger.use((ledger) => ledger.balances([ids.creditLine("p")])))
      return line!.debitsPosted - line!.creditsPosted
    }
    try {
      await node.run(node.settings.createPeer(peer("p", { creditLimit: 100n })))
      expect(await granted()).toBe(100n)
      refuse = true
      const failed = await node.run(Effect.flip(node.settings.updatePeer("p", (current) => ({ ...current, creditLimit: 900n }))))
      expect(failed._tag).toBe("SettingsUnavailable")
      expect(await granted()).toBe(100n)
      expect(node.peers.byId("p")?.config.creditLimit).toBe(100n)
    } finally {
      made.close()
    }
  })

  it("seeds from the config file once; stored values win on the next start", async () => {
    const filename = tempFile()
    const configPeer = {
      id: "cfg",
      asset: usd,
      incomingTokens: ["cfg-incoming-token-000000001"],
      staticIlpAddress: "test.cfg",
      maxPacketAmount: "100"
    }
    const first = SettingsSqlite.make(filename)
    const node = await build(first.store, { peers: [configPeer] })
    await node.run(node.settings.updatePeer("cfg", (p) => ({ ...p, maxPacketAmount: 50n })))
    first.close()

    const second = SettingsSqlite.make(filename)
    try {
      const logs: Array<string> = []
      const restarted = await build(second.store, { peers: [{ ...configPeer, maxPacketAmount: "200" }] }, logs)
      expect(restarted.peers.byId("cfg")?.config.maxPacketAmount).toBe(50n)
      expect(logs).toContain("settings: peer cfg: the config file differs from the stored settings; the stored values are used")
      await restarted.run(restarted.settings.deletePeer("cfg"))
    } finally {
      second.close()
    }

    // Deleted through the API: the config file does not bring it back, and says so.
    const third = SettingsSqlite.make(filename)
    try {
      const logs: Array<string> = []
      const again = await build(third.store, { peers: [configPeer] }, logs)
      expect(again.peers.byId("cfg")).toBeUndefined()
      expect(logs.some((line) => line.startsWith("settings: peer cfg: in the config file but not in the stored settings"))).toBe(true)
    } finally {
      third.close()
    }
  })
})
