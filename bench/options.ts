/**
 * `npm run bench` options: parsing, defaults, and the Node flags and environment of the start
 * script the node under test runs with. Every option is listed in `run.ts`'s header.
 */
import { readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { tigerBeetleBinary } from "../test/support/tigerbeetle.ts"
import { allModes, isBaselineMode, isTigerBeetleMode, type Mode } from "./modes.ts"

export const defaults = {
  rounds: 5,
  durationMs: 4_000,
  warmupMs: 8_000,
  /** Each mode's warm-up stops at this many packets (or at `warmupMs`, whichever is first). */
  warmupPackets: 60_000,
  concurrency: 50,
  packets: 200_000,
  distinctPackets: 20_000,
  deadlineMs: 480_000,
  modes: "raw-socket,raw,reference,forward,local,local-capped,forward-tb,local-tb,forward-scale",
  scalePeers: 1_000,
  scaleWallets: 100_000
} as const

export interface Options {
  readonly rounds: number
  readonly durationMs: number
  readonly warmupMs: number
  /**
   * A mode's warm-up run stops at `warmupPackets` packets or after `warmupMs`, whichever is first:
   * a fresh node's CPU per packet settles after ~50 000 packets (V8's optimising compiler, lazily
   * loaded modules), and a warm-up by time gave a fast process fewer of them than a slow one.
   */
  readonly warmupPackets: number
  readonly concurrency: number
  readonly packets: number
  readonly deadlineMs: number
  /** The scale mode's node: peers beyond the two every node has, and wallet addresses. */
  readonly scalePeers: number
  readonly scaleWallets: number
  /** Restart the scaled nodes on their data once their wallet addresses are created (`--scale-restart 1`). */
  readonly scaleRestart: boolean
  readonly modes: ReadonlyArray<Mode>
  readonly json: string | undefined
  readonly profileDir: string | undefined
  /** Extra V8/Node flags for the node under test (e.g. "--max-semi-space-size=16"). */
  readonly nodeFlags: ReadonlyArray<string>
  /** Another checkout of this repository (with its own node_modules) whose node runs the `-base` modes. */
  readonly baselineDir: string | undefined
  /** --profile-tb DIR: also profile the TigerBeetle node, into DIR (to compare with the embedded one in one sitting). */
  readonly profileTbDir: string | undefined
  /** TIGERBEETLE_SESSIONS of the TigerBeetle nodes (the node's default when absent). */
  readonly tbSessions: number | undefined
  /** Node flags of the baseline node (default: `nodeFlags`); with `--baseline .` an A/B of flags alone. */
  readonly baselineNodeFlags: ReadonlyArray<string>
  /** Environment of the start script (`env VAR=value` before `node`), for the node and the baseline node. */
  readonly nodeEnv: Record<string, string>
  readonly baselineNodeEnv: Record<string, string>
  /** --gc-pauses yes: preload bench/gcPauses.ts into every node to report its main-thread GC pauses per packet. */
  readonly gcPauses: boolean
  /**
   * --replica-cpu N: the TigerBeetle replica alone on CPU N, the bench and every other process on
   * the other CPUs (as in production, where the cluster has machines of its own).
   */
  readonly replicaCpu: number | undefined
}

export const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const values = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`)
    const value = argv[i + 1]
    if (value === undefined) throw new Error(`${arg} needs a value`)
    values.set(arg.slice(2), value)
    i++
  }
  const known = new Set([
    "rounds",
    "duration",
    "warmup",
    "warmup-packets",
    "concurrency",
    "packets",
    "deadline",
    "modes",
    "json",
    "profile",
    "profile-tb",
    "node-flags",
    "scale-peers",
    "scale-wallets",
    "scale-restart",
    "baseline",
    "tb-sessions",
    "baseline-node-flags",
    "gc-pauses",
    "replica-cpu"
  ])
  for (const key of values.keys()) if (!known.has(key)) throw new Error(`unknown option --${key}`)
  const int = (key: string, fallback: number, min: number) => {
    const text = values.get(key)
    if (text === undefined) return fallback
    const n = Number(text)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${key} must be an integer >= ${min}`)
    return n
  }
  let modes = (values.get("modes") ?? defaults.modes).split(",").map((m) => m.trim())
  for (const mode of modes) if (!(allModes as ReadonlyArray<string>).includes(mode)) throw new Error(`unknown mode ${mode}`)
  if (modes.some((mode) => isTigerBeetleMode(mode as Mode)) && tigerBeetleBinary() === undefined) {
    process.stderr.write(
      "\n*** TigerBeetle modes SKIPPED: no server binary (set TIGERBEETLE_BIN or put it at ../shared/tigerbeetle/tigerbeetle) ***\n\n"
    )
    modes = modes.filter((mode) => !isTigerBeetleMode(mode as Mode))
  }
  const profile = values.get("profile")
  const baseline = values.get("baseline")
  if (modes.some((mode) => isBaselineMode(mode as Mode)) && baseline === undefined) {
    throw new Error("the -base modes need --baseline DIR (a checkout of the commit to compare with, with node_modules)")
  }
  if (baseline !== undefined && !modes.some((mode) => isBaselineMode(mode as Mode))) {
    modes = modes.flatMap((mode) =>
      mode === "forward" || mode === "local" || mode === "local-capped" || mode === "forward-tb" ? [mode, `${mode}-base`] : [mode]
    )
  }
  return {
    rounds: int("rounds", defaults.rounds, 1),
    durationMs: int("duration", defaults.durationMs, 100),
    warmupMs: int("warmup", defaults.warmupMs, 0),
    warmupPackets: int("warmup-packets", defaults.warmupPackets, 1),
    concurrency: int("concurrency", defaults.concurrency, 1),
    packets: int("packets", defaults.packets, 1),
    deadlineMs: int("deadline", defaults.deadlineMs, 1_000),
    scalePeers: int("scale-peers", defaults.scalePeers, 0),
    scaleWallets: int("scale-wallets", defaults.scaleWallets, 0),
    scaleRestart: int("scale-restart", 0, 0) > 0,
    modes: modes as Array<Mode>,
    json: values.get("json"),
    profileDir: profile === undefined ? undefined : resolve(profile),
    nodeFlags: values.has("node-flags") ?
      values.get("node-flags")!.split(" ").filter((flag) => flag !== "") :
      startScriptFlags(),
    baselineDir: baseline === undefined ? undefined : resolve(baseline),
    profileTbDir: values.has("profile-tb") ? resolve(values.get("profile-tb")!) : undefined,
    tbSessions: values.has("tb-sessions") ? Number(values.get("tb-sessions")) : undefined,
    // The baseline runs as its own checkout's start script runs it, unless flags are given.
    baselineNodeFlags: values.has("baseline-node-flags") ?
      values.get("baseline-node-flags")!.split(" ").filter((flag) => flag !== "") :
      values.has("node-flags") ?
      values.get("node-flags")!.split(" ").filter((flag) => flag !== "") :
      baseline === undefined ? startScriptFlags() : startScript(resolve(baseline)).flags,
    nodeEnv: startScript(repoRoot).env,
    baselineNodeEnv: baseline === undefined ? {} : startScript(resolve(baseline)).env,
    gcPauses: ["yes", "true", "1"].includes(values.get("gc-pauses") ?? "no"),
    replicaCpu: values.has("replica-cpu") ? int("replica-cpu", 0, 0) : undefined
  }
}

