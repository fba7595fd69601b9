/**
 * The console's routes on the admin listener, over a real socket: the page and its modules are
 * served from the node (vendor modules from node_modules), with a policy that allows scripts only
 * from the node and the page's own import map; `node.json` needs the admin token.
 */
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Config from "../../../src/Config.ts"
import { contentSecurityPolicy } from "../../../src/Http/Console/Console.ts"
import { type AdminServer, startAdminServer } from "../../support/adminServer.ts"

const adminToken = "console-admin-token-000000001"
let server: AdminServer

beforeAll(async () => {
  const config = await Effect.runPromise(Config.decodeConfig({
    host: "127.0.0.1",
    adminPort: 0,
    connectorPort: 0,
    dataDir: ":memory:",
    ilpAddress: "test.console",
    adminToken,
    assets: [{ code: "USD", scale: 2 }]
  }, {}))
  server = await startAdminServer(config)
})

afterAll(() => server?.close())

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${server.baseUrl}${path}`, { headers })

describe("console routes", () => {
  it("serves the page at /console and /console/ with a strict policy whose hash is the page's import map", async () => {
    for (const path of ["/console", "/console/"]) {
      const response = await get(path)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toContain("text/html")
      expect(response.headers.get("cache-control")).toBe("no-store")
      expect(response.headers.get("x-frame-options")).toBe("DENY")
      const policy = response.headers.get("content-security-policy")!
      expect(policy).toBe(contentSecurityPolicy)
      expect(policy).toContain("default-src 'none'")
      expect(policy).toContain("connect-src 'self'")
      expect(policy).not.toContain("unsafe-inline")
      const html = await response.text()
      const importMap = /<script type="importmap">(.*?)<\/script>/s.exec(html)?.[1]
      expect(importMap).toBeDefined()
      const hash = createHash("sha256").update(importMap!, "utf8").digest("base64")
      expect(policy).toContain(`'sha256-${hash}'`)
      // Every module the import map names is served by the node itself.
      for (const url of Object.values(JSON.parse(importMap!).imports as Record<string, string>)) {
        expect(url.startsWith("/console/vendor/")).toBe(true)
        const module = await get(url)
        expect(module.status, url).toBe(200)
        expect(module.headers.get("content-type")).toContain("text/javascript")
      }
      // No other inline script, nothing from another origin.
      expect(html.match(/<script/g)).toHaveLength(2)
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//)
    }
  })

  it("serves the app's modules and stylesheet, and nothing outside them", async () => {
    for (const path of ["/console/app.js", "/console/pages/payments.js", "/console/amounts.js"]) {
      const response = await get(path)
      expect(response.status, path).toBe(200)
      expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
      expect(response.headers.get("x-content-type-options")).toBe("nosniff")
    }
    expect((await get("/console/console.css")).headers.get("content-type")).toBe("text/css; charset=utf-8")
    for (const path of ["/console/amounts.d.ts", "/console/index.html", "/console/../package.json", "/console/%2e%2e/package.json", "/console/nope.js"]) {
      expect((await get(path)).status, path).toBe(404)
    }
  })

  it("answers node.json only with the admin token", async () => {
    expect((await get("/console/node.json")).status).toBe(401)
    expect((await get("/console/node.json", { authorization: "Bearer wrong-token-000000000000" })).status).toBe(401)
    expect((await get("/console/node.json", { authorization: `Bearer ${adminToken}x` })).status).toBe(401)
    expect((await get("/console/node.json", { authorization: adminToken })).status).toBe(401)
    const response = await get("/console/node.json", { authorization: `Bearer ${adminToken}` })
    expect(response.status).toBe(200)
    expect(response.headers.get("cache-control")).toBe("no-store")
    expect(await response.json()).toEqual({
      ilpAddress: "test.console",
      profile: "embedded",
      ledger: "sqlite",
      receiptTotals: "sqlite"
    })
  })

  it("leaves the API as it was", async () => {
    expect((await get("/healthz")).status).toBe(200)
    expect((await get("/balances")).status).toBe(401)
    expect((await get("/balances", { authorization: `Bearer ${adminToken}` })).status).toBe(200)
  })
})
