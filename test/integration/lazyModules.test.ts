/**
 * Start-up memory (issue 13): the embedded node loads only what it needs. A real `node src/main.ts`
 * process on the embedded profile (SQLite, no Redis, PostgreSQL or TigerBeetle configured), with a
 * module hook preloaded through NODE_OPTIONS that writes every module the process loaded when it
 * exits. Once up (and after an SPSP request), it must not have loaded the production profile's
 * clients (tigerbeetle-node, ioredis, @effect/sql-pg / pg), the Open Payments OpenAPI validators
 * (@interledger/openapi, @interledger/open-payments: loaded on the first Open Payments request that
 * validates, covered by test/OpenPayments/receiving.test.ts), nor `@interledger/pay` (loaded by the
 * first quote or payment, covered by the sending tests), nor the redis client that the
 * `@effect/platform-node` barrel drags in; and it must have loaded what it does need (the check
 * would pass vacuously otherwise). No timing: it waits for /healthz and for the process to exit.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { type NodeProcess, startNodeProcess } from "../support/process.ts"
import { freePorts } from "../support/ports.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

const adminToken = "lazy-modules-admin-token-0001"

let dir: string | undefined
let node: NodeProcess | undefined

afterAll(async () => {
  await node?.kill("SIGKILL")
  if (dir !== undefined) removeTempDir(dir)
})

const hook = (outFile: string) => `
import { registerHooks } from "node:module"
import { writeFileSync } from "node:fs"
const loaded = new Set()
registerHooks({ load(url, context, nextLoad) { loaded.add(url); return nextLoad(url, context) } })
process.on("exit", () => writeFileSync(${JSON.stringify(outFile)}, JSON.stringify([...loaded])))
`

/** Loaded from a package (`node_modules/<name>/`) or this repository's `src/<path>`. */
const loadedFrom = (urls: ReadonlyArray<string>, where: string): boolean =>
  urls.some((url) => url.includes(`/node_modules/${where}/`) || url.endsWith(`/src/${where}`))

describe("the embedded node's start", () => {
  it("loads no production-profile client and no OpenAPI validator", async () => {
    dir = makeTempDir("ilp-lazy-")
    const [connectorPort, adminPort, openPaymentsPort] = (await freePorts(3)) as [number, number, number]
    const configFile = join(dir, "config.json")
    writeFileSync(configFile, JSON.stringify({
      ilpAddress: "test.lazy",
      connectorPort,
      adminPort,
      openPaymentsPort,
      adminToken,
      dataDir: join(dir, "data"),
      peers: [{ id: "a", asset: { code: "USD", scale: 2 }, incomingTokens: ["lazy-modules-peer-token-0001"], staticIlpAddress: "test.a" }]
    }))
    const hookFile = join(dir, "hook.mjs")
    const outFile = join(dir, "loaded.json")
    writeFileSync(hookFile, hook(outFile))
    node = await startNodeProcess(["--config", configFile], `http://127.0.0.1:${adminPort}/healthz`, {
      NODE_OPTIONS: `--import ${pathToFileURL(hookFile).href}`
    })
    // The public port answers (SPSP: no such wallet address) without loading the validators.
    const spsp = await fetch(`http://127.0.0.1:${openPaymentsPort}/nobody`, { headers: { accept: "application/spsp4+json" } })
    expect(spsp.status).toBe(404)
    await node.kill("SIGTERM")
    const loaded = JSON.parse(readFileSync(outFile, "utf8")) as Array<string>

    // What the embedded node needs is loaded (so the hook saw the node's modules)...
    for (const needed of ["effect", "Http/IlpOverHttp.ts", "Accounting/LedgerSqlite.ts", "Payments/StoreSqlite.ts"]) {
      expect(loadedFrom(loaded, needed), needed).toBe(true)
    }
    // ...and none of what it does not.
    for (const lazy of [
      "tigerbeetle-node",
      "ioredis",
      "@effect/sql-pg",
      "pg",
      "@redis/client",
      "@interledger/openapi",
      "@interledger/open-payments",
      "@interledger/pay",
      "Accounting/LedgerTigerBeetle.ts",
      "Redis.ts",
      "Store/Postgres.ts",
      "Accounting/audit-cli.ts"
    ]) {
      expect(loadedFrom(loaded, lazy), lazy).toBe(false)
    }
    // src imports effect by module path (`effect/Effect`, `effect/http/HttpRouter`, ...): the
    // barrels (`effect`, `effect/http`, `effect/http-api`, `effect/sql`) would load every module of
    // the package and keep their source in the heap (~13 MiB of RSS, docs/performance/memory.md).
    for (const barrel of ["dist/index.js", "dist/http/index.js", "dist/http-api/index.js", "dist/sql/index.js"]) {
      expect(loaded.filter((url) => url.endsWith(`/node_modules/effect/${barrel}`)), barrel).toEqual([])
    }
  })
})
