/** Effect helpers for the Redis-backed store tests: a scoped redis-server, a raw client, timing. */
import { Effect } from "effect"
import { Redis } from "ioredis"
import { type RedisServer, startRedis } from "./redis.ts"

/** A redis-server for the test's scope, stopped when it closes. */
export const acquireServer = (options: { readonly port?: number } = {}) =>
  Effect.acquireRelease(Effect.promise(() => startRedis(options)), (server) => Effect.promise(() => server.stop()))

/** A plain ioredis client (no retries, no queue) to look at what the stores wrote. */
export const acquireRawClient = (server: RedisServer) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true })),
    (client) => Effect.sync(() => client.disconnect())
  ).pipe(Effect.tap((client) => Effect.promise(() => client.connect())))

/** Runs `effect` and answers its exit with the wall time it took. */
export const elapsedMs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const exit = yield* Effect.exit(effect)
    return { exit, ms: performance.now() - start }
  })
