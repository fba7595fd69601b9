/**
 * Command-line entry point. Composition only: parse the command, load the configuration, start the
 * node with the layers it picks, run until SIGINT/SIGTERM (which closes everything gracefully).
 */
import { NodeRuntime } from "@effect/platform-node"
import * as AuditCli from "./Accounting/audit-cli.ts"
import { Cause, Effect, Exit, Runtime } from "effect"
import { loadConfig } from "./Config.ts"
import { start } from "./Node.ts"
import { operatorUsage, runOperatorCommand } from "./OperatorCli.ts"

const usage = `Usage: npm start -- [options]     (or: node src/main.ts start [options])

Commands:
  start                 run a node (default)
  help, --help, -h      show this help
  audit --db <file>     check the embedded ledger's invariants (safe while the node runs);
                        exit 0 clean, 1 violations, 2 could not run
  <operator command>    talk to a running node's admin API (see below)

Options:
  --config <file>       JSON configuration file (also CONFIG_FILE); see examples/config.json

Environment (overrides the file):
  ILP_ADDRESS           this node's ILP address            (default test.connector)
  HOST                  address to bind                    (default 127.0.0.1)
  CONNECTOR_PORT        ILP-over-HTTP port                 (default 3002)
  ADMIN_PORT            operator API port                  (default 3001)
  ADMIN_TOKEN           operator API bearer token
  DATA_DIR              where the embedded stores live     (default ./data)
  STREAM_SECRET         32-byte STREAM server secret, hex
  REDIS_URL             production receipt totals in Redis (else SQLite in DATA_DIR)
  TIGERBEETLE_ADDRESSES, TIGERBEETLE_CLUSTER_ID   production ledger (else SQLite in DATA_DIR)
  MIN_MESSAGE_WINDOW_MS / MAX_HOLD_TIME_MS   expiry settings (defaults 1000 / 30000)
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

const operatorCommands = new Set(["health", "peers", "assets", "rates", "balances", "deposit", "withdraw"])

const main = async (argv: ReadonlyArray<string>) => {
  const first = argv[0]
  if (first === "audit") {
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
  const program = loadConfig(args.configPath).pipe(
    Effect.flatMap((config) => start(config)),
    Effect.andThen(Effect.never),
    Effect.scoped,
    Effect.catchTag("ConfigError", (error) =>
      Effect.sync(() => {
        process.stderr.write(`${error.message}\n`)
        process.exitCode = 1
      }))
  )
  NodeRuntime.runMain(program, { teardown })
}

void main(process.argv.slice(2))
