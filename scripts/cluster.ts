/**
 * `npm run cluster`: the production profile on loopback, to try several instances. Starts a
 * TigerBeetle replica (`TIGERBEETLE_BIN`, else ../shared/tigerbeetle/tigerbeetle), Redis,
 * PostgreSQL (Debian postgresql 15, or `POSTGRES_BIN_DIR`) and two node instances sharing them,
 * each from a generated config file; prints their URLs and a first payment to paste; stops
 * everything it started on Ctrl-C (SIGINT) or SIGTERM, and removes its temp files.
 *
 * The servers are started with the test helpers (test/support/): the same code the integration
 * tests run, so what you try here is what `npm test` checks.
 */
import { type Deployment, startDeployment } from "../test/support/deployment.ts"
import { tigerBeetleBinary } from "../test/support/tigerbeetle.ts"

const usd = { code: "USD", scale: 2 }

const main = async () => {
  if (tigerBeetleBinary() === undefined) {
    process.stderr.write(
      "no TigerBeetle server binary: set TIGERBEETLE_BIN or put it at ../shared/tigerbeetle/tigerbeetle\n"
    )
    process.exitCode = 2
    return
  }
  process.stdout.write("starting TigerBeetle, Redis, PostgreSQL and two instances (this takes a while)...\n")
  let deployment: Deployment | undefined
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    process.stdout.write(`\n${signal}: stopping the instances, then TigerBeetle, Redis and PostgreSQL...\n`)
    await deployment?.stop()
    process.stdout.write("stopped; temp files removed\n")
    process.exit(0)
  }
  process.on("SIGINT", () => void stop("SIGINT"))
  process.on("SIGTERM", () => void stop("SIGTERM"))
  deployment = await startDeployment({ config: { ilpAddress: "test.cluster", assets: [usd] } })
  if (stopping) return
  const [a, b] = deployment.instances as [(typeof deployment.instances)[0], (typeof deployment.instances)[0]]
  for (const instance of deployment.instances) {
    const prefix = `[${instance.name}] `
    const echo = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim() !== "") process.stdout.write(`${prefix}${line}\n`)
    }
    instance.process.child.stdout?.on("data", echo)
    instance.process.child.stderr?.on("data", echo)
  }
  const token = deployment.adminToken
  const pick = `node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).id'`
  const post = (instance: typeof a, path: string, body: string) =>
    `curl -sf -H "authorization: Bearer $T" -H 'content-type: application/json' -X POST ${instance.adminUrl}${path} -d '${body}'`
  process.stdout.write(`
Two instances share TigerBeetle (${deployment.tigerbeetle.addresses.join(",")}), Redis and PostgreSQL:

  instance  ILP-over-HTTP                      SPSP                         operator API
  A         ${a.ilpUrl.padEnd(33)}  ${a.spspUrl.padEnd(27)}  ${a.adminUrl}
  B         ${b.ilpUrl.padEnd(33)}  ${b.spspUrl.padEnd(27)}  ${b.adminUrl}

Admin token: ${token}   (config files: ${a.configFile}, ${b.configFile}; mode 0600)

A first payment, paste into a shell: an incoming payment made through A, paid from a wallet through B,
read back through A (any instance serves any resource):

T=${token}
ALICE=$(${post(a, "/wallet-addresses", `{"url":"${a.spspUrl}/alice","asset":{"code":"USD","scale":2}}`)} | ${pick})
BOB=$(${post(b, "/wallet-addresses", `{"url":"${a.spspUrl}/bob","asset":{"code":"USD","scale":2}}`)} | ${pick})
${post(a, "/wallet-addresses/$ALICE/deposit", `{"amount":"10000"}`)}; echo
IP=$(${post(a, "/incoming-payments", `{"walletAddressId":"'$BOB'","incomingAmount":"2500"}`)} | ${pick})
Q=$(${post(b, "/quotes", `{"walletAddressId":"'$ALICE'","receiver":{"incomingPaymentId":"'$IP'"}}`)} | ${pick})
OP=$(${post(b, "/outgoing-payments", `{"quoteId":"'$Q'"}`)} | ${pick})
sleep 2; curl -s -H "authorization: Bearer $T" ${a.adminUrl}/outgoing-payments/$OP; echo
curl -s -H "authorization: Bearer $T" ${a.adminUrl}/incoming-payments/$IP; echo

Ctrl-C stops everything.
`)
}

main().catch((error: unknown) => {
  process.stderr.write(`cluster: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})
