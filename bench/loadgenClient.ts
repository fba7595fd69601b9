/** The load generator (`loadgen.ts`) as a child process, driven over IPC: one run per message. */
import { type ChildProcess, fork } from "node:child_process"
import { type Child, track } from "./common.ts"
import type { RunCommand, RunResult } from "./loadgen.ts"

export interface LoadGen {
  readonly run: (command: RunCommand) => Promise<RunResult>
  readonly stop: () => Promise<void>
  readonly pid: number
}

export const startLoadGen = async (): Promise<LoadGen> => {
  const child: ChildProcess = fork(new URL("./loadgen.ts", import.meta.url).pathname, [], { stdio: ["ignore", "pipe", "pipe", "ipc"] })
  const tracked: Child = track(child)
  await new Promise<void>((resolveReady, reject) => {
    child.once("message", () => resolveReady())
    child.once("exit", (code) => reject(new Error(`load generator exited with ${code}:\n${tracked.output()}`)))
  })
  const run = (command: RunCommand) =>
    new Promise<RunResult>((resolveRun, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load generator exited with ${code}:\n${tracked.output()}`))
      child.once("exit", onExit)
      child.once("message", (message: RunResult | { type: "error"; message: string }) => {
        child.removeListener("exit", onExit)
        if (message.type === "error") reject(new Error(`load generator failed: ${message.message}`))
        else resolveRun(message)
      })
      child.send(command)
    })
  return { run, stop: () => tracked.stop(2_000), pid: tracked.pid }
}
