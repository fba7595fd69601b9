/**
 * The first run as an operator meets it (issue 14), with real processes:
 *
 * - `npm start` on an empty data directory generates the admin token, keeps it 0600, prints it once
 *   with the next steps; the data directory is 0700 and every file in it 0600 (SQLite -wal/-shm
 *   included), and wider modes left behind are tightened on the next start;
 * - SIGTERM or SIGINT to the `npm start` process stops the node (no orphan);
 * - the operator commands find the generated token by themselves;
 * - start-up failures are one line naming the listener or path and the cause (defect 6);
 * - `--help` lists every environment variable the code reads.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { join, resolve } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runCli } from "../support/process.ts"
import { freePorts } from "../support/ports.ts"
import { waitUntil } from "../support/wait.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const root = resolve(import.meta.dirname, "../..")
const dirs: Array<string> = []
const children = new Set<ChildProcess>()
/** Processes started under `npm start` (the node), killed at the end if a failing test left them. */
const grandchildren = new Set<number>()

afterAll(() => {
  // A test that failed before `stop` left npm and the node under it running: find the node first
  // (killing npm alone would orphan it), then kill both.
  for (const child of children) for (const pid of descendants(child.pid!)) grandchildren.add(pid)
  for (const child of children) child.kill("SIGKILL")
  for (const pid of grandchildren) if (isAlive(pid)) process.kill(pid, "SIGKILL")
  for (const dir of dirs) removeTempDir(dir)
})

const tempDir = () => {
  const dir = makeTempDir("ilp-first-run-")
  dirs.push(dir)
  return dir
}

const modeOf = (path: string) => statSync(path).mode & 0o777

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pids of `pid`'s descendants (from /proc), to check that none survives. */
const descendants = (pid: number): Array<number> => {
  const children: Array<number> = []
  for (const task of readdirSync(`/proc/${pid}/task`, { withFileTypes: false }) as Array<string>) {
    const file = `/proc/${pid}/task/${task}/children`
    if (!existsSync(file)) continue
    for (const child of readFileSync(file, "utf8").split(" ").filter((s) => s !== "")) children.push(Number(child))
  }
  return children.flatMap((child) => [child, ...descendants(child)])
}

interface Ports {
  readonly connector: number
  readonly admin: number
  readonly openPayments: number
}

const ports = async (): Promise<Ports> => {
  const [connector, admin, openPayments] = (await freePorts(3)) as [number, number, number]
  return { connector, admin, openPayments }
}

const envFor = (dataDir: string, p: Ports): Record<string, string> => ({
  DATA_DIR: dataDir,
  CONNECTOR_PORT: String(p.connector),
  ADMIN_PORT: String(p.admin),
  OPEN_PAYMENTS_PORT: String(p.openPayments),
  ADMIN_TOKEN: "",
  CONFIG_FILE: ""
})

/** `npm start` as an operator types it, on the system's npm; its output and a stop by signal. */
const npmStart = async (env: Record<string, string>, adminPort: number) => {
  const child = spawn("npm", ["start"], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  children.add(child)
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const exited = once(child, "exit")
  await waitUntil(
    async () => (await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => undefined))?.status === 200,
    60_000,
    `npm start to answer /healthz\n${output}`
  )
  return {
    output: () => output,
    /** Signals the npm process only; resolves once npm and every process under it are gone. */
    stop: async (signal: NodeJS.Signals) => {
      const below = descendants(child.pid!)
      for (const pid of below) grandchildren.add(pid)
      expect(below.length).toBeGreaterThan(0)
      child.kill(signal)
      await exited
      children.delete(child)
      await waitUntil(() => below.every((pid) => !isAlive(pid)), 40_000, `the node (pids ${below.join(", ")}) to exit after ${signal}`)
    }
  }
}

