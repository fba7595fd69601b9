/**
 * The operator console (issue 12): a single-page app on the admin listener at `/console`.
 *
 * The page is a client of the operator API and nothing else: it holds the admin token the operator
 * types on its sign-in form in `sessionStorage` (this tab only, never in a URL), and sends it as the
 * bearer token of every API call, so it can do exactly what the token can do through the API. This
 * module only serves files, plus `GET /console/node.json` (the node's address and profile, which the
 * API does not expose), guarded by the same admin token.
 *
 * Stack: Preact + htm as plain ES modules, served from `node_modules` by this module (no build step,
 * no CDN, nothing fetched from the network). Every file is read once when the routes are built and
 * served from memory, so the set of served paths is fixed and bounded by what ships in `static/`.
 *
 * Headers: a Content-Security-Policy that allows scripts only from this origin (plus the hash of the
 * inline import map), connections only to this origin, and no framing; `no-store` on the page and on
 * `node.json`, `no-cache` (revalidate) on scripts and styles.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { createHash, timingSafeEqual } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { adminTokenDigest, type NodeConfig } from "../../Config.ts"

export const consolePath = "/console" as const

const staticDir = fileURLToPath(new URL("./static/", import.meta.url))

/** Third-party ES modules the page imports by bare name, mapped to where this module serves them. */
const vendorModules: ReadonlyArray<{ readonly specifier: string; readonly file: string }> = [
  { specifier: "preact", file: "preact.mjs" },
  { specifier: "preact/hooks", file: "preact-hooks.mjs" },
  { specifier: "htm", file: "htm.mjs" }
]

const contentTypes: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml"
}

const extensionOf = (name: string): string => name.slice(name.lastIndexOf("."))

const importMap = JSON.stringify({
  imports: Object.fromEntries(vendorModules.map((module) => [module.specifier, `${consolePath}/vendor/${module.file}`]))
})

const sha256Base64 = (text: string): string => createHash("sha256").update(text, "utf8").digest("base64")

/** The page's security policy: scripts from this origin and the import map only; API calls to this origin. */
export const contentSecurityPolicy = [
  "default-src 'none'",
  `script-src 'self' 'sha256-${sha256Base64(importMap)}'`,
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'"
].join("; ")

const commonHeaders = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY"
}

/** The page: the import map inline (its hash is in the policy), everything else from files. */
const indexHtml = (): string =>
  readFileSync(`${staticDir}index.html`, "utf8").replace("<!--IMPORT_MAP-->", `<script type="importmap">${importMap}</script>`)

interface ServedFile {
  readonly path: `/${string}`
  readonly body: Uint8Array
  readonly contentType: string
}

/** Files under `static/` (recursively) with a served extension; the page itself is served separately. */
const staticFiles = (): ReadonlyArray<ServedFile> =>
  readdirSync(staticDir, { recursive: true, encoding: "utf8" })
    .filter((name) => contentTypes[extensionOf(name)] !== undefined)
    .map((name) => ({
      path: `${consolePath}/${name.split("\\").join("/")}`,
      body: readFileSync(`${staticDir}${name}`),
      contentType: contentTypes[extensionOf(name)]!
    }))

const vendorFiles = (): ReadonlyArray<ServedFile> =>
  vendorModules.map((module) => ({
    path: `${consolePath}/vendor/${module.file}`,
    body: readFileSync(fileURLToPath(import.meta.resolve(module.specifier))),
    contentType: contentTypes[".mjs"]!
  }))

const fileRoute = (file: ServedFile) =>
  HttpRouter.add(
    "GET",
    file.path,
    HttpServerResponse.uint8Array(file.body, {
      contentType: file.contentType,
      headers: { ...commonHeaders, "cache-control": "no-cache" }
    })
  )

/** What the overview shows about the node that the API does not: its address and profile. */
export const nodeInfo = (config: NodeConfig) => ({
  ilpAddress: config.ilpAddress,
  profile: config.tigerbeetle === undefined && config.redisUrl === undefined ? "embedded" : "production",
  ledger: config.tigerbeetle === undefined ? "sqlite" : "tigerbeetle",
  receiptTotals: config.redisUrl === undefined ? "sqlite" : "redis"
})

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/** Whether the request's bearer token is the admin token (digests compared in constant time). Pure. */
export const bearerMatches = (expectedDigest: Buffer | undefined, header: string | undefined): boolean =>
  expectedDigest !== undefined && header !== undefined && header.startsWith("Bearer ") &&
  header.length > "Bearer ".length && timingSafeEqual(expectedDigest, sha256(header.slice("Bearer ".length)))

const nodeInfoRoute = (config: NodeConfig) => {
  const expected = adminTokenDigest(config)
  const headers = { ...commonHeaders, "cache-control": "no-store" }
  return HttpRouter.add("GET", `${consolePath}/node.json`, (request: HttpServerRequest.HttpServerRequest) =>
    bearerMatches(expected, request.headers["authorization"]) ?
      HttpServerResponse.json(nodeInfo(config), { headers }).pipe(Effect.orDie) :
      Effect.succeed(HttpServerResponse.jsonUnsafe(
        { _tag: "Unauthorized", message: "missing or invalid admin token" },
        { status: 401, headers }
      )))
}

/**
 * Every console route, to merge into the admin server's routes. Reads the files when built: a
 * missing file (a broken install) fails the node at start, not at the first page view.
 */
export const routes = (config: NodeConfig) =>
  Layer.unwrap(Effect.sync(() => {
    const html = indexHtml()
    const page = HttpServerResponse.text(html, {
      contentType: "text/html; charset=utf-8",
      headers: { ...commonHeaders, "cache-control": "no-store" }
    })
    return Layer.mergeAll(
      // The router treats `/console/` as `/console`.
      HttpRouter.add("GET", consolePath, page),
      nodeInfoRoute(config),
      ...[...staticFiles(), ...vendorFiles()].map(fileRoute)
    )
  }))
