/**
 * Runs the node as a real child process (`node src/main.ts`), as an operator would, for the tests
 * that need a process to kill or restart. Always stopped by the test (and killed on test exit).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { resolve } from "node:path"
import { reapChild } from "./reaper.ts"

const root = resolve(import.meta.dirname, "../..")
const nodeBinary = resolve(root, "node_modules/.bin/node")
const running = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

export interface NodeProcess {
  readonly child: ChildProcess
  readonly output: () => string
  readonly kill: (signal?: NodeJS.Signals) => Promise<void>
}

const waitFor = async (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Starts `node src/main.ts <args>` and waits until `healthUrl` answers 200. */
export const startNodeProcess = async (
  args: ReadonlyArray<string>,
  healthUrl: string,
  env: Record<string, string> = {}
): Promise<NodeProcess> => {
  const child = spawn(nodeBinary, ["src/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  running.add(child)
  reapChild(child)
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, "exit")
    child.kill(signal)
    await exited
    running.delete(child)
  }
  try {
    await waitFor(async () => (await fetch(healthUrl)).status === 200, 20_000, `node at ${healthUrl}`)
  } catch (error) {
    await kill("SIGKILL")
    // The node's output as it is now (why it did not come up), not as it was when the wait began.
    throw new Error(`${(error as Error).message}\n${output}`)
  }
  return { child, output: () => output, kill }
}

/** Runs `node src/main.ts <args>` to completion: exit code and output. */
export const runCli = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const child = spawn(nodeBinary, ["src/main.ts", ...args], { cwd: root, env: { ...process.env, ...env } })
  reapChild(child)
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  const [code] = await once(child, "exit") as [number | null]
  return { code, output }
}