describe("first run", () => {
  it("npm start: admin token generated, kept 0600, printed once with next steps; files 0600; stopped by SIGTERM and SIGINT to npm", async () => {
    const dataDir = join(tempDir(), "data")
    const p = await ports()
    const env = envFor(dataDir, p)

    const first = await npmStart(env, p.admin)
    const tokenFile = join(dataDir, "admin-token")
    const token = readFileSync(tokenFile, "utf8").trim()
    expect(token.length).toBeGreaterThanOrEqual(40)
    const shown = first.output().split(token).length - 1
    expect(shown).toBe(1)
    for (const step of ["ADMIN_TOKEN=", "health", "deposit --peer", "/wallet-addresses", "/openapi.json", "examples/config.annotated.jsonc"]) {
      expect(first.output()).toContain(step)
    }
    // The operator commands find the token themselves (ADMIN_TOKEN unset).
    const balances = await runCli(["balances"], { ADMIN_URL: `http://127.0.0.1:${p.admin}`, DATA_DIR: dataDir, ADMIN_TOKEN: "" })
    expect(balances.code, balances.output).toBe(0)
    // Secrets at rest: the directory 0700, every file in it 0600 (-wal and -shm included).
    expect(modeOf(dataDir)).toBe(0o700)
    const files = readdirSync(dataDir)
    expect(files).toEqual(expect.arrayContaining(["admin-token", "ledger.sqlite", "ledger.sqlite-wal", "payments.sqlite", "payments.sqlite-shm"]))
    for (const file of files) expect([file, modeOf(join(dataDir, file))]).toEqual([file, 0o600])
    await first.stop("SIGTERM")

    // Wider modes left by an older version are tightened; the token is not printed again.
    chmodSync(dataDir, 0o755)
    for (const file of readdirSync(dataDir)) chmodSync(join(dataDir, file), 0o644)
    const second = await npmStart(env, p.admin)
    expect(second.output()).not.toContain(token)
    expect(second.output()).toContain(`admin token: kept in ${tokenFile}`)
    expect(modeOf(dataDir)).toBe(0o700)
    for (const file of readdirSync(dataDir)) expect([file, modeOf(join(dataDir, file))]).toEqual([file, 0o600])
    await second.stop("SIGINT")
  }, 180_000)
})

describe("start-up errors are one line naming the listener or path and the cause (defect 6)", () => {
  const listenOn = async (port: number): Promise<Server> => {
    const server = createServer()
    server.listen(port, "127.0.0.1")
    await once(server, "listening")
    return server
  }

  const expectOneLine = (result: { code: number | null; output: string }, ...parts: ReadonlyArray<string>) => {
    expect(result.code, result.output).toBe(1)
    const lines = result.output.trim().split("\n").filter((line) => !/^\[[0-9:.]+\] (INFO|WARN)/.test(line))
    expect(lines, result.output).toHaveLength(1)
    for (const part of parts) expect(lines[0]).toContain(part)
    expect(result.output).not.toMatch(/^\s+at /m)
  }

  it("a port in use on each listener", async () => {
    for (const [listener, key] of [["ILP-over-HTTP", "connector"], ["SPSP", "openPayments"], ["admin API", "admin"]] as const) {
      const p = await ports()
      const taken = await listenOn(p[key])
      try {
        const result = await runCli(["start"], { ...envFor(":memory:", p), ADMIN_TOKEN: "startup-test-admin-token-01" })
        expectOneLine(result, listener, `127.0.0.1:${p[key]}`, "EADDRINUSE")
      } finally {
        taken.close()
      }
    }
  }, 120_000)

  it("an unusable data directory, and a bad environment variable", async () => {
    const file = join(tempDir(), "not-a-directory")
    writeFileSync(file, "x")
    const p = await ports()
    expectOneLine(await runCli(["start"], envFor(join(file, "data"), p)), "data directory", file)
    expectOneLine(await runCli(["start"], { ...envFor(":memory:", p), CONNECTOR_PORT: "abc" }), "CONNECTOR_PORT", "connectorPort")
  }, 60_000)
})

describe("--help", () => {
  it("lists every environment variable the code reads", async () => {
    const help = await runCli(["--help"])
    expect(help.code).toBe(0)
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const names = new Set<string>()
    const scan = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) scan(path)
        else if (path.endsWith(".ts")) {
          const text = readFileSync(path, "utf8")
          for (const match of text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)|envNumber\(env, "([A-Z][A-Z0-9_]+)"\)/g)) names.add(match[1] ?? match[2]!)
        }
      }
    }
    scan(join(root, "src"))
    expect(names.size).toBeGreaterThan(10)
    for (const name of names) {
      expect(help.output, name).toContain(name)
      expect(readme, `README: ${name}`).toContain(name)
    }
  })
})
