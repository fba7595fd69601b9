/**
 * Preload (`node --expose-gc --import ./bench/experiments/moduleTrace.ts ...`) for
 * `startupMemory.ts`: records every module the process loads (through `module.registerHooks`) and,
 * on SIGUSR2, writes `{ packages, files, memory }` to `$MODULE_TRACE_FILE` (memory after a full GC
 * when `--expose-gc` is given). Measurement only; never loaded by the node itself.
 */
import { registerHooks } from "node:module"
import { writeFileSync } from "node:fs"

const loaded = new Set<string>()
/** The module that first imported each one (for "who pulls this package in"). */
const parents = new Map<string, string>()
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context)
    if (context.parentURL !== undefined && !parents.has(resolved.url)) parents.set(resolved.url, context.parentURL)
    return resolved
  },
  load(url, context, nextLoad) {
    loaded.add(url)
    return nextLoad(url, context)
  }
})

/** `node_modules/@scope/name/...` → `@scope/name`; a file of this repository → `(repo) src/...`. */
const packageOf = (url: string): string => {
  const at = url.lastIndexOf("/node_modules/")
  if (at < 0) return url.startsWith("node:") ? "(builtin)" : `(repo) ${url.replace(/^.*?\/(src|bench|test)\//, "$1/")}`
  const parts = url.slice(at + "/node_modules/".length).split("/")
  return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!
}

process.on("SIGUSR2", () => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const memory = process.memoryUsage()
  const packages: Record<string, number> = {}
  for (const url of loaded) {
    const name = packageOf(url)
    if (!name.startsWith("(repo)")) packages[name] = (packages[name] ?? 0) + 1
  }
  const file = process.env["MODULE_TRACE_FILE"]
  if (file !== undefined) {
    // For each package, the chain of first importers from the entry point to its first file.
    const chains: Record<string, Array<string>> = {}
    for (const url of loaded) {
      const name = packageOf(url)
      if (name.startsWith("(") || chains[name] !== undefined) continue
      const chain: Array<string> = []
      for (let at: string | undefined = url; at !== undefined && chain.length < 12; at = parents.get(at)) {
        const owner = packageOf(at)
        if (chain.at(-1) !== owner) chain.push(owner)
      }
      chains[name] = chain.reverse()
    }
    writeFileSync(file, JSON.stringify({ packages, chains, files: [...loaded], memory }))
  }
})
