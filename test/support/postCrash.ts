/**
 * What test/support/postCrashChild.ts and the tests that kill it share: the node configuration
 * (same data directory and STREAM secret), running the child until it kills itself, and the
 * node's services reopened on its data directory, as a restarted node.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { resolve } from "node:path"
import * as Config from "../../src/Config.ts"
import { servicesLayer } from "../../src/Node.ts"
import { reapChild } from "./reaper.ts"

export const postCrashAsset = { code: "USD", scale: 2 } as const

export const postCrashConfig = (dataDir: string, streamSecretHex: string) =>
  Effect.runPromise(Config.decodeConfig({
    ilpAddress: "test.postcrash",
    dataDir,
    streamSecret: streamSecretHex,
    peers: [{
      id: "sender",
      asset: postCrashAsset,
      incomingTokens: ["post-crash-sender-token-0001"],
      staticIlpAddress: "test.sender"
    }]
  }, {}))

const root = resolve(import.meta.dirname, "../..")
const nodeBinary = resolve(root, "node_modules/.bin/node")

/** Runs postCrashChild.ts with `args` until it SIGKILLs itself; answers the payment id it printed. */
export const runPostCrashChild = async (args: ReadonlyArray<string>): Promise<string> => {
  const child = spawn(nodeBinary, ["test/support/postCrashChild.ts", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  reapChild(child)
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const [code, signal] = await once(child, "exit") as [number | null, NodeJS.Signals | null]
  if (signal !== "SIGKILL") throw new Error(`child ended with code ${code}, signal ${signal}:\n${output}`)
  const line = output.split("\n").find((l) => l.startsWith("{"))
  if (line === undefined) throw new Error(`child printed no payment id:\n${output}`)
  return (JSON.parse(line) as { paymentId: string }).paymentId
}

/** Runs `effect` on the node's services reopened on `dataDir` (as a restarted node), then closes them. */
export const afterRestart = async <A>(dataDir: string, streamSecretHex: string, effect: Effect.Effect<A, unknown, any>): Promise<A> => {
  const config = await postCrashConfig(dataDir, streamSecretHex)
  const scope = Scope.makeUnsafe()
  try {
    const services = await Effect.runPromise(Scope.provide(scope)(Layer.build(servicesLayer(config))))
    return await Effect.runPromise(Effect.provideContext(effect, services as never) as Effect.Effect<A, unknown>)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
