/** What the test servers (PostgreSQL, Redis, TigerBeetle) share about the child process they run. */
import type { ChildProcess } from "node:child_process"

export const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

/** Resolves true once the child has exited, false when `timeoutMs` passes first. */
export const waitForExit = (child: ChildProcess, timeoutMs: number): Promise<boolean> =>
  exited(child) ? Promise.resolve(true) : new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

/** Keeps the last `bytesMax` characters of the child's output, for error messages. */
export const captureOutput = (child: ChildProcess, bytesMax: number): (() => string) => {
  let output = ""
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-bytesMax)
  }
  child.stdout?.on("data", append)
  child.stderr?.on("data", append)
  child.once("error", (error) => append(Buffer.from(`\n${error.message}`)))
  return () => output
}
