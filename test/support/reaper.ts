/**
 * Cleans up after a test process that dies without running its own cleanup (SIGKILLed vitest
 * worker, out-of-memory kill): the servers it started (TigerBeetle replicas take ~1.4 GiB each,
 * PostgreSQL, Redis) and their temporary directories would otherwise outlive it.
 *
 * One small watchdog process per test process, started on first use. It is told, over its stdin,
 * which pids and directories this process owns (`+pid`, `-pid`, `+dir`, `-dir` lines). When its
 * stdin reaches end of file — the kernel closes the pipe however this process ends, SIGKILL
 * included — it SIGKILLs the pids still registered and removes the directories still registered,
 * then exits. Nothing polls; a process that stopped its servers normally has unregistered them,
 * so the watchdog touches only what this process started and did not clean up.
 *
 * Bounded: one watchdog per test process; it holds only what is registered.
 */
import { type ChildProcess, spawn } from "node:child_process"

const watchdogSource = `
const { rmSync } = require("node:fs")
const pids = new Set()
const dirs = new Set()
let pending = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk) => {
  pending += chunk
  let newline
  while ((newline = pending.indexOf("\\n")) >= 0) {
    const line = pending.slice(0, newline)
    pending = pending.slice(newline + 1)
    const set = line[1] === "p" ? pids : dirs
    const value = line.slice(2)
    if (line[0] === "+") set.add(value)
    else set.delete(value)
  }
})
process.stdin.on("end", () => {
  for (const pid of pids) {
    try { process.kill(Number(pid), "SIGKILL") } catch {}
  }
  for (const dir of dirs) {
    try { rmSync(dir, { recursive: true, force: true }) } catch {}
  }
  process.exit(0)
})
`

let watchdog: ChildProcess | undefined

const send = (line: string): void => {
  if (watchdog === undefined) {
    watchdog = spawn(process.execPath, ["-e", watchdogSource], { stdio: ["pipe", "ignore", "ignore"], detached: true })
    watchdog.on("error", () => undefined)
    watchdog.stdin!.on("error", () => undefined)
    // Neither the watchdog nor its pipe keeps this process alive.
    watchdog.unref()
    ;(watchdog.stdin as unknown as { unref?: () => void }).unref?.()
  }
  watchdog.stdin!.write(`${line}\n`)
}

/** Registers a child process (kept until `forget`), to be SIGKILLed if this process dies first. */
export const reapOnDeath = (pid: number | undefined): void => {
  if (pid !== undefined) send(`+p${pid}`)
}

/** The child was stopped by this process: the watchdog must not touch its (possibly reused) pid. */
export const forget = (pid: number | undefined): void => {
  if (pid !== undefined && watchdog !== undefined) send(`-p${pid}`)
}

/** `reapOnDeath` for a child process of ours, forgotten as soon as it exits (its pid may then be reused). */
export const reapChild = (child: ChildProcess): void => {
  if (child.pid === undefined) return
  reapOnDeath(child.pid)
  child.once("exit", () => forget(child.pid))
}

/** Registers a directory to remove if this process dies before removing it (absolute path, no newline). */
export const removeOnDeath = (dir: string): void => {
  if (!dir.includes("\n")) send(`+d${dir}`)
}

/** The directory was removed (or handed over) by this process. */
export const forgetDir = (dir: string): void => {
  if (watchdog !== undefined && !dir.includes("\n")) send(`-d${dir}`)
}
