/**
 * A real, throwaway `redis-server` for tests: no persistence, bound to 127.0.0.1 on a free port.
 * If `redis-server` is not installed, `startRedis` rejects with a message saying to install it:
 * the Redis tests fail loudly rather than skip (CI's `.ci/run` installs it).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { forget, reapOnDeath } from "./reaper.ts"
import { createConnection } from "node:net"
import { tmpdir } from "node:os"
import { captureOutput, exited, waitForExit } from "./child.ts"

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** Stops the server (SIGTERM, then SIGKILL after `stopTimeoutMs`); idempotent. */
  readonly stop: () => Promise<void>
  /** SIGSTOP: the server keeps its sockets open but never answers (a hung Redis). */
  readonly pause: () => void
  /** SIGCONT after `pause`. */
  readonly resume: () => void
}

const binary = "redis-server"
const readyTimeoutMs = 5_000
const pingIntervalMs = 20
const stopTimeoutMs = 2_000
const startAttemptsMax = 3
const outputBytesMax = 4_096

const assertInstalled = (): void => {
  const probe = spawnSync(binary, ["--version"], { encoding: "utf8" })
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `${binary} is not installed or does not run (${probe.error?.message ?? `exit ${probe.status}`}). ` +
        "The Redis tests need a real server: install it (e.g. `apt-get install redis-server`; CI's .ci/run does)."
    )
  }
}

export { freePort } from "./ports.ts"
import { freePort } from "./ports.ts"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** One PING over a raw socket; true when the answer is +PONG. */
const ping = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    const done = (answer: boolean) => {
      socket.destroy()
      resolve(answer)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("error", () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")))
  })

const waitUntilReady = async (child: ChildProcess, port: number): Promise<boolean> => {
  const deadline = Date.now() + readyTimeoutMs
  while (Date.now() < deadline && !exited(child)) {
    if (await ping(port)) return true
    await sleep(pingIntervalMs)
  }
  return false
}

const spawnServer = (port: number): ChildProcess =>
  spawn(
    binary,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmpdir()],
    { stdio: ["ignore", "pipe", "pipe"] }
  )

/**
 * Servers still running in this test process, SIGKILLed when it exits (normally, through
 * `process.exit`, or after an uncaught error; a SIGKILLed test process cannot clean up). One
 * process-wide hook, because the exit event is process-wide, rather than a listener per server.
 */
const running = new Set<ChildProcess>()
const killRunning = () => {
  for (const child of running) child.kill("SIGKILL")
}

const track = (child: ChildProcess): void => {
  if (running.size === 0) process.once("exit", killRunning)
  running.add(child)
  reapOnDeath(child.pid)
}

const untrack = (child: ChildProcess): void => {
  running.delete(child)
  forget(child.pid)
  if (running.size === 0) process.removeListener("exit", killRunning)
}

const makeHandle = (child: ChildProcess, port: number): RedisServer => {
  track(child)
  const stop = async () => {
    untrack(child)
    if (exited(child)) return
    child.kill("SIGCONT")
    child.kill("SIGTERM")
    if (!(await waitForExit(child, stopTimeoutMs))) {
      child.kill("SIGKILL")
      await waitForExit(child, stopTimeoutMs)
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT")
  }
}

/**
 * Starts `redis-server` and resolves once it answers PING. `port` reuses a port (to restart a
 * stopped server in place); otherwise a free one is picked, retrying if another process wins it.
 */
export const startRedis = async (options: { readonly port?: number } = {}): Promise<RedisServer> => {
  assertInstalled()
  let lastOutput = ""
  for (let attempt = 1; attempt <= startAttemptsMax; attempt++) {
    const port = options.port ?? await freePort()
    const child = spawnServer(port)
    const output = captureOutput(child, outputBytesMax)
    const handle = makeHandle(child, port)
    if (await waitUntilReady(child, port)) return handle
    await handle.stop()
    lastOutput = output()
  }
  throw new Error(`${binary} did not answer PING within ${readyTimeoutMs} ms:\n${lastOutput}`)
}
