/** Runs one operator command in-process against an admin API, capturing what it prints. */
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as Config from "../../src/Config.ts"
import { runOperatorCommand } from "../../src/OperatorCli.ts"
import { type AdminServer, startAdminServer } from "./adminServer.ts"

const cliUsd = { code: "USD", scale: 2 } as const

export interface CliRun {
  readonly code: number
  readonly out: string
  readonly err: string
  /** The output parsed as JSON, when it is JSON (`--json`). */
  readonly json: any
}

export const runCli = async (
  adminUrl: string,
  adminToken: string,
  command: string,
  args: ReadonlyArray<string>
): Promise<CliRun> => {
  const out: Array<string> = []
  const err: Array<string> = []
  const code = await runOperatorCommand(command, args, { ADMIN_URL: adminUrl, ADMIN_TOKEN: adminToken }, {
    out: (text) => out.push(text),
    err: (text) => err.push(text)
  })
  const text = out.join("\n")
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { code, out: text, err: err.join("\n"), json }
}

/**
 * An admin API on 127.0.0.1 (in-memory stores, USD) with `extra` config fields, started before the
 * file's tests and closed after them, and `run` for operator commands against it.
 */
export const cliAgainstAdminServer = (adminToken: string, extra: Record<string, unknown> = {}) => {
  let server: AdminServer | undefined
  beforeAll(async () => {
    server = await startAdminServer(await Effect.runPromise(Config.decodeConfig({
      host: "127.0.0.1",
      adminPort: 0,
      connectorPort: 0,
      dataDir: ":memory:",
      adminToken,
      assets: [cliUsd],
      ...extra
    }, {})))
  })
  afterAll(() => server?.close())
  return (command: string, args: ReadonlyArray<string>) => runCli(server!.baseUrl, adminToken, command, args)
}
