/**
 * Command-line entry point. Composition only: parse the command, load the configuration, start the
 * node with the layers it picks, run until SIGINT/SIGTERM (which closes everything gracefully).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import { flushCompileCache } from "node:module"
import { join } from "node:path"
import { hashToken, loadConfig, type NodeConfig } from "./Config.ts"
import * as DataDir from "./DataDir.ts"
import { welcome } from "./FirstRun.ts"
import * as Logging from "./Logging.ts"
import { start } from "./Node.ts"
import { operatorUsage, runOperatorCommand } from "./OperatorCli.ts"

const usage = `Usage: npm start -- [options]            run a node (Ctrl-C / SIGINT / SIGTERM stop it)
       npm run cli -- <command> [options]    any command below, on the pinned Node 24
       (also: bin/ilp-connector <command>, or node_modules/.bin/node src/main.ts <command>)

Commands:
  start                 run a node (default)
  help, --help, -h      show this help
  audit --db <file>     check the embedded ledger's invariants (safe while the node runs);
  audit --tigerbeetle <host:port,...> [--cluster-id <id>]
                        the same for a TigerBeetle cluster, every balance explained by its
                        transfers (without --db: TIGERBEETLE_ADDRESSES / TIGERBEETLE_CLUSTER_ID);
                        exit 0 clean, 1 violations, 2 could not run
  hash-token            read a token on stdin, print its sha256:<hex> digest (incomingTokens, adminToken)
                        (npm run hash-token)
  <operator command>    talk to a running node's admin API (see below)

Options:
  --config <file>       configuration file, JSON with comments (also CONFIG_FILE);
                        every field explained: examples/config.annotated.jsonc

Environment (overrides the file; these are all the variables the node reads):
  CONFIG_FILE           configuration file (as --config)
  ILP_ADDRESS           this node's ILP address            (default test.connector)
  HOST                  address the public listeners bind  (default 127.0.0.1)
  ADMIN_HOST            address the operator API binds     (default 127.0.0.1, whatever HOST is)
  CONNECTOR_PORT        ILP-over-HTTP port, for peers      (default 3002)
  OPEN_PAYMENTS_PORT    SPSP / Open Payments port, public  (default 3003)
  ADMIN_PORT            operator API port                  (default 3001)
  METRICS_OPEN          true: GET /metrics without the admin token (default false)
  OPENAPI_OPEN          true: GET /openapi.json and /docs without the admin token (default false)
  ADMIN_TOKEN           operator API bearer token          (default: generated on the first
                        start into DATA_DIR/admin-token, mode 0600, and printed once)
  DATA_DIR              where the embedded stores live     (default ./data; made 0700)
  STREAM_SECRET         32-byte STREAM server secret, hex  (default: generated into DATA_DIR)
  REDIS_URL             production: receipt totals and rate limits in Redis (else SQLite/memory)
  TIGERBEETLE_ADDRESSES production ledger: the cluster's replicas, comma-separated host:port
                        (else SQLite in DATA_DIR)
  TIGERBEETLE_CLUSTER_ID  its cluster id                   (default 0)
  TIGERBEETLE_SESSIONS  most client sessions, opened on demand (1..16, default 1;
                        a replica admits 32 connected clients, shared by all instances)
  MIN_MESSAGE_WINDOW_MS expiry: time kept for the way back (default 1000)
  MAX_HOLD_TIME_MS      expiry: longest hold of a forwarded packet (default 30000)
  DATABASE_URL          production: wallet addresses and payments in PostgreSQL (else SQLite);
                        needs STREAM_SECRET, the same on every instance
  OPEN_PAYMENTS_URL     public origin of the Open Payments port (default http://HOST:OPEN_PAYMENTS_PORT)
  OPEN_PAYMENTS_PRIVATE_KEY   the node's Open Payments client key, base64 of an Ed25519 PKCS#8 PEM
                        (else generated once into DATA_DIR/open-payments-key.pem)
  OPEN_PAYMENTS_KEY_ID  its key id in the published JWKS   (default node-key-1)
  WEBHOOK_URLS          events are POSTed to these URLs, comma-separated (webhooks.urls; default none)
  WEBHOOK_SECRET        HMAC-SHA256 key of the Webhook-Signature header (webhooks.secret; needed
                        with WEBHOOK_URLS; at least 16 characters)
  (operator commands also read ADMIN_URL; see below)

With TIGERBEETLE_ADDRESSES or REDIS_URL (the production profile) the node refuses to start with
any secret from examples/.
`

interface Arguments {
  readonly command: string
  readonly configPath: string | undefined
}

const startArguments = (argv: ReadonlyArray<string>): Arguments | string => {
  let command = "start"
  let configPath = process.env.CONFIG_FILE || undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--help" || arg === "-h" || arg === "help") command = "help"
    else if (arg === "--config") {
      configPath = argv[++i]
      if (configPath === undefined) return "--config needs a file name"
    } else if (arg === "start") command = "start"
    else return `unknown argument: ${arg}`
  }
  return { command, configPath }
}

/**
 * Exit codes: 0 after a clean run or a graceful SIGINT/SIGTERM shutdown (the interruption is how
 * the runtime stops us), the code set by the program (1 for a bad config), else the runtime's.
 */
