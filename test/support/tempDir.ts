/**
 * Temporary directories for tests, registered with the watchdog (`reaper.ts`): a test process that
 * is SIGKILLed before its cleanup runs leaves no directory behind.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { forgetDir, removeOnDeath } from "./reaper.ts"

/** A new directory under the system's temp directory, removed by the watchdog if this process dies first. */
export const makeTempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  removeOnDeath(dir)
  return dir
}

/** Removes a directory made by `makeTempDir` (or any path: missing is fine) and tells the watchdog. */
export const removeTempDir = (dir: string): void => {
  rmSync(dir, { recursive: true, force: true })
  forgetDir(dir)
}
