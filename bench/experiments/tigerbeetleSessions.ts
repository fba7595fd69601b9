/**
 * What a TigerBeetle cluster does with many client sessions: starts a one-replica cluster
 * (test/support/tigerbeetle.ts), registers `count` clients one after another, each making one
 * request and staying open, either all in this process (`in-process`) or one per child process
 * (`processes`); then asks every client again and prints which ones answer and how the others fail.
 * Every request is bounded by a timer; the cluster is stopped on exit, Ctrl-C or SIGTERM.
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/tigerbeetleSessions.ts [count=12] [in-process|processes]
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { type Client, createClient } from "tigerbeetle-node"
import { startTigerBeetle } from "../../test/support/tigerbeetle.ts"

const timeoutMs = 5_000

const ask = (client: Client): Promise<string> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    client.lookupAccounts([1n]).then(() => "ok", (error: unknown) => (error as { code?: string }).code ?? String(error)),
    new Promise<string>((done) => {
      timer = setTimeout(() => done("no answer"), timeoutMs)
    })
  ]).finally(() => clearTimeout(timer))
}

const summary = (answers: ReadonlyArray<string>) => {
  const runs: Array<string> = []
  let start = 0
  for (let i = 1; i <= answers.length; i++) {
    if (i === answers.length || answers[i] !== answers[start]) {
      runs.push(`clients ${start}..${i - 1}: ${answers[start]}`)
      start = i
    }
  }
  return runs.join("; ")
}

// A child: one client; answers "ask" lines on stdin with one line each; exits when stdin closes.
if (process.argv[2] === "child") {
  const client = createClient({ cluster_id: BigInt(process.argv[3]!), replica_addresses: process.argv[4]!.split(",") })
  const lines = createInterface({ input: process.stdin })
  lines.on("line", () => void ask(client).then((answer) => process.stdout.write(`${answer}\n`)))
  lines.on("close", () => {
    client.destroy()
    process.exit(0)
  })
} else {
  const count = Number(process.argv[2] ?? 12)
  const mode = process.argv[3] ?? "in-process"
  const cluster = await startTigerBeetle()
  const children: Array<ChildProcess> = []
  const clients: Array<Client> = []
  const stop = async () => {
    for (const client of clients) client.destroy()
    for (const child of children) child.stdin?.end()
    await cluster.stop()
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void stop().then(() => process.exit(130)))
  try {
    const askers: Array<() => Promise<string>> = []
    if (mode === "processes") {
      for (let i = 0; i < count; i++) {
        const child = spawn(process.execPath, [import.meta.filename, "child", String(cluster.clusterId), cluster.addresses.join(",")], {
          stdio: ["pipe", "pipe", "ignore"]
        })
        children.push(child)
        const answers = createInterface({ input: child.stdout! })
        const pending: Array<(answer: string) => void> = []
        answers.on("line", (line) => pending.shift()?.(line))
        askers.push(() =>
          new Promise((done) => {
            pending.push(done)
            child.stdin!.write("ask\n")
          })
        )
      }
    } else {
      for (let i = 0; i < count; i++) {
        const client = createClient({ cluster_id: cluster.clusterId, replica_addresses: [...cluster.addresses] })
        clients.push(client)
        askers.push(() => ask(client))
      }
    }
    const first: Array<string> = []
    for (const asker of askers) first.push(await asker())
    console.log(`${mode}: registering ${count} clients one by one: ${summary(first)}`)
    const again: Array<string> = []
    for (const asker of askers) again.push(await asker())
    console.log(`${mode}: then each asked again, in order: ${summary(again)}`)
  } finally {
    await stop()
  }
}
