/**
 * The watchdog of test/support/reaper.ts: a test process SIGKILLed with servers still running
 * leaves nothing behind, and only what it registered (and did not forget) is touched.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { afterEach, describe, expect, it } from "vitest"
import { waitUntil } from "./wait.ts"

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A "test process" that starts two long-lived children, registers one and forgets the other. */
const workerSource = (reaper: string, dir: string) => `
import { spawn } from "node:child_process"
import { forget, reapOnDeath, removeOnDeath } from ${JSON.stringify(reaper)}
const sleeper = () => spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore", detached: true })
const kept = sleeper()
const stopped = sleeper()
reapOnDeath(kept.pid)
reapOnDeath(stopped.pid)
forget(stopped.pid)
removeOnDeath(${JSON.stringify(dir)})
console.log(JSON.stringify({ kept: kept.pid, forgotten: stopped.pid }))
setInterval(() => {}, 1000)
`

const started: Array<number> = []
const dirs: Array<string> = []
afterEach(() => {
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL")
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe("reaper", () => {
  it("SIGKILLs what a dead test process registered, removes its directory, and leaves the rest alone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ilp-reaper-"))
    dirs.push(dir)
    const reaper = new URL("./reaper.ts", import.meta.url).pathname
    const worker = spawn(process.execPath, ["--input-type=module", "-e", workerSource(reaper, dir)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    started.push(worker.pid!)
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: worker.stdout! }).once("line", resolve)
      worker.once("exit", (code) => reject(new Error(`worker exited with ${code}`)))
    })
    const { kept, forgotten } = JSON.parse(line) as { kept: number; forgotten: number }
    started.push(kept, forgotten)
    expect(alive(kept)).toBe(true)
    expect(existsSync(dir)).toBe(true)

    worker.kill("SIGKILL")

    await waitUntil(() => !alive(kept) && !existsSync(dir), 20_000, "the registered child and directory to be gone")
    expect(alive(forgotten)).toBe(true)
  })
})
