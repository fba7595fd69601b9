/**
 * What `tigerbeetle-node` does when the cluster evicts a client's session: one child process per
 * scenario registers client A, then registers (and closes) 70 other clients one by one so the
 * cluster (64 sessions) evicts A, then uses A: `request` makes two more requests with it,
 * `destroy` makes one and then destroys it. The parent prints each child's output and how it ended
 * (a panic in the client aborts the whole process). The cluster is stopped at the end.
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/tigerbeetleEviction.ts
 */
import { spawn } from "node:child_process"
import { type Client, createClient } from "tigerbeetle-node"
import { startTigerBeetle } from "../../test/support/tigerbeetle.ts"

const outcome = (client: Client) =>
  client.lookupAccounts([1n]).then(() => "answered", (error: unknown) => `rejected ${(error as { code?: string }).code ?? String(error)}`)

if (process.argv[2] === "child") {
  const [scenario, clusterId, addresses] = process.argv.slice(3) as [string, string, string]
  const make = () => createClient({ cluster_id: BigInt(clusterId), replica_addresses: addresses.split(",") })
  const a = make()
  console.log(`A first request: ${await outcome(a)}`)
  for (let i = 0; i < 70; i++) {
    const other = make()
    await outcome(other)
    other.destroy()
  }
  console.log(`A after 70 other sessions: ${await outcome(a)}`)
  if (scenario === "request") console.log(`A again: ${await outcome(a)}`)
  else {
    a.destroy()
    console.log("A destroyed")
  }
  const b = make()
  console.log(`a new client B: ${await outcome(b)}`)
  b.destroy()
  process.exit(0)
} else {
  const cluster = await startTigerBeetle()
  try {
    for (const scenario of ["request", "destroy"]) {
      const child = spawn(process.execPath, [import.meta.filename, "child", scenario, String(cluster.clusterId), cluster.addresses.join(",")], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString().split("\n").filter((l) => !l.includes("message_bus")).join("\n")))
      const ended = await new Promise<string>((done) => child.on("exit", (code, signal) => done(signal ?? `exit ${code}`)))
      console.log(`--- ${scenario}: ${ended}\n${output.trim()}`)
    }
  } finally {
    await cluster.stop()
  }
}