const teardown: Runtime.Teardown = (exit, onExit) => {
  if (Exit.isSuccess(exit)) return onExit(Number(process.exitCode ?? 0))
  if (Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
  return Runtime.defaultTeardown(exit, onExit)
}

/**
 * Without a configured admin token (and with a data directory), the node uses the one kept in
 * `<dataDir>/admin-token`, generating it on the first start (`firstRun`: print it once).
 */
interface Startup {
  readonly config: NodeConfig
  readonly firstRun: { readonly token: string; readonly file: string } | undefined
}

const withAdminToken = (config: NodeConfig): Effect.Effect<Startup, DataDir.DataDirError> =>
  config.adminToken !== undefined || config.dataDir === ":memory:" ?
    Effect.succeed<Startup>({ config, firstRun: undefined }) :
    Effect.map(DataDir.ensureAdminToken(config.dataDir), ({ file, generated, token }): Startup => ({
      config: { ...config, adminToken: Redacted.make(token, { label: "admin token" }) },
      firstRun: generated ? { token, file } : undefined
    })).pipe(Effect.tap(({ firstRun }) =>
      firstRun === undefined ? Effect.logInfo(`admin token: kept in ${join(config.dataDir, DataDir.adminTokenFile)}`) : Effect.void
    ))

/** Reads a token on stdin, prints its digest for `incomingTokens` (`sha256:<hex>`). */
const hashTokenCommand = async (): Promise<number> => {
  if (process.stdin.isTTY) process.stderr.write("token (then Enter, Ctrl-D): ")
  const chunks: Array<Buffer> = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const token = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "")
  if (token.length < 16 || token.length > 512) {
    process.stderr.write("error: a token has 16 to 512 characters (give it on stdin)\n")
    return 2
  }
  process.stdout.write(`sha256:${hashToken(token)}\n`)
  return 0
}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ")

const messageOf = (defect: unknown): string => {
  const message = (defect as Error)?.message
  return typeof message === "string" && message !== "" ? message : String(defect)
}

const operatorCommands = new Set([
  "health",
  "peers",
  "assets",
  "rates",
  "balances",
  "deposit",
  "withdraw",
  "complete-incoming-payment",
  "cancel-incoming-payment",
  "events",
  "cancel-outgoing-payment",
  "wallet-addresses",
  "incoming-payments",
  "quotes",
  "outgoing-payments"
])

const main = async (argv: ReadonlyArray<string>) => {
  const first = argv[0]
  if (first === "hash-token") {
    process.exitCode = await hashTokenCommand()
    return
  }
  if (first === "audit") {
    // Imported for this command only: it loads both ledgers' modules (TigerBeetle's client too).
    const AuditCli = await import("./Accounting/audit-cli.ts")
    process.exitCode = await AuditCli.main(argv.slice(1))
    return
  }
  if (first !== undefined && operatorCommands.has(first)) {
    process.exitCode = await runOperatorCommand(first, argv.slice(1), process.env)
    return
  }
  const args = startArguments(argv)
  if (typeof args === "string") {
    process.stderr.write(`${args}\n\n${usage}`)
    process.exitCode = 2
    return
  }
  if (args.command === "help") {
    process.stdout.write(`${usage}\n${operatorUsage}`)
    return
  }
  // A node that cannot start says why in one line (the listener or path and the cause), exit 1.
  const startupFailure = (error: { readonly message: string }) =>
    Effect.sync(() => {
      process.stderr.write(`${oneLine(error.message)}\n`)
      process.exitCode = 1
    })
  const program = loadConfig(args.configPath).pipe(
    Effect.flatMap(withAdminToken),
    Effect.flatMap(({ config, firstRun }) =>
      start(config).pipe(
        Effect.tap((node) =>
          firstRun === undefined ?
            Effect.void :
            Effect.sync(() => process.stdout.write(welcome(config, node, firstRun.token, firstRun.file)))
        ),
        // With Node's compile cache on (`npm start`, bin/ilp-connector: NODE_COMPILE_CACHE), write
        // what this start compiled now, not only at exit: the next start then needs no TypeScript
        // stripper even if this process is killed (a no-op without the cache).
        Effect.tap(() => Effect.sync(flushCompileCache)),
        Effect.catchDefect((defect) => Effect.fail({ _tag: "StartupDefect" as const, message: `start-up failed: ${messageOf(defect)}` }))
      )
    ),
    Effect.andThen(Effect.never),
    Effect.scoped,
    Effect.catchTags({
      ConfigError: startupFailure,
      ListenError: startupFailure,
      DataDirError: startupFailure,
      StartupDefect: startupFailure,
      DataDirInUse: (error) => startupFailure({ message: `refusing to start: ${error.message}` })
    }),
    // A store unreachable at start (TigerBeetle, Redis) or accounts it refused.
    Effect.catch((error) => startupFailure({ message: `start-up failed: ${error._tag}: ${messageOf(error)}` }))
  )
  // Repeated warnings are counted per interval, not written one line each (Logging.ts).
  NodeRuntime.runMain(program.pipe(Effect.provide(Logging.layer())), { teardown })
}

void main(process.argv.slice(2))
