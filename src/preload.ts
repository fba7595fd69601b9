/**
 * Preloaded by `npm start` and `bin/ilp-connector` (`--import=src/preload.ts`), before the node's
 * modules are linked. `node:http` has three lazy getters (`WebSocket`, `CloseEvent`,
 * `MessageEvent`) that load Node's bundled undici; the first ES-module `import` of `node:http`
 * (ours and @effect/platform-node's) reads every export to build its namespace, so it loaded undici
 * (~760 KB of source and more: +13 MiB of RSS in an empty process) for nothing. They are removed
 * from `node:http` (nothing in the node uses them; `globalThis.WebSocket` and the `undici` package
 * are unaffected), so the namespace has them as undefined and undici stays unloaded.
 * docs/performance/memory.md, "Peak RSS under load".
 */
import { createRequire } from "node:module"

const http = createRequire(import.meta.url)("node:http") as Record<string, unknown>
for (const name of ["WebSocket", "CloseEvent", "MessageEvent"]) {
  const descriptor = Object.getOwnPropertyDescriptor(http, name)
  if (descriptor?.get !== undefined && descriptor.configurable === true) delete http[name]
}
