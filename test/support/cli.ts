/** Runs one operator command in-process against an admin API, capturing what it prints. */
import { runOperatorCommand } from "../../src/OperatorCli.ts"

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
