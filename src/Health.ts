/**
 * The node's health (`GET /healthz`, issue 11): whether each dependency answers now.
 *
 * - `ledger`: one account lookup (a request to the cluster for TigerBeetle, a read for SQLite);
 * - `redis` (only when configured): PING on a connection of its own, so a health check never waits
 *   behind, nor takes a slot of, the packet path's connections.
 *
 * Each probe is bounded by `probeTimeoutMs` and they run concurrently, so a check answers within
 * that bound whatever is down. A dependency that fails or times out is `unavailable`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Ledger } from "./Accounting/Ledger.ts"
import { NodeConfigService } from "./Config.ts"
import type * as RedisClient from "./Redis.ts"

/** Bound of one probe. */
export const probeTimeoutMs = 1_000

export type DependencyState = "ok" | "unavailable"

export interface HealthReport {
  readonly healthy: boolean
  /** One entry per dependency the node has. */
  readonly checks: Readonly<Record<string, DependencyState>>
}

export interface HealthShape {
  readonly check: Effect.Effect<HealthReport>
}

export class Health extends Context.Service<Health, HealthShape>()("Health") {}

/** An account id no one uses: the lookup's answer does not matter, only that there is one. */
const probeAccountId = 1n

const probe = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<DependencyState> =>
  effect.pipe(
    Effect.timeoutOption(probeTimeoutMs),
    Effect.map((answered) => answered._tag === "Some" ? "ok" as const : "unavailable" as const),
    Effect.catchCause(() => Effect.succeed("unavailable" as const))
  )

/** The report from each dependency's state. Pure. */
export const report = (checks: Readonly<Record<string, DependencyState>>): HealthReport => ({
  healthy: Object.values(checks).every((state) => state === "ok"),
  checks
})

class HealthRedisUnavailable {
  readonly _tag = "HealthRedisUnavailable"
}

const redisFailures: RedisClient.Failures<HealthRedisUnavailable> = {
  unavailable: () => new HealthRedisUnavailable(),
  isCorruption: () => false
}

export const layer: Layer.Layer<Health, never, Ledger | NodeConfigService> = Layer.effect(
  Health,
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const config = yield* NodeConfigService
    // Connecting may fail now (the other Redis stores then stop the node anyway) or later: the
    // client reconnects in the background and the probe reports what it finds. (`Redis.ts`, and
    // ioredis with it, load only when Redis is configured: the embedded profile never needs them.)
    let redisProbe: Effect.Effect<DependencyState> | undefined
    if (config.redisUrl !== undefined) {
      const RedisClient = yield* Effect.promise(() => import("./Redis.ts"))
      const options = {
        commandTimeoutMs: probeTimeoutMs,
        connectTimeoutMs: RedisClient.clientDefaults.connectTimeoutMs,
        reconnectDelayMsMax: RedisClient.clientDefaults.reconnectDelayMsMax
      }
      const redis = yield* RedisClient.acquireClient({ ...options, url: Redacted.value(config.redisUrl) }, [], redisFailures, "health")
        .pipe(Effect.orDie)
      redisProbe = probe(RedisClient.call(redisFailures, probeTimeoutMs, "ping", () => redis.ping()))
    }
    const ledgerProbe = probe(ledger.balances([probeAccountId]))
    const probes: Record<string, Effect.Effect<DependencyState>> = { ledger: ledgerProbe }
    if (redisProbe !== undefined) probes["redis"] = redisProbe
    return Health.of({ check: Effect.map(Effect.all(probes, { concurrency: "unbounded" }), report) })
  })
)
