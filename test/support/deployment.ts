/**
 * A production-profile deployment on loopback, for tests and `npm run cluster`: one TigerBeetle
 * replica, one Redis, one PostgreSQL, and N node instances (real `node src/main.ts start`
 * processes) sharing them, each with its own ports and a generated config file (mode 0600: it holds
 * the STREAM secret and tokens). `stop` stops the instances, then the servers, and removes the
 * temp dirs; every wait is polled against a deadline.
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type NodeProcess, startNodeProcess } from "./process.ts"
import { type PostgresServer, startPostgres } from "./postgres.ts"
import { freePorts } from "./ports.ts"
import { type RedisServer, startRedis } from "./redis.ts"
import { startTigerBeetle, type TigerBeetleCluster } from "./tigerbeetle.ts"
import { forgetDir, removeOnDeath } from "./reaper.ts"

export interface Instance {
  readonly name: string
  readonly adminUrl: string
  /** ILP-over-HTTP endpoint (`POST`). */
  readonly ilpUrl: string
  /** SPSP base URL (wallet address URLs live under it). */
  readonly spspUrl: string
  readonly configFile: string
  process: NodeProcess
}

export interface Deployment {
  readonly adminToken: string
  readonly instances: ReadonlyArray<Instance>
  readonly tigerbeetle: TigerBeetleCluster
  readonly redis: RedisServer
  readonly postgres: PostgresServer
  readonly postgresUrl: string
  /** Restarts a stopped (or killed) instance with its config. */
  readonly restart: (instance: Instance) => Promise<void>
  readonly stop: () => Promise<void>
}

export interface DeploymentOptions {
  readonly instances?: number
  /** Merged into every instance's config file (peers, assets, rates, ...). */
  readonly config?: Record<string, unknown>
  /** Extra environment for the node processes. */
  readonly env?: Record<string, string>
}

const startInstance = (instance: Omit<Instance, "process">, env: Record<string, string>) =>
  startNodeProcess(["start", "--config", instance.configFile], `${instance.adminUrl}/healthz`, env)

export const startDeployment = async (options: DeploymentOptions = {}): Promise<Deployment> => {
  const dir = mkdtempSync(join(tmpdir(), "ilp-deployment-"))
  removeOnDeath(dir)
  const started: { tb?: TigerBeetleCluster; redis?: RedisServer; pg?: PostgresServer } = {}
  const instances: Array<Instance> = []
  const stop = async () => {
    await Promise.all(instances.map((instance) => instance.process?.kill("SIGTERM").catch(() => undefined)))
    await Promise.all([started.tb?.stop(), started.redis?.stop(), started.pg?.stop()])
    rmSync(dir, { recursive: true, force: true })
    forgetDir(dir)
  }
  try {
    const [tb, redis, pg] = await Promise.all([startTigerBeetle(), startRedis(), startPostgres()])
    Object.assign(started, { tb, redis, pg })
    const postgresUrl = await pg.createDatabase("connector")
    const adminToken = randomBytes(16).toString("hex")
    const shared = {
      ilpAddress: "test.cluster",
      host: "127.0.0.1",
      adminToken,
      streamSecret: randomBytes(32).toString("hex"),
      tigerbeetle: { clusterId: tb.clusterId.toString(), replicaAddresses: tb.addresses },
      redisUrl: redis.url,
      postgresUrl,
      ...options.config
    }
    const count = options.instances ?? 2
    for (let i = 0; i < count; i++) {
      const name = String.fromCharCode(65 + i)
      const [connectorPort, adminPort, openPaymentsPort] = (await freePorts(3)) as [number, number, number]
      const configFile = join(dir, `instance-${name}.json`)
      writeFileSync(
        configFile,
        JSON.stringify({ ...shared, connectorPort, adminPort, openPaymentsPort, dataDir: join(dir, `data-${name}`) }, null, 2),
        { mode: 0o600 }
      )
      instances.push({
        name,
        adminUrl: `http://127.0.0.1:${adminPort}`,
        ilpUrl: `http://127.0.0.1:${connectorPort}/ilp`,
        spspUrl: `http://127.0.0.1:${openPaymentsPort}`,
        configFile,
        process: undefined as unknown as NodeProcess
      })
    }
    // All at once: migrations run under the advisory lock.
    await Promise.all(instances.map(async (instance) => {
      instance.process = await startInstance(instance, options.env ?? {})
    }))
    return {
      adminToken,
      instances,
      tigerbeetle: tb,
      redis,
      postgres: pg,
      postgresUrl,
      restart: async (instance) => {
        instance.process = await startInstance(instance, options.env ?? {})
      },
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/** A JSON call to an instance's admin API; throws with the answer on a non-2xx status. */
export const adminCall = async (
  deployment: Pick<Deployment, "adminToken">,
  instance: Pick<Instance, "adminUrl">,
  method: "GET" | "POST",
  path: string,
  body?: unknown
): Promise<any> => {
  const response = await fetch(`${instance.adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${deployment.adminToken}`,
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path} on ${instance.adminUrl}: ${response.status} ${text}`)
  return text === "" ? undefined : JSON.parse(text)
}
