/**
 * A child process for test/integration/receiptsPostCrash.test.ts: the node's services
 * (`Node.servicesLayer`, embedded profile, files in the data directory given), a funded sender,
 * an incoming payment (capped when a cap is given) and STREAM packets run through the pipeline one
 * at a time. It kills itself (SIGKILL) right after the embedded ledger's `COMMIT` of the
 * `killAtPost`-th transaction that posted a transfer — the instant a crash between a packet's
 * ledger post and anything that runs after it would land. Test-only fault injection: it wraps
 * `StatementSync.prototype.run` in this process, the product has no seam for it.
 *
 * `when` = `beforePost`: killed instead right before the `killAtPost`-th posting transaction
 * changes its first transfer (its packets' receipt reserves are done, nothing of the post is).
 * `parallel`: packets sent at once per round (default 1), so several are reserved when it dies.
 *
 * Usage: node test/support/postCrashChild.ts <dataDir> <streamSecretHex> <killAtPost> [cap|-] [afterCommit|beforePost] [parallel]
 * Prints one JSON line `{ "paymentId": ... }` before the packets start.
 */
import { Context, Effect, Layer, Scope } from "effect"
import { StatementSync } from "node:sqlite"
import { ensureConfiguredAccounts } from "../../src/Accounting/Accounts.ts"
import { newTransferId } from "../../src/Accounting/Ledger.ts"
import { deposit } from "../../src/Accounting/Liquidity.ts"
import * as Peers from "../../src/Connector/Peers.ts"
import * as Pipeline from "../../src/Connector/Pipeline.ts"
import { servicesLayer } from "../../src/Node.ts"
import * as IncomingPayments from "../../src/Payments/IncomingPayments.ts"
import * as WalletAddresses from "../../src/Payments/WalletAddresses.ts"
import * as StreamCredentials from "../../src/Stream/Credentials.ts"
import { postCrashConfig, postCrashAsset as asset } from "./postCrash.ts"
import { streamMoneyPrepares } from "./streamPrepares.ts"

const [dir, secret, killAtPostText, capArg, when = "afterCommit", parallelText = "1"] = process.argv.slice(2)
const capText = capArg === "-" ? undefined : capArg
const killAtPost = Number(killAtPostText)
const parallel = Number(parallelText)
const config = await postCrashConfig(dir!, secret!)

// The fault: SIGKILL right after the COMMIT of the killAtPost-th ledger transaction that posted a
// transfer (`resolveTransfer` with state 2 = posted; LedgerSqliteSchema.ts).
let armed = false
let postedInTransaction = false
let posts = 0
const run = StatementSync.prototype.run
StatementSync.prototype.run = function(this: StatementSync, ...params: Array<unknown>) {
  if (
    armed && when === "beforePost" && posts + 1 >= killAtPost &&
    this.sourceSQL.startsWith("UPDATE transfers SET state = ?") && params[0] === 2
  ) process.kill(process.pid, "SIGKILL")
  const result = run.apply(this, params as Parameters<typeof run>)
  if (armed) {
    const sql = this.sourceSQL
    if (sql.startsWith("UPDATE transfers SET state = ?") && params[0] === 2) postedInTransaction = true
    else if (sql === "ROLLBACK") postedInTransaction = false
    else if (sql === "COMMIT" && postedInTransaction) {
      postedInTransaction = false
      if (++posts >= killAtPost) process.kill(process.pid, "SIGKILL")
    }
  }
  return result
}

const scope = Scope.makeUnsafe()
const services = await Effect.runPromise(Scope.provide(scope)(Layer.build(servicesLayer(config))))
const runIn = <A, E>(effect: Effect.Effect<A, E, any>) =>
  Effect.runPromise(Effect.provideContext(effect, services as any) as Effect.Effect<A, E>)

await runIn(ensureConfiguredAccounts(config))
await runIn(deposit(config, { kind: "peer", peerId: "sender" }, 1_000_000n, newTransferId()))
const payment = await runIn(Effect.gen(function*() {
  const wallet = yield* (yield* WalletAddresses.WalletAddresses).create({ url: "https://wallet.test/crash", asset })
  return yield* (yield* IncomingPayments.IncomingPayments).create({
    walletAddressId: wallet.id,
    ...(capText === undefined ? {} : { incomingAmount: BigInt(capText) })
  })
}))
const credentials = await runIn(Effect.map(StreamCredentials.StreamCredentials, (c) =>
  c.generate({ kind: "incoming", id: payment.id }, asset)))
const build = streamMoneyPrepares(credentials, { amount: 10n, expiresInMs: 30_000 })
process.stdout.write(`${JSON.stringify({ paymentId: payment.id })}\n`)

const pipeline = Context.get(services as Context.Context<Pipeline.Pipeline>, Pipeline.Pipeline)
const source = Context.get(services as Context.Context<Peers.Peers>, Peers.Peers).byId("sender")!.account
armed = true
for (let i = 0; i < 1_000; i++) {
  const replies = await Promise.all(Array.from({ length: parallel }, () =>
    Effect.runPromise(pipeline.process({ bytes: build(), source, unfulfillable: false }))))
  for (const reply of replies) {
    if (reply.type !== 13) {
      process.stderr.write(`packet ${i} was not fulfilled: ${JSON.stringify(reply, (_, v) => typeof v === "bigint" ? `${v}` : v)}\n`)
      process.exit(2)
    }
  }
}
process.stderr.write("never killed\n")
process.exit(3)
