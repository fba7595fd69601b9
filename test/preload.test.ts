/**
 * src/preload.ts (`npm start`'s `--import`): an ES-module import of `node:http` builds its namespace
 * from every export, and three of them are getters that load Node's bundled undici (+13 MiB of RSS
 * in an empty process; docs/performance/memory.md, "Peak RSS under load"). With the preload the
 * import must not load it, and `node:http` must still work. Without it the same import does load it
 * (if a Node upgrade stops that, this test says the preload can go).
 */
import { spawnSync } from "node:child_process"
import { resolve } from "node:path"
import { describe, expect, it } from "vitest"

const root = resolve(import.meta.dirname, "..")
const probe = `import * as http from "node:http"
const server = http.createServer((_, res) => res.end("ok"))
await new Promise((r) => server.listen(0, "127.0.0.1", r))
server.close()
process.stdout.write(JSON.stringify({ undici: process.moduleLoadList.some((m) => m.includes("undici")), webSocket: typeof http.WebSocket }))`

const run = (flags: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [...flags, "--input-type=module", "-e", probe], { cwd: root, encoding: "utf8", timeout: 60_000 })
  expect(result.status, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as { undici: boolean; webSocket: string }
}

describe("src/preload.ts", () => {
  it("keeps an ES-module import of node:http from loading undici", () => {
    expect(run(["--import=./src/preload.ts"])).toEqual({ undici: false, webSocket: "undefined" })
  })

  it("is needed: without it the same import loads undici", () => {
    expect(run([]).undici).toBe(true)
  })
})
