/**
 * `bin/ilp-connector` runs the node as `npm start` does: the same V8 flags (so an operator who
 * starts the node through the bin script gets the memory behaviour docs/performance/memory.md
 * measured), and it actually runs on the pinned Node.
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { describe, expect, it } from "vitest"

const root = resolve(import.meta.dirname, "..")
const flagsOf = (words: ReadonlyArray<string>) => {
  const main = words.findIndex((word) => word.endsWith("src/main.ts") || word.endsWith("src/main.ts\""))
  // A preload is `--import=./src/...` in package.json (npm runs it from the package root) and
  // `--import="$here/src/..."` in the bin script: the same file.
  return words.slice(0, main).filter((word) => word.startsWith("--")).map((word) => word.replace(/^(--[a-z-]+=)"?(?:\$here\/|\.\/)([^"]*)"?$/, "$1$2"))
}

describe("bin/ilp-connector", () => {
  it("passes the start script's V8 flags", () => {
    const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8")) as { scripts: Record<string, string> }
    const startFlags = flagsOf(pkg.scripts["start"]!.split(/\s+/))
    const execLine = readFileSync(resolve(root, "bin/ilp-connector"), "utf8").split("\n").find((line) => line.startsWith("exec "))!
    expect(startFlags.length).toBeGreaterThan(0)
    expect(flagsOf(execLine.split(/\s+/))).toEqual(startFlags)
  })

  it("sets the start script's malloc tunables", () => {
    const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8")) as { scripts: Record<string, string> }
    const tunables = /\bGLIBC_TUNABLES=(\S+)/.exec(pkg.scripts["start"]!)?.[1]
    expect(tunables).toBe("glibc.malloc.mmap_threshold=32768")
    const exported = readFileSync(resolve(root, "bin/ilp-connector"), "utf8").split("\n").find((line) => line.startsWith("export GLIBC_TUNABLES="))
    expect(exported).toBe(`export GLIBC_TUNABLES="${tunables}\${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"`)
  })

  it("runs the command line on the pinned Node", () => {
    const result = spawnSync(resolve(root, "bin/ilp-connector"), ["--help"], { encoding: "utf8", timeout: 60_000 })
    expect(result.status).toBe(0)
    expect(result.stdout + result.stderr).toContain("start")
  })
})