/**
 * The Node flags and environment `npm start` runs the node with (`"start": "exec env VAR=value node
 * <flags> src/main.ts ..."` in the package.json of the checkout at `root`), so the node under test
 * runs exactly as operators run it. A relative path in a variable (a value with a `/` not at its
 * start: the compile cache directory) is made absolute against `root`; other values (e.g.
 * `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768`) are kept as they are.
 */
export const startScript = (root: string): { readonly flags: Array<string>; readonly env: Record<string, string> } => {
  try {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts?: Record<string, string> }
    const words = (pkg.scripts?.["start"] ?? "").split(/\s+/)
    const main = words.indexOf("src/main.ts")
    if (main < 0) return { flags: [], env: {} }
    const env: Record<string, string> = {}
    for (const word of words.slice(0, main)) {
      const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word)
      if (assignment === null) continue
      const value = assignment[2]!
      env[assignment[1]!] = value.includes("/") && !value.startsWith("/") ? resolve(root, value) : value
    }
    // A preload given by a relative path (`--import=./src/preload.ts`) is the checkout's own.
    const flags = words.slice(1, main).filter((word) => word.startsWith("--")).map((flag) => {
      const preload = /^(--import|--require)=(\.{1,2}\/.*)$/.exec(flag)
      return preload === null ? flag : `${preload[1]}=${resolve(root, preload[2]!)}`
    })
    return { flags, env }
  } catch {
    return { flags: [], env: {} }
  }
}
export const repoRoot = new URL("..", import.meta.url).pathname
export const startScriptFlags = (): Array<string> => startScript(repoRoot).flags
