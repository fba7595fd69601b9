/**
 * A real, throwaway PostgreSQL for tests (Debian `postgresql` 15): `initdb` into a fresh temp dir,
 * `postgres` on 127.0.0.1 at a free port with its unix socket in that dir, `fsync` off. Stopped by
 * its pid (SIGINT: fast shutdown, then SIGKILL) and the dir removed.
 *
 * PostgreSQL refuses to run as root: when the tests run as root, both `initdb` and `postgres` run
 * as the `postgres` system user (the Debian package creates it) through `spawn`'s uid/gid, and the
 * temp dir is handed to that user. Otherwise they run as the current user.
 *
 * Start it once per test file (about 1-2 s); each test can take its own database with
 * `createDatabase`. If the binaries are missing, `startPostgres` rejects with a message saying to
 * install them (CI's .ci/run does): the PostgreSQL tests fail loudly rather than skip.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { forget, forgetDir, reapOnDeath, removeOnDeath } from "./reaper.ts"
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { createConnection } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { freePort } from "./redis.ts"
import { captureOutput, exited, waitForExit } from "./child.ts"

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth on loopback only). */
  readonly url: string
  readonly port: number
  /** The URL of a fresh, empty database created on this server. */
  readonly createDatabase: (name: string) => Promise<string>
  /** Stops the server by its pid (SIGINT: fast shutdown; SIGKILL after `stopTimeoutMs`), then removes the dir; idempotent. */
  readonly stop: () => Promise<void>
}

const binDir = process.env["POSTGRES_BIN_DIR"] ?? "/usr/lib/postgresql/15/bin"
const readyTimeoutMs = 30_000
const pollIntervalMs = 50
const stopTimeoutMs = 10_000
const outputBytesMax = 8_192
const startAttemptsMax = 3

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The uid/gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves. */
const runAs = (): { readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const probe = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" })
  const gidProbe = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" })
  if (probe.status !== 0 || gidProbe.status !== 0) {
    throw new Error("running as root, and there is no `postgres` user to run PostgreSQL as (install postgresql)")
  }
  return { uid: Number(probe.stdout.trim()), gid: Number(gidProbe.stdout.trim()) }
}

const assertInstalled = (): void => {
  if (!existsSync(join(binDir, "initdb")) || !existsSync(join(binDir, "postgres"))) {
    throw new Error(
      `PostgreSQL binaries not found in ${binDir} (set POSTGRES_BIN_DIR). The PostgreSQL tests need a real ` +
        "server: install it (e.g. `apt-get install postgresql`; CI's .ci/run does)."
    )
  }
}

/** True when the port accepts a TCP connection (PostgreSQL listens only once it is ready to serve). */
const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    const done = (answer: boolean) => {
      socket.destroy()
      resolve(answer)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("error", () => done(false))
    socket.once("connect", () => done(true))
  })

/** Servers still running in this test process, SIGKILLed when it exits. */
const running = new Set<ChildProcess>()
const killRunning = () => {
  for (const child of running) child.kill("SIGKILL")
}

/** Runs one statement with our own client (no `psql` needed). */
const runSql = (url: string, statement: string): Promise<void> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1, connectTimeout: "2 seconds" })
    yield* sql.unsafe(statement)
  })).pipe(Effect.provide(Reactivity.layer))).catch((error: unknown) => {
    throw new Error(`${statement}: ${String(error)}`)
  })

const startOnce = async (): Promise<PostgresServer> => {
  const owner = runAs()
  const dir = mkdtempSync(join(tmpdir(), "ilp-pg-"))
  if (owner !== undefined) chownSync(dir, owner.uid, owner.gid)
  removeOnDeath(dir)
  const dataDir = join(dir, "data")
  const removeDir = () => {
    rmSync(dir, { recursive: true, force: true })
    forgetDir(dir)
  }
  const user = owner === undefined ? userInfo().username : "postgres"
  const init = spawnSync(
    join(binDir, "initdb"),
    ["-D", dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C"],
    { encoding: "utf8", ...(owner ?? {}), cwd: dir }
  )
  if (init.status !== 0) {
    removeDir()
    throw new Error(`initdb failed (as ${user}): ${(init.stderr || init.error?.message || "").slice(-outputBytesMax)}`)
  }
  const port = await freePort()
  const child = spawn(
    join(binDir, "postgres"),
    [
      "-D", dataDir,
      "-h", "127.0.0.1",
      "-p", String(port),
      "-k", dir,
      "-c", "fsync=off",
      "-c", "synchronous_commit=off",
      "-c", "full_page_writes=off",
      "-c", "max_connections=200",
      "-c", "shared_buffers=32MB"
    ],
    { stdio: ["ignore", "pipe", "pipe"], ...(owner ?? {}), cwd: dir }
  )
  if (running.size === 0) process.once("exit", killRunning)
  running.add(child)
  reapOnDeath(child.pid)
  const output = captureOutput(child, outputBytesMax)
  const deadline = Date.now() + readyTimeoutMs
  let ready = false
  while (Date.now() < deadline && !exited(child)) {
    if (await accepts(port)) {
      ready = true
      break
    }
    await sleep(pollIntervalMs)
  }
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    if (!exited(child)) {
      child.kill("SIGINT")
      if (!(await waitForExit(child, stopTimeoutMs))) {
        child.kill("SIGKILL")
        await waitForExit(child, stopTimeoutMs)
      }
    }
    running.delete(child)
    forget(child.pid)
    removeDir()
  }
  if (!ready) {
    await stop()
    throw new Error(`postgres did not accept connections on 127.0.0.1:${port}: ${output()}`)
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  // The port accepts before the startup is complete: wait until a query runs.
  while (true) {
    try {
      await runSql(url, "SELECT 1")
      break
    } catch (error) {
      if (Date.now() > deadline || exited(child)) {
        await stop()
        throw new Error(`postgres did not answer queries: ${String(error)} ${output()}`)
      }
      await sleep(pollIntervalMs)
    }
  }
  return {
    url,
    port,
    createDatabase: async (name) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`)
      await runSql(url, `CREATE DATABASE ${name}`)
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    stop
  }
}

/** Starts a server (retrying on a port taken between the probe and the bind). */
export const startPostgres = async (): Promise<PostgresServer> => {
  assertInstalled()
  let lastError: unknown
  for (let attempt = 1; attempt <= startAttemptsMax; attempt++) {
    try {
      return await startOnce()
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}
