/**
 * The PostgreSQL settings store against a real server (test/support/postgres.ts, one per file): the
 * shared settings contract, seeding by several instances at once, and `changes` (LISTEN/NOTIFY)
 * carrying one instance's write to another.
 */
import { Context, Effect, Exit, Fiber, Layer, Redacted, Scope, Stream } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as SettingsPostgres from "../../src/Settings/SettingsPostgres.ts"
import { SettingsStore, type SettingsStoreShape } from "../../src/Settings/SettingsStore.ts"
import * as Postgres from "../../src/Store/Postgres.ts"
import { type PostgresServer, startPostgres } from "../support/postgres.ts"
import { waitUntil } from "../support/wait.ts"
import { peer, settingsStoreContract } from "./SettingsStoreContract.ts"

let server: PostgresServer
let databases = 0

/** A store over its own pool (one "instance"), open until `close`. */
const openStore = async (url: string, options: SettingsPostgres.SettingsPostgresOptions = {}) => {
  const scope = await Effect.runPromise(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      SettingsPostgres.layer(options).pipe(Layer.provideMerge(Postgres.layer({ url: Redacted.make(url), connectionsMax: 4 }))),
      scope
    )
  )
  return {
    store: Context.get(context, SettingsStore) as SettingsStoreShape,
    sql: Context.get(context, SqlClient),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

beforeAll(async () => {
  server = await startPostgres()
}, 60_000)

afterAll(async () => {
  await server?.stop()
}, 30_000)

settingsStoreContract("postgres", async () => openStore(await server.createDatabase(`contract_${++databases}`)))

describe("SettingsPostgres across instances", () => {
  it("instances seeding the same config at once: each key seeded exactly once, by one of them", async () => {
    const url = await server.createDatabase("seed_race")
    const instances = await Promise.all(Array.from({ length: 4 }, () => openStore(url)))
    try {
      const data = { peers: [peer("a"), peer("b")], assets: [{ code: "USD", scale: 2 }], rates: [{ base: "USD", quote: "EUR", rate: "0.9" }] }
      const answers = await Promise.all(instances.map((instance) => Effect.runPromise(instance.store.seed(data))))
      expect(answers.flat().sort()).toEqual(["asset:USD:2", "peer:a", "peer:b", "rate:USD:EUR"])
      const loaded = await Effect.runPromise(instances[2]!.store.load)
      expect(loaded.peers.map((p) => p.id)).toEqual(["a", "b"])
      expect(loaded.assets).toEqual([{ code: "USD", scale: 2 }])
      expect(loaded.rates).toEqual([{ base: "USD", quote: "EUR", rate: "0.9" }])
    } finally {
      await Promise.all(instances.map((instance) => instance.close()))
    }
  }, 60_000)

  it("a write on one instance reaches another's `changes` (emits at LISTEN, then on each NOTIFY)", async () => {
    const url = await server.createDatabase("notify")
    const [writer, reader] = await Promise.all([openStore(url), openStore(url)])
    try {
      expect(reader.store.reloadIntervalMs).toBe(SettingsPostgres.defaults.reloadIntervalMs)
      let emitted = 0
      const fiber = Effect.runFork(Stream.runForEach(reader.store.changes, () => Effect.sync(() => void emitted++)))
      await waitUntil(() => emitted >= 1, 20_000, "the emission at LISTEN")
      const before = emitted
      await Effect.runPromise(writer.store.putPeer(peer("x")))
      await waitUntil(() => emitted > before, 20_000, "the notification of the write")
      const afterPut = emitted
      // A rolled-back write would notify nothing; a committed delete does.
      await Effect.runPromise(writer.store.deletePeer("x"))
      await waitUntil(() => emitted > afterPut, 20_000, "the notification of the delete")
      expect((await Effect.runPromise(reader.store.load)).retiredPeers.has("x")).toBe(true)
      await Effect.runPromise(Fiber.interrupt(fiber))
    } finally {
      await Promise.all([writer.close(), reader.close()])
    }
  }, 60_000)

  it("a LISTEN connection killed by the server is re-opened and emits (a change made meanwhile is not missed)", async () => {
    const url = await server.createDatabase("reconnect")
    const [writer, reader] = await Promise.all([openStore(url), openStore(url, { reconnectDelayMs: 100 })])
    try {
      let emitted = 0
      const fiber = Effect.runFork(Stream.runForEach(reader.store.changes, () => Effect.sync(() => void emitted++)))
      await waitUntil(() => emitted >= 1, 20_000, "the emission at LISTEN")
      const listening = () =>
        Effect.runPromise(writer.sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = 'reconnect'`)
      const [first] = await listening()
      expect(first).toBeDefined()
      const before = emitted
      await Effect.runPromise(writer.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = 'reconnect'`)
      await Effect.runPromise(writer.store.putPeer(peer("meanwhile")))
      await waitUntil(() => emitted > before, 20_000, "an emission after the connection was killed")
      // Back on a new connection (another backend pid), the killed one gone.
      await waitUntil(async () => {
        const now = await listening()
        return now.length === 1 && now[0]!.pid !== first!.pid
      }, 20_000, "the LISTEN connection to be back on a new backend")
      const reconnected = emitted
      await Effect.runPromise(writer.store.putPeer(peer("after")))
      await waitUntil(() => emitted > reconnected, 20_000, "a notification on the new connection")
      await Effect.runPromise(Fiber.interrupt(fiber))
    } finally {
      await Promise.all([writer.close(), reader.close()])
    }
  }, 60_000)

  it("two instances storing peers with one token at once: exactly one is stored", async () => {
    const url = await server.createDatabase("token_race")
    const instances = await Promise.all(Array.from({ length: 3 }, () => openStore(url)))
    try {
      const shared = peer("shared").incomingTokenHashes
      const exits = await Promise.all(instances.map((instance, i) =>
        Effect.runPromiseExit(instance.store.putPeer(peer(`claimant${i}`, { incomingTokenHashes: shared })))
      ))
      expect(exits.filter((exit) => exit._tag === "Success").length).toBe(1)
      expect(exits.filter((exit) => JSON.stringify(exit).includes("SettingsTokenTaken")).length).toBe(2)
      expect((await Effect.runPromise(instances[0]!.store.load)).peers.length).toBe(1)
    } finally {
      await Promise.all(instances.map((instance) => instance.close()))
    }
  }, 60_000)

  it("concurrent writers from several instances are all applied (the version row serialises them)", async () => {
    const url = await server.createDatabase("writers")
    const instances = await Promise.all(Array.from({ length: 3 }, () => openStore(url)))
    try {
      const start = await Effect.runPromise(instances[0]!.store.version)
      await Promise.all(instances.flatMap((instance, i) =>
        Array.from({ length: 5 }, (_, j) => Effect.runPromise(instance.store.putPeer(peer(`p${i}-${j}`))))
      ))
      const loaded = await Effect.runPromise(instances[1]!.store.load)
      expect(loaded.peers.length).toBe(15)
      expect(loaded.version).toBe(start + 15)
    } finally {
      await Promise.all(instances.map((instance) => instance.close()))
    }
  }, 60_000)
})
