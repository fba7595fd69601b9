/**
 * `npm run bench`: packets per second and latency of the node, forwarding and local delivery,
 * against the limit of a raw forwarder, all on 127.0.0.1 and in one run.
 *
 * Processes: this orchestrator; the fulfilling peer (bench/peer.ts); the raw `node:http`
 * forwarder (bench/rawForwarder.ts); the node (`node src/main.ts`, embedded profile, fresh data
 * directory); and ONE load generator (bench/loadgen.ts), driven over IPC.
 *
 * Modes, all measured by the same load generator against the same peer:
 *   raw-socket  loadgen → null forwarder on a raw-socket HTTP/1.1 client → peer (the limit;
 *            bench/rawSocketForwarder.ts)
 *   raw      loadgen → raw forwarder (node:http server, undici client) → peer
 *   reference  loadgen → ilp-connector 23.0.2 + ilp-plugin-http 1.6.1, configured like the node
 *            (bench/referenceConnector.ts) → peer
 *   forward  loadgen → node (full pipeline, ledger reserve + post) → peer
 *   local    loadgen → node → local STREAM incoming payment, with receipts
 *   forward-scale  forward through a third node that has 1 000 more peers and 100 000 wallet
 *            addresses (`--scale-peers`, `--scale-wallets`), against `forward` in the same round: the
 *            cost must not grow with the node's size
 *   forward-tb, local-tb   the same against a second node whose ledger is a one-replica TigerBeetle
 *            cluster (`TIGERBEETLE_BIN`, else ../shared/tigerbeetle/tigerbeetle; started and removed
 *            by the bench; the modes are left out, loudly, when no binary is found). Reported beside
 *            embedded: each TigerBeetle mode's packets/s and p99 against its embedded twin in the same
 *            round (median of the per-round ratios).
 *   forward-tb2  forward-tb through two node instances on the same cluster and the same accounts
 *            (a second TigerBeetle node process, its own ports), the load generator's concurrency
 *            split evenly between them; CPU µs/pkt is both processes' together; printed against
 *            forward-tb of the same round (1 vs 2 instances).
 *   forward-tb-base  with --baseline: forward-tb through the baseline checkout's node, on the same
 *            cluster and accounts (added beside forward-tb when --baseline is given).
 *   forward-scale-base  with --baseline: forward-scale through the baseline checkout's node, given
 *            the same peers and wallet addresses (a scaled node before/after; "vs twin" is against
 *            forward-scale of the same round).
 * After a warm-up of each mode, rounds alternate raw, forward, local (×`--rounds`), so slow drift
 * of a noisy machine hits every mode alike. Reported: the median over rounds of packets/s, p50 and
 * p99 latency; the ratio of each mode to raw (median of the per-round ratios, each mode against the
 * raw run of the same round); the CPU time the process under test spent per packet; and the
 * node's peak RSS (VmHWM from /proc). At the end the node's books are checked against what the
 * load generator saw (every fulfill debited exactly once, nothing pending, the incoming payment
 * received exactly the local fulfills); a mismatch, or a mode that did not fulfil (nearly) every
 * packet, fails the run (exit code 1).
 *
 * Every run stops by itself: at `--packets` packets or after `--duration` ms, whichever is first;
 * the whole benchmark is bounded by `--deadline` ms, after which everything is killed.
 *
 * Options (defaults in `defaults`): --rounds N --duration MS --warmup MS --concurrency N
 * --packets N --modes raw,forward,local --json FILE --profile DIR (run the node with --cpu-prof and
 * print a self-time summary) --node-flags "FLAGS" (Node flags for the node process; default: the
 * ones the `start` script in package.json uses) --deadline MS --tb-sessions N (TIGERBEETLE_SESSIONS
 * of the TigerBeetle nodes) --profile-tb DIR (also profile the TigerBeetle node, into DIR; read it
 * with `node bench/profile.ts FILE`) --baseline DIR (a second node from
 * another checkout: modes forward-base / local-base) --baseline-node-flags "FLAGS" (that node's
 * flags, default those of the node: `--baseline . --baseline-node-flags "..."` compares flags alone)
 * --gc-pauses yes (preload bench/gcPauses.ts into every node: its main-thread GC pauses per packet).
 * Every node mode's CPU is also split by thread (main, V8 workers, other; /proc/<pid>/task), and
 * while a TigerBeetle cluster runs, the replica's CPU per packet of each run is read the same way.
 * --scale-peers N --scale-wallets N --scale-restart 1 (restart the scaled nodes on their data once
 * their wallet addresses exist: a diagnostic that separates what the node keeps from the creation
 * burst from what the data costs; off by default, since it would hide the former).
 * Environment: BENCH_NODE_LOG_DIR=DIR keeps each node's whole stdout/stderr in DIR/node-<pid>.log.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { randomBytes } from "node:crypto"
import { cpus, totalmem, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { type Child, cpuMsOf, freePort, killAll, median, memoryOf, startServerProcess, threadCpuMsOf, type ThreadCpuMs, track } from "./common.ts"
import type { PacketSpec, RunCommand, RunResult } from "./loadgen.ts"
import {
  books,
  createIncomingPayment,
  createWalletAddresses,
  deposit,
  nodeAddress,
  sinkAddress,
  startNode,
  writeConfig
} from "./nodeProcess.ts"
import { formatSummary, summarise } from "./profile.ts"
import { startTigerBeetle, tigerBeetleBinary } from "../test/support/tigerbeetle.ts"

const defaults = {
  rounds: 3,
  durationMs: 6_000,
  warmupMs: 2_000,
  concurrency: 50,
  packets: 200_000,
  distinctPackets: 20_000,
  deadlineMs: 480_000,
  modes: "raw-socket,raw,reference,forward,local,forward-tb,local-tb,forward-scale",
  scalePeers: 1_000,
  scaleWallets: 100_000
} as const

const allModes = [
  "raw-socket",
  "raw",
  "reference",
  "forward",
  "local",
  "forward-tb",
  "local-tb",
  "forward-tb2",
  "forward-scale",
  "forward-effect",
  "local-effect",
  "forward-base",
  "local-base",
  "forward-tb-base",
  "forward-scale-base"
] as const
type Mode = typeof allModes[number]

/** The yardsticks: processes other than our node, fed the same forward packets. */
const yardsticks: ReadonlyArray<Mode> = ["raw-socket", "raw", "reference"]
const isNodeMode = (mode: Mode): boolean => !yardsticks.includes(mode)

const isTigerBeetleMode = (mode: Mode): boolean => mode.endsWith("-tb") || mode === "forward-tb2"
/** Modes run against the node of another checkout (`--baseline DIR`), for before/after in one sitting. */
const isBaselineMode = (mode: Mode): boolean => mode.endsWith("-base")
/** The embedded mode a TigerBeetle or baseline mode is compared with. */
const embeddedTwin = (mode: Mode): Mode | undefined =>
  mode === "forward-tb-base" ? "forward-tb" : mode === "forward-scale-base" ? "forward-scale" : mode === "forward-tb" || mode === "forward-tb2" || mode === "forward-base" ? "forward" : mode === "local-tb" || mode === "local-base" ? "local" : undefined

interface Options {
  readonly rounds: number
  readonly durationMs: number
  readonly warmupMs: number
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
}

const parseOptions = (argv: ReadonlyArray<string>): Options => {
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
    "gc-pauses"
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
      mode === "forward" || mode === "local" || mode === "forward-tb" ? [mode, `${mode}-base`] : [mode]
    )
  }
  return {
    rounds: int("rounds", defaults.rounds, 1),
    durationMs: int("duration", defaults.durationMs, 100),
    warmupMs: int("warmup", defaults.warmupMs, 0),
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
    gcPauses: ["yes", "true", "1"].includes(values.get("gc-pauses") ?? "no")
  }
}

/**
 * The Node flags and environment `npm start` runs the node with (`"start": "exec env VAR=value node
 * <flags> src/main.ts ..."` in the package.json of the checkout at `root`), so the node under test
 * runs exactly as operators run it. A relative path in a variable (the compile cache directory) is
 * made absolute against `root`.
 */
const startScript = (root: string): { readonly flags: Array<string>; readonly env: Record<string, string> } => {
  try {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts?: Record<string, string> }
    const words = (pkg.scripts?.["start"] ?? "").split(/\s+/)
    const main = words.indexOf("src/main.ts")
    if (main < 0) return { flags: [], env: {} }
    const env: Record<string, string> = {}
    for (const word of words.slice(0, main)) {
      const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word)
      if (assignment !== null) env[assignment[1]!] = assignment[2]!.startsWith("/") ? assignment[2]! : resolve(root, assignment[2]!)
    }
    return { flags: words.slice(1, main).filter((word) => word.startsWith("--")), env }
  } catch {
    return { flags: [], env: {} }
  }
}
const repoRoot = new URL("..", import.meta.url).pathname
const startScriptFlags = (): Array<string> => startScript(repoRoot).flags

/**
 * With Node's compile cache in the start script's environment, one process that imports every
 * module of the checkout's `src/` (but `main.ts`, which would run) fills it first, so the node under
 * test starts as every start after an operator's first does: without the TypeScript stripper, also
 * for the modules a profile imports lazily (TigerBeetle, Redis, PostgreSQL).
 */
const warmCompileCache = (script: string, flags: ReadonlyArray<string>, env: Record<string, string>): void => {
  if (env["NODE_COMPILE_CACHE"] === undefined) return
  const src = join(script, "..")
  const files = (readdirSync(src, { recursive: true }) as Array<string>)
    .filter((file) => file.endsWith(".ts") && file !== "main.ts")
    .map((file) => pathToFileURL(join(src, file)).href)
  const code = `for (const file of ${JSON.stringify(files)}) await import(file)`
  execFileSync(process.execPath, [...flags, "--input-type=module", "-e", code], {
    env: { ...process.env, ...env },
    stdio: "ignore",
    timeout: 60_000
  })
}

// ---------------------------------------------------------------------------------------------
// The load generator over IPC
// ---------------------------------------------------------------------------------------------

interface LoadGen {
  readonly run: (command: RunCommand) => Promise<RunResult>
  readonly stop: () => Promise<void>
}

const startLoadGen = async (): Promise<LoadGen> => {
  const child: ChildProcess = fork(new URL("./loadgen.ts", import.meta.url).pathname, [], { stdio: ["ignore", "pipe", "pipe", "ipc"] })
  const tracked: Child = track(child)
  await new Promise<void>((resolveReady, reject) => {
    child.once("message", () => resolveReady())
    child.once("exit", (code) => reject(new Error(`load generator exited with ${code}:\n${tracked.output()}`)))
  })
  const run = (command: RunCommand) =>
    new Promise<RunResult>((resolveRun, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load generator exited with ${code}:\n${tracked.output()}`))
      child.once("exit", onExit)
      child.once("message", (message: RunResult | { type: "error"; message: string }) => {
        child.removeListener("exit", onExit)
        if (message.type === "error") reject(new Error(`load generator failed: ${message.message}`))
        else resolveRun(message)
      })
      child.send(command)
    })
  return { run, stop: () => tracked.stop(2_000) }
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

interface ModeSummary {
  readonly mode: Mode
  readonly packetsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Median over rounds of this mode's packets/s divided by raw's in the same round. */
  readonly ratioToRaw: number | undefined
  /** Median packets/s of this mode divided by raw's median packets/s. */
  readonly ratioOfMedians: number | undefined
  readonly fulfilledPercent: number
  /** Median CPU time of the process under test per packet (node, or the raw forwarder). */
  readonly cpuUsPerPacket: number | undefined
  /** TigerBeetle and baseline modes: median over rounds of packets/s and of p99 against the embedded twin's. */
  readonly vsEmbedded: { readonly packetsPerSecond: number; readonly p99: number } | undefined
  readonly rounds: ReadonlyArray<MeasuredRun>
}

/** A load-generator run plus the CPU the process under test (node or raw forwarder) spent on it. */
interface MeasuredRun extends RunResult {
  readonly cpuUsPerPacket: number | undefined
  /** Node modes: that CPU split by thread (main, V8 workers, the rest), µs per packet. */
  readonly threadsUsPerPacket?: ThreadCpuMs | undefined
  /** Node modes with `--gc-pauses yes`: the node's main-thread GC pauses, µs per packet. */
  readonly gcPauseUsPerPacket?: number | undefined
  /** While a TigerBeetle cluster runs: the replica's CPU, µs per packet of this run (whatever the mode). */
  readonly replicaCpuUsPerPacket?: number | undefined
}

type Round = Partial<Record<Mode, MeasuredRun>>

const summariseMode = (mode: Mode, rounds: ReadonlyArray<Round>): ModeSummary | undefined => {
  const runs = rounds.map((round) => round[mode]).filter((r): r is MeasuredRun => r !== undefined)
  if (runs.length === 0) return undefined
  const pps = median(runs.map((r) => r.packetsPerSecond))
  const rawRuns = rounds.map((round) => round.raw)
  const paired = rounds.flatMap((round) =>
    round[mode] !== undefined && round.raw !== undefined ? [round[mode].packetsPerSecond / round.raw.packetsPerSecond] : []
  )
  const rawMedian = median(rawRuns.filter((r): r is MeasuredRun => r !== undefined).map((r) => r.packetsPerSecond))
  const packets = runs.reduce((n, r) => n + r.packets, 0)
  const fulfilled = runs.reduce((n, r) => n + r.fulfilled, 0)
  const twin = embeddedTwin(mode)
  const pairs = twin === undefined ? [] : rounds.flatMap((round) => {
    const own = round[mode]
    const other = round[twin]
    return own === undefined || other === undefined ? [] : [{
      packetsPerSecond: own.packetsPerSecond / other.packetsPerSecond,
      p99: own.latencyMs.p99 / other.latencyMs.p99
    }]
  })
  return {
    mode,
    packetsPerSecond: pps,
    p50Ms: median(runs.map((r) => r.latencyMs.p50)),
    p99Ms: median(runs.map((r) => r.latencyMs.p99)),
    ratioToRaw: paired.length === 0 ? undefined : median(paired),
    ratioOfMedians: Number.isNaN(rawMedian) ? undefined : pps / rawMedian,
    fulfilledPercent: packets === 0 ? 0 : (100 * fulfilled) / packets,
    cpuUsPerPacket: runs.some((r) => r.cpuUsPerPacket === undefined) ?
      undefined :
      median(runs.map((r) => r.cpuUsPerPacket!)),
    vsEmbedded: pairs.length === 0 ? undefined : {
      packetsPerSecond: median(pairs.map((p) => p.packetsPerSecond)),
      p99: median(pairs.map((p) => p.p99))
    },
    rounds: runs
  }
}

const describeMode: Record<Mode, string> = {
  "raw-socket": "null forwarder, raw-socket HTTP/1.1 client → peer (the limit)",
  raw: "null forwarder, node:http server + undici client → peer",
  reference: "ilp-connector 23.0.2 + ilp-plugin-http 1.6.1 → peer",
  forward: "node → peer (pipeline + ledger)",
  local: "node → local STREAM payment",
  "forward-tb": "forward, ledger on TigerBeetle (1 replica)",
  "local-tb": "local, ledger on TigerBeetle (1 replica)",
  "forward-tb2": "forward-tb split over two node instances on the same cluster and accounts",
  "forward-scale": "forward, node with --scale-peers more peers, --scale-wallets wallet addresses",
  "forward-effect": "EXPERIMENT: forward via Effect's HTTP server",
  "local-effect": "EXPERIMENT: local via Effect's HTTP server",
  "forward-base": "forward through the --baseline checkout's node (before/after)",
  "local-base": "local through the --baseline checkout's node (before/after)",
  "forward-tb-base": "forward-tb through the --baseline checkout's node on the same cluster and accounts",
  "forward-scale-base": "forward-scale through the --baseline checkout's node, scaled the same way (before/after)"
}

const table = (summaries: ReadonlyArray<ModeSummary>, nodePeakRssMiB: number | undefined): string => {
  const header = ["mode", "packets/s", "p50 ms", "p99 ms", "vs raw", "vs twin pkt/s, p99", "CPU µs/pkt", "fulfilled", "what"]
  const rows = summaries.map((s) => [
    s.mode,
    s.packetsPerSecond.toFixed(0),
    s.p50Ms.toFixed(2),
    s.p99Ms.toFixed(2),
    s.ratioToRaw === undefined ? "-" : `${(100 * s.ratioToRaw).toFixed(0)}%`,
    s.vsEmbedded === undefined ?
      "-" :
      `${(100 * s.vsEmbedded.packetsPerSecond).toFixed(0)}%, ${s.vsEmbedded.p99.toFixed(2)}x`,
    s.cpuUsPerPacket === undefined ? "-" : s.cpuUsPerPacket.toFixed(0),
    `${s.fulfilledPercent.toFixed(1)}%`,
    describeMode[s.mode]
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    "",
    `node peak RSS: ${nodePeakRssMiB === undefined ? "n/a" : `${nodePeakRssMiB.toFixed(0)} MiB`}`
  ].join("\n")
}

/** Median over the rounds where both ran of `pick(a) / pick(b)`; undefined when they never ran together. Pure. */
const pairedRatio = (rounds: ReadonlyArray<Round>, a: Mode, b: Mode, pick: (r: MeasuredRun) => number): number | undefined => {
  const ratios = rounds.flatMap((round) => {
    const x = round[a]
    const y = round[b]
    return x === undefined || y === undefined ? [] : [pick(x) / pick(y)]
  })
  return ratios.length === 0 ? undefined : median(ratios)
}

interface Target {
  readonly what: string
  readonly value: number | undefined
  readonly goal: string
  readonly met: boolean | undefined
}

/** Issue 13's targets, each as measured in this sitting (ratios of runs in the same round). Pure. */
const targetsOf = (rounds: ReadonlyArray<Round>, nodePeakRssMiB: number | undefined): ReadonlyArray<Target> => {
  const pps = (r: MeasuredRun) => r.packetsPerSecond
  const p99 = (r: MeasuredRun) => r.latencyMs.p99
  const atLeast = (what: string, value: number | undefined, min: number): Target =>
    ({ what, value, goal: `>= ${min}`, met: value === undefined ? undefined : value >= min })
  const atMost = (what: string, value: number | undefined, max: number): Target =>
    ({ what, value, goal: `<= ${max}`, met: value === undefined ? undefined : value <= max })
  return [
    atLeast("forward / raw-socket packets/s", pairedRatio(rounds, "forward", "raw-socket", pps), 0.5),
    atLeast("forward / reference packets/s", pairedRatio(rounds, "forward", "reference", pps), 3),
    atLeast("forward-tb / forward packets/s", pairedRatio(rounds, "forward-tb", "forward", pps), 0.9),
    atMost("forward-tb / forward p99", pairedRatio(rounds, "forward-tb", "forward", p99), 1.5),
    atLeast("local / forward packets/s", pairedRatio(rounds, "local", "forward", pps), 0.9),
    atMost("forward p99 / raw-socket p99", pairedRatio(rounds, "forward", "raw-socket", p99), 2),
    atLeast("forward-scale / forward packets/s", pairedRatio(rounds, "forward-scale", "forward", pps), 0.9),
    atMost("node peak RSS MiB", nodePeakRssMiB, 150)
  ]
}

const targetsTable = (targets: ReadonlyArray<Target>): string =>
  ["targets (issue 13), measured in this sitting:", ...targets.map((t) =>
    `  ${t.what.padEnd(32)} ${t.value === undefined ? "not run".padStart(8) : t.value.toFixed(2).padStart(8)}  ${t.goal.padEnd(8)} ` +
    `${t.met === undefined ? "" : t.met ? "met" : "NOT met"}`
  )].join("\n")

const roundLine = (round: number, mode: Mode, r: MeasuredRun): string => {
  const problems = [
    ...Object.entries(r.rejectCodes).map(([code, n]) => `${n}×${code}`),
    ...Object.entries(r.failures).map(([what, n]) => `${n}×${what}`)
  ]
  return `  round ${round} ${mode.padEnd(13)} ${r.packetsPerSecond.toFixed(0).padStart(6)} pkt/s  ` +
    `p50 ${r.latencyMs.p50.toFixed(2)} ms  p99 ${r.latencyMs.p99.toFixed(2)} ms  ` +
    `${r.cpuUsPerPacket === undefined ? "" : `${r.cpuUsPerPacket.toFixed(0)} µs CPU/pkt  `}` +
    `${r.packets} packets${problems.length === 0 ? "" : `  (${problems.join(", ")})`}` +
    (r.receipts === undefined ? "" : `  receipts ${r.receipts ? "yes" : "NO"}`) +
    (r.threadsUsPerPacket === undefined && r.replicaCpuUsPerPacket === undefined ? "" : `  [${cpuParts(r).join(", ")}]`)
}

/** A run's CPU per packet by thread, GC pause and replica, as `what µs` items. Pure. */
const cpuParts = (r: Pick<MeasuredRun, "threadsUsPerPacket" | "gcPauseUsPerPacket" | "replicaCpuUsPerPacket">): Array<string> => [
  ...(r.threadsUsPerPacket === undefined ? [] : [
    `main ${r.threadsUsPerPacket.main.toFixed(0)}`,
    `V8 workers ${r.threadsUsPerPacket.v8Workers.toFixed(0)}`,
    `other threads ${r.threadsUsPerPacket.other.toFixed(0)}`
  ]),
  ...(r.gcPauseUsPerPacket === undefined ? [] : [`main-thread GC pauses ${r.gcPauseUsPerPacket.toFixed(0)}`]),
  ...(r.replicaCpuUsPerPacket === undefined ? [] : [`replica ${r.replicaCpuUsPerPacket.toFixed(0)}`])
]

/**
 * Per node mode, the medians over rounds of its CPU per packet by thread, its main-thread GC pauses
 * and the TigerBeetle replica's CPU (µs per packet), or undefined when none was measured. Pure.
 */
const cpuBreakdown = (summaries: ReadonlyArray<ModeSummary>): string | undefined => {
  const med = (runs: ReadonlyArray<MeasuredRun>, pick: (r: MeasuredRun) => number | undefined) => {
    const values = runs.map(pick)
    return values.some((v) => v === undefined) ? undefined : median(values as Array<number>)
  }
  const lines = summaries.flatMap((s) => {
    const threads = med(s.rounds, (r) => r.threadsUsPerPacket?.main)
    const parts = cpuParts({
      threadsUsPerPacket: threads === undefined ? undefined : {
        main: threads,
        v8Workers: med(s.rounds, (r) => r.threadsUsPerPacket?.v8Workers)!,
        other: med(s.rounds, (r) => r.threadsUsPerPacket?.other)!
      },
      gcPauseUsPerPacket: med(s.rounds, (r) => r.gcPauseUsPerPacket),
      replicaCpuUsPerPacket: med(s.rounds, (r) => r.replicaCpuUsPerPacket)
    })
    return parts.length === 0 ? [] : [`  ${s.mode.padEnd(16)} ${parts.join(", ")}`]
  })
  return lines.length === 0 ? undefined : ["CPU µs per packet by thread (median of rounds):", ...lines].join("\n")
}

const gitCommit = (): string | undefined => {
  try {
    const root = new URL("..", import.meta.url).pathname
    const head = readFileSync(join(root, ".git/HEAD"), "utf8").trim()
    if (!head.startsWith("ref: ")) return head
    const ref = head.slice(5)
    try {
      return readFileSync(join(root, ".git", ref), "utf8").trim()
    } catch {
      const packed = readFileSync(join(root, ".git/packed-refs"), "utf8")
      return packed.split("\n").find((l) => l.endsWith(` ${ref}`))?.split(" ")[0]
    }
  } catch {
    return undefined
  }
}

/** Mean of every `*_duration_seconds` histogram in a Prometheus text page, in ms, by metric and first label. Pure. */
const meanDurations = (text: string): Record<string, number> => {
  const sums = new Map<string, { sum: number; count: number }>()
  for (const line of text.split("\n")) {
    const match = /^(ilp_\w+)_duration_seconds_(sum|count)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line)
    if (match === null) continue
    const label = match[3]?.split(",")[0]?.replace(/^\w+="([^"]*)"$/, "$1")
    const key = `${match[1]!.replace(/^ilp_/, "")}${label === undefined || label === "" ? "" : `:${label}`}`
    const entry = sums.get(key) ?? { sum: 0, count: 0 }
    if (match[2] === "sum") entry.sum += Number(match[4]) * 1000
    else entry.count += Number(match[4])
    sums.set(key, entry)
  }
  return Object.fromEntries([...sums].filter(([, e]) => e.count > 0).map(([key, e]) => [key, e.sum / e.count]))
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

const log = (text: string) => process.stderr.write(`${text}\n`)

const main = async (options: Options) => {
  const startedAt = Date.now()
  const dir = mkdtempSync(join(tmpdir(), "ilp-bench-"))
  const stops: Array<() => Promise<void>> = []
  try {
    const peer = await startServerProcess(new URL("./peer.ts", import.meta.url).pathname, [])
    stops.push(() => peer.stop(2_000))
    const peerUrl = `http://127.0.0.1:${peer.port}/ilp`
    const raw = await startServerProcess(new URL("./rawForwarder.ts", import.meta.url).pathname, [peerUrl, "64"])
    stops.push(() => raw.stop(2_000))
    const rawSocket = options.modes.includes("raw-socket") ?
      await startServerProcess(new URL("./rawSocketForwarder.ts", import.meta.url).pathname, [peerUrl, "64"]) :
      undefined
    if (rawSocket !== undefined) stops.push(() => rawSocket.stop(2_000))
    const referenceToken = randomBytes(24).toString("hex")
    const reference = options.modes.includes("reference") ?
      await startServerProcess(new URL("./referenceConnector.ts", import.meta.url).pathname, [peerUrl, referenceToken], 60_000) :
      undefined
    if (reference !== undefined) stops.push(() => reference.stop(5_000))

    if (options.profileDir !== undefined) mkdirSync(options.profileDir, { recursive: true })
    if (options.profileTbDir !== undefined) mkdirSync(options.profileTbDir, { recursive: true })
    // The effect-http experiment runs the same node with a second ILP-over-HTTP listener on Effect's server.
    const experiment = options.modes.some((mode) => mode.endsWith("-effect"))
    const extraPort = await freePort()
    const wantsLocal = (modes: ReadonlyArray<Mode>) => modes.some((mode) => mode.startsWith("local"))

    /** One node under test (its own config, data dir and ledger), funded, with an incoming payment. */
    const startBenchNode = async (
      name: string,
      modes: ReadonlyArray<Mode>,
      env: Record<string, string>,
      extraPeers = 0,
      script?: string,
      /** A further instance on a ledger another node already funded (the shared accounts). */
      funded = false,
      nodeFlags: ReadonlyArray<string> = options.nodeFlags,
      startEnv: Record<string, string> = options.nodeEnv
    ) => {
      env = { ...startEnv, ...env }
      if (options.gcPauses) {
        nodeFlags = [...nodeFlags, "--import", new URL("./gcPauses.ts", import.meta.url).pathname]
        env = { ...env, BENCH_GC_FILE: join(dir, `${name}.gc`) }
      }
      warmCompileCache(script ?? join(repoRoot, "src/main.ts"), nodeFlags, env)
      const nodeDir = join(dir, name)
      mkdirSync(nodeDir)
      const setup = await writeConfig(nodeDir, peerUrl, extraPeers)
      const startOptions = {
        // --profile profiles the embedded node, or the TigerBeetle one when only its modes run.
        cpuProfileDir: name === profiled ?
          options.profileDir :
          name === "tigerbeetle" && options.profileTbDir !== undefined ?
          options.profileTbDir :
          undefined,
        nodeFlags,
        env,
        ...(script === undefined ? {} : { script }),
        ...(experiment && name === "embedded" ?
          { script: "bench/experiments/effectHttpNode.ts", env: { ...env, EXTRA_PORT: String(extraPort) } } :
          {})
      }
      const node = await startNode(setup, startOptions)
      stops.unshift(() => node.stop(15_000))
      if (!funded) await deposit(setup, "loadgen", 10n ** 18n)
      const stream = wantsLocal(modes) ? await createIncomingPayment(setup) : undefined
      log(`${name} node pid ${node.pid} on 127.0.0.1:${setup.connectorPort}`)
      return { name, setup, node, stream, readyRssMiB: memoryOf(node.pid)?.rssMiB, startOptions }
    }
    type BenchNode = Awaited<ReturnType<typeof startBenchNode>>
    /** The same node stopped and started again on its data (same config, ports, ledger, stores and start options). */
    const restartBenchNode = async (benchNode: BenchNode): Promise<BenchNode> => {
      await benchNode.node.stop(15_000)
      const node = await startNode(benchNode.setup, benchNode.startOptions)
      stops.unshift(() => node.stop(15_000))
      log(`${benchNode.name} node restarted on its data: pid ${node.pid}`)
      return { ...benchNode, node }
    }

    const embeddedModes = options.modes.filter((mode) =>
      !isTigerBeetleMode(mode) && !isBaselineMode(mode) && mode !== "forward-scale"
    )
    const profiled = embeddedModes.length > 0 ? "embedded" : options.modes.some(isTigerBeetleMode) ? "tigerbeetle" : "scaled"
    const tigerBeetleModes = options.modes.filter(isTigerBeetleMode)
    const embedded = await startBenchNode("embedded", embeddedModes, {})
    let tigerBeetle: BenchNode | undefined
    /** forward-tb2's second instance: same config and accounts as `tigerBeetle`, its own process and ports. */
    let tigerBeetle2: BenchNode | undefined
    /** forward-tb-base: the --baseline checkout's node on the same cluster and accounts (before/after on TigerBeetle). */
    let tigerBeetleBase: BenchNode | undefined
    /** The TigerBeetle replica, whose CPU is read around every run while it runs. */
    let replicaPid: number | undefined
    if (tigerBeetleModes.length > 0 || options.modes.includes("forward-tb-base")) {
      const cluster = await startTigerBeetle()
      stops.push(() => cluster.stop())
      replicaPid = cluster.replicas[0]?.pid
      log(`TigerBeetle (one replica) on ${cluster.addresses.join(",")}`)
      const tbEnv = {
        TIGERBEETLE_ADDRESSES: cluster.addresses.join(","),
        TIGERBEETLE_CLUSTER_ID: String(cluster.clusterId),
        ...(options.tbSessions === undefined ? {} : { TIGERBEETLE_SESSIONS: String(options.tbSessions) })
      }
      tigerBeetle = await startBenchNode("tigerbeetle", tigerBeetleModes, tbEnv)
      if (tigerBeetleModes.includes("forward-tb2")) {
        tigerBeetle2 = await startBenchNode("tigerbeetle2", ["forward-tb2"], tbEnv, 0, undefined, true)
      }
      if (options.modes.includes("forward-tb-base") && options.baselineDir !== undefined) {
        const script = join(options.baselineDir, "src/main.ts")
        tigerBeetleBase = await startBenchNode("tigerbeetle-base", ["forward-tb-base"], tbEnv, 0, script, true, options.baselineNodeFlags, options.baselineNodeEnv)
      }
    }
    const baselineModes = options.modes.filter((mode) =>
      isBaselineMode(mode) && mode !== "forward-tb-base" && mode !== "forward-scale-base"
    )
    const baseline = baselineModes.length === 0 || options.baselineDir === undefined ?
      undefined :
      await startBenchNode("baseline", baselineModes, {}, 0, join(options.baselineDir, "src/main.ts"), false, options.baselineNodeFlags, options.baselineNodeEnv)
    /**
     * A scaled node: started with `--scale-peers` more peers, then given `--scale-wallets` wallet
     * addresses through the admin API (and, with `--scale-restart 1`, restarted on its data).
     * forward-scale-base's node (the --baseline checkout's) is set up at the same time, so a
     * before/after of the scaled node costs one set-up's wall time, not two.
     */
    const setUpScaled = async (
      name: string,
      mode: Mode,
      script: string | undefined,
      nodeFlags: ReadonlyArray<string>,
      env: Record<string, string>
    ): Promise<BenchNode> => {
      let scaledNode = await startBenchNode(name, [mode], {}, options.scalePeers, script, false, nodeFlags, env)
      const started = Date.now()
      await createWalletAddresses(scaledNode.setup, options.scaleWallets)
      if (options.scaleRestart) scaledNode = await restartBenchNode(scaledNode)
      // Its RSS before the load, with its peers and wallet addresses (the creation's own peak is in VmHWM).
      scaledNode = { ...scaledNode, readyRssMiB: memoryOf(scaledNode.node.pid)?.rssMiB }
      log(`${name} node: ${options.scalePeers} more peers, ${options.scaleWallets} wallet addresses (created in ${Date.now() - started} ms)`)
      return scaledNode
    }
    const [scaled, scaledBase] = await Promise.all([
      options.modes.includes("forward-scale") ?
        setUpScaled("scaled", "forward-scale", undefined, options.nodeFlags, options.nodeEnv) :
        undefined,
      options.modes.includes("forward-scale-base") && options.baselineDir !== undefined ?
        setUpScaled("scaled-base", "forward-scale-base", join(options.baselineDir, "src/main.ts"), options.baselineNodeFlags, options.baselineNodeEnv) :
        undefined
    ])
    const benchNodes = (): Array<BenchNode> => [
      embedded,
      ...(tigerBeetle === undefined ? [] : [tigerBeetle]),
      ...(tigerBeetle2 === undefined ? [] : [tigerBeetle2]),
      ...(tigerBeetleBase === undefined ? [] : [tigerBeetleBase]),
      ...(baseline === undefined ? [] : [baseline]),
      ...(scaled === undefined ? [] : [scaled]),
      ...(scaledBase === undefined ? [] : [scaledBase])
    ]
    const nodeOf = (mode: Mode): BenchNode =>
      mode === "forward-tb-base" ? tigerBeetleBase! : mode === "forward-scale-base" ? scaledBase! : isTigerBeetleMode(mode) ? tigerBeetle! : isBaselineMode(mode) ? baseline! : mode === "forward-scale" ? scaled! : embedded
    log(`raw forwarder on :${raw.port}, peer on :${peer.port}`)

    const loadgen = await startLoadGen()
    stops.unshift(() => loadgen.stop())

    const amount = "10"
    const forwardSpec: PacketSpec = { kind: "forward", destination: `${sinkAddress}.bench`, amount }
    const localSpec = (benchNode: BenchNode): PacketSpec =>
      benchNode.stream === undefined ?
        { kind: "forward", destination: `${nodeAddress}.none`, amount } :
        {
          kind: "stream",
          destination: benchNode.stream.destination,
          sharedSecretHex: benchNode.stream.sharedSecretHex,
          amount
        }
    const packetSpec = (mode: Mode): PacketSpec => (mode.startsWith("local") ? localSpec(nodeOf(mode)) : forwardSpec)
    const urlOf = (mode: Mode): string =>
      mode === "raw" ?
        `http://127.0.0.1:${raw.port}/ilp` :
        mode === "raw-socket" ?
        `http://127.0.0.1:${rawSocket!.port}/ilp` :
        mode === "reference" ?
        `http://127.0.0.1:${reference!.port}/` :
        mode.endsWith("-effect") ?
        `http://127.0.0.1:${extraPort}/ilp` :
        `http://127.0.0.1:${nodeOf(mode).setup.connectorPort}/ilp`
    const pidsOf = (mode: Mode): ReadonlyArray<number> =>
      mode === "raw" ?
        [raw.pid] :
        mode === "raw-socket" ?
        [rawSocket!.pid] :
        mode === "reference" ?
        [reference!.pid] :
        mode === "forward-tb2" ?
        [tigerBeetle!.node.pid, tigerBeetle2!.node.pid] :
        [nodeOf(mode).node.pid]
    /** CPU ms of every process under test for `mode` (both instances for forward-tb2), or undefined. */
    const cpuMsOfMode = (mode: Mode): number | undefined => {
      const each = pidsOf(mode).map(cpuMsOf)
      return each.some((ms) => ms === undefined) ? undefined : each.reduce((a, b) => a! + b!, 0)
    }
    /** Fulfills each node gave (warm-ups included), to check its books against at the end. */
    const fulfilledBy = new Map<string, { forward: number; local: number }>(
      benchNodes().map((n) => [n.name, { forward: 0, local: 0 }])
    )
    /** The mode's node processes' threads' CPU ms, summed over its processes. */
    const threadsOfMode = (mode: Mode): ThreadCpuMs | undefined => {
      if (!isNodeMode(mode)) return undefined
      const each = pidsOf(mode).map(threadCpuMsOf)
      if (each.some((t) => t === undefined)) return undefined
      return each.reduce((a, b) => ({ main: a!.main + b!.main, v8Workers: a!.v8Workers + b!.v8Workers, other: a!.other + b!.other }))
    }
    /** The mode's nodes' main-thread GC pause ms so far (`--gc-pauses yes`), or undefined. */
    const gcPauseMsOfMode = (mode: Mode): number | undefined => {
      if (!options.gcPauses || !isNodeMode(mode)) return undefined
      const names = mode === "forward-tb2" ? [tigerBeetle!.name, tigerBeetle2!.name] : [nodeOf(mode).name]
      let total = 0
      for (const name of names) {
        try {
          total += Number(readFileSync(join(dir, `${name}.gc`), "utf8").split(" ")[0])
        } catch {
          return undefined
        }
      }
      return Number.isFinite(total) ? total : undefined
    }
    /** One run, with the CPU time the process under test spent on it (µs per packet). */
    const runMode = async (mode: Mode, durationMs: number): Promise<MeasuredRun> => {
      const cpuBefore = cpuMsOfMode(mode)
      const threadsBefore = threadsOfMode(mode)
      const gcBefore = gcPauseMsOfMode(mode)
      const replicaBefore = replicaPid === undefined ? undefined : cpuMsOf(replicaPid)
      const result = await runOnce(mode, durationMs)
      const replicaAfter = replicaPid === undefined ? undefined : cpuMsOf(replicaPid)
      // The preload writes its totals every 50 ms: wait for one write after the run.
      if (gcBefore !== undefined) await new Promise((done) => setTimeout(done, 60))
      const gcAfter = gcPauseMsOfMode(mode)
      const threadsAfter = threadsOfMode(mode)
      // The TigerBeetle nodes share one cluster and one set of accounts: their books are one.
      const booksNode = mode === "forward-tb-base" ? tigerBeetle! : nodeOf(mode)
      if (isNodeMode(mode)) fulfilledBy.get(booksNode.name)![mode.startsWith("local") ? "local" : "forward"] += result.fulfilled
      const cpuAfter = cpuMsOfMode(mode)
      const cpuUsPerPacket = cpuBefore === undefined || cpuAfter === undefined || result.packets === 0 ?
        undefined :
        ((cpuAfter - cpuBefore) * 1000) / result.packets
      const perPacket = (before: number | undefined, after: number | undefined) =>
        before === undefined || after === undefined || result.packets === 0 ? undefined : ((after - before) * 1000) / result.packets
      return {
        ...result,
        cpuUsPerPacket,
        threadsUsPerPacket: threadsBefore === undefined || threadsAfter === undefined || result.packets === 0 ? undefined : {
          main: perPacket(threadsBefore.main, threadsAfter.main)!,
          v8Workers: perPacket(threadsBefore.v8Workers, threadsAfter.v8Workers)!,
          other: perPacket(threadsBefore.other, threadsAfter.other)!
        },
        gcPauseUsPerPacket: perPacket(gcBefore, gcAfter),
        replicaCpuUsPerPacket: perPacket(replicaBefore, replicaAfter)
      }
    }
    const runOnce = (mode: Mode, durationMs: number) =>
      loadgen.run({
        type: "run",
        url: urlOf(mode),
        token: mode === "reference" ? referenceToken : nodeOf(mode).setup.loadgenToken,
        ...(mode === "forward-tb2" ?
          {
            moreTargets: [{
              url: `http://127.0.0.1:${tigerBeetle2!.setup.connectorPort}/ilp`,
              token: tigerBeetle2!.setup.loadgenToken
            }]
          } :
          {}),
        packets: packetSpec(mode),
        distinctPackets: defaults.distinctPackets,
        concurrency: options.concurrency,
        packetsMax: options.packets,
        durationMs,
        expiresInMs: 60_000 + durationMs
      })

    if (options.warmupMs > 0) {
      for (const mode of options.modes) {
        const r = await runMode(mode, options.warmupMs)
        log(`  warm-up ${mode.padEnd(13)} ${r.packetsPerSecond.toFixed(0).padStart(6)} pkt/s`)
      }
    }
    const rounds: Array<Round> = []
    for (let round = 1; round <= options.rounds; round++) {
      const results: Round = {}
      for (const mode of options.modes) {
        const r = await runMode(mode, options.durationMs)
        results[mode] = r
        log(roundLine(round, mode, r))
      }
      rounds.push(results)
    }

    // Each node's books must match what the load generator saw: every fulfilled packet debited the
    // loadgen peer its amount, nothing left pending, and the incoming payment received exactly the
    // local ones.
    const amountPerPacket = BigInt(amount)
    const checkBooks = async (benchNode: BenchNode) => {
      const fulfilled = fulfilledBy.get(benchNode.name)!
      const ledger = await books(benchNode.setup, benchNode.stream?.incomingPaymentId)
      const expectedDebits = BigInt(fulfilled.forward + fulfilled.local) * amountPerPacket
      const expectedReceived = benchNode.stream === undefined ? 0n : BigInt(fulfilled.local) * amountPerPacket
      const consistent = ledger.debitsPosted === expectedDebits && ledger.debitsPending === 0n &&
        ledger.received === expectedReceived
      log(`books of the ${benchNode.name} node: loadgen debited ${ledger.debitsPosted} (expected ${expectedDebits}), ` +
        `pending ${ledger.debitsPending}, incoming payment received ${ledger.received} (expected ${expectedReceived}): ` +
        `${consistent ? "consistent" : "MISMATCH"}`)
      return {
        consistent,
        loadgenDebitsPosted: ledger.debitsPosted.toString(),
        expectedDebits: expectedDebits.toString(),
        pending: ledger.debitsPending.toString(),
        incomingPaymentReceived: ledger.received.toString(),
        expectedReceived: expectedReceived.toString()
      }
    }
    // Where a packet waits: each node's mean ledger call latency (its /metrics histograms) against its
    // mean packet latency, over the whole sitting.
    const ledgerWaits: Record<string, Record<string, number>> = {}
    for (const benchNode of benchNodes()) {
      const text = await fetch(`http://127.0.0.1:${benchNode.setup.adminPort}/metrics`, {
        headers: { authorization: `Bearer ${benchNode.setup.adminToken}` }
      }).then((r) => r.text(), () => "")
      const means = meanDurations(text)
      ledgerWaits[benchNode.name] = means
      log(`waits on the ${benchNode.name} node (mean ms): ` +
        Object.entries(means).map(([what, ms]) => `${what} ${ms.toFixed(2)}`).join(", "))
    }
    const booksOf: Record<string, Awaited<ReturnType<typeof checkBooks>>> = {}
    // tigerbeetle2 and tigerbeetle-base share the first TigerBeetle node's accounts: its packets are counted (and checked) there.
    for (const benchNode of benchNodes().filter((n) => n !== tigerBeetle2 && n !== tigerBeetleBase)) {
      booksOf[benchNode.name] = await checkBooks(benchNode)
    }
    const booksOk = Object.values(booksOf).every((b) => b.consistent)
    if (!booksOk) process.exitCode = 1
    const node = embedded.node
    const tigerBeetleMemory = tigerBeetle === undefined ? undefined : memoryOf(tigerBeetle.node.pid)

    const nodeMemory = memoryOf(node.pid)
    const rawMemory = memoryOf(raw.pid)
    // Every node's memory: RSS when set up (before any packet), peak RSS over the sitting, RSS now.
    const nodesMemory = Object.fromEntries(benchNodes().map((n) => {
      const now = memoryOf(n.node.pid)
      return [n.name, {
        readyRssMiB: n.readyRssMiB === undefined ? null : Math.round(n.readyRssMiB),
        peakRssMiB: now === undefined ? null : Math.round(now.peakRssMiB),
        endRssMiB: now === undefined ? null : Math.round(now.rssMiB)
      }]
    }))
    const targets = targetsOf(rounds, nodeMemory?.peakRssMiB)
    const summaries = options.modes
      .map((mode) => summariseMode(mode, rounds))
      .filter((s): s is ModeSummary => s !== undefined)

    for (const stop of stops.splice(0)) await stop()
    // The TigerBeetle node logs where its transfer calls waited when it stops (LedgerTigerBeetle.ts).
    const transferRequests = tigerBeetle === undefined ?
      undefined :
      /TigerBeetle transfer requests: [^"\n]*/.exec(tigerBeetle.node.output())?.[0]
    if (transferRequests !== undefined) log(transferRequests)
    const transferRequests2 = tigerBeetle2 === undefined ?
      undefined :
      /TigerBeetle transfer requests: [^"\n]*/.exec(tigerBeetle2.node.output())?.[0]
    if (transferRequests2 !== undefined) log(`second instance: ${transferRequests2}`)
    const tbBefore = pairedRatio(rounds, "forward-tb", "forward-tb-base", (r) => r.packetsPerSecond)
    if (tbBefore !== undefined) {
      log(`this checkout against --baseline on TigerBeetle: forward-tb / forward-tb-base packets/s ${tbBefore.toFixed(2)}, ` +
        `p99 ${pairedRatio(rounds, "forward-tb", "forward-tb-base", (r) => r.latencyMs.p99)!.toFixed(2)}x (median of rounds)`)
    }
    const instances = pairedRatio(rounds, "forward-tb2", "forward-tb", (r) => r.packetsPerSecond)
    if (instances !== undefined) {
      log(`two instances on one cluster: forward-tb2 / forward-tb packets/s ${instances.toFixed(2)}, ` +
        `p99 ${pairedRatio(rounds, "forward-tb2", "forward-tb", (r) => r.latencyMs.p99)!.toFixed(2)}x (median of rounds)`)
    }

    const report = {
      benchmark: "ilp-connector packets/s and latency",
      date: new Date(startedAt).toISOString(),
      commit: gitCommit(),
      machine: {
        cpu: cpus()[0]?.model ?? "unknown",
        cores: cpus().length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: `${process.platform} ${process.arch}`
      },
      settings: { ...options, profileDir: options.profileDir !== undefined },
      results: Object.fromEntries(summaries.map((s) => [s.mode, {
        packetsPerSecond: Math.round(s.packetsPerSecond),
        p50Ms: Number(s.p50Ms.toFixed(3)),
        p99Ms: Number(s.p99Ms.toFixed(3)),
        ratioToRaw: s.ratioToRaw === undefined ? null : Number(s.ratioToRaw.toFixed(3)),
        ratioOfMedians: s.ratioOfMedians === undefined ? null : Number(s.ratioOfMedians.toFixed(3)),
        fulfilledPercent: Number(s.fulfilledPercent.toFixed(2)),
        cpuUsPerPacket: s.cpuUsPerPacket === undefined ? null : Math.round(s.cpuUsPerPacket),
        vsEmbedded: s.vsEmbedded === undefined ? null : {
          packetsPerSecond: Number(s.vsEmbedded.packetsPerSecond.toFixed(3)),
          p99: Number(s.vsEmbedded.p99.toFixed(3))
        },
        rounds: s.rounds.map((r) => ({
          packetsPerSecond: Math.round(r.packetsPerSecond),
          p50Ms: Number(r.latencyMs.p50.toFixed(3)),
          p99Ms: Number(r.latencyMs.p99.toFixed(3)),
          packets: r.packets,
          fulfilled: r.fulfilled,
          cpuUsPerPacket: r.cpuUsPerPacket === undefined ? null : Math.round(r.cpuUsPerPacket),
          ...(r.threadsUsPerPacket === undefined ? {} : {
            threadsUsPerPacket: {
              main: Math.round(r.threadsUsPerPacket.main),
              v8Workers: Math.round(r.threadsUsPerPacket.v8Workers),
              other: Math.round(r.threadsUsPerPacket.other)
            }
          }),
          ...(r.gcPauseUsPerPacket === undefined ? {} : { gcPauseUsPerPacket: Math.round(r.gcPauseUsPerPacket) }),
          ...(r.replicaCpuUsPerPacket === undefined ? {} : { replicaCpuUsPerPacket: Math.round(r.replicaCpuUsPerPacket) }),
          rejectCodes: r.rejectCodes,
          failures: r.failures,
          ...(r.receipts === undefined ? {} : { receipts: r.receipts })
        }))
      }])),
      targets,
      books: booksOf,
      meanWaitMs: ledgerWaits,
      tigerBeetleTransferRequests: transferRequests ?? null,
      nodePeakRssMiB: nodeMemory === undefined ? null : Math.round(nodeMemory.peakRssMiB),
      tigerBeetleNodePeakRssMiB: tigerBeetleMemory === undefined ? null : Math.round(tigerBeetleMemory.peakRssMiB),
      rawForwarderPeakRssMiB: rawMemory === undefined ? null : Math.round(rawMemory.peakRssMiB),
      nodesMemory,
      elapsedSeconds: Math.round((Date.now() - startedAt) / 1000)
    }

    process.stdout.write(`\n${table(summaries, nodeMemory?.peakRssMiB)}\n`)
    const breakdown = cpuBreakdown(summaries)
    if (breakdown !== undefined) process.stdout.write(`${breakdown}\n`)
    process.stdout.write(`memory of each node (RSS MiB when set up / peak over the sitting / at the end): ${
      Object.entries(nodesMemory).map(([name, m]) => `${name} ${m.readyRssMiB ?? "?"} / ${m.peakRssMiB ?? "?"} / ${m.endRssMiB ?? "?"}`).join(", ")
    }; raw forwarder peak ${rawMemory === undefined ? "?" : Math.round(rawMemory.peakRssMiB)}\n\n${targetsTable(targets)}\n`)
    process.stdout.write(`node flags: ${options.nodeFlags.length === 0 ? "(none)" : options.nodeFlags.join(" ")}; ` +
      `env: ${Object.entries(options.nodeEnv).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)"}; ` +
      (options.baselineDir === undefined ? "" : `baseline node flags: ${options.baselineNodeFlags.join(" ") || "(none)"}, ` +
        `env: ${Object.entries(options.baselineNodeEnv).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)"}; `) +
      `concurrency ${options.concurrency}; ${options.rounds} rounds of ${options.durationMs} ms; ${report.machine.cores} × ${report.machine.cpu}\n\n`)
    process.stdout.write(`${JSON.stringify(report)}\n`)
    if (options.json !== undefined) writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`)

    if (options.profileDir !== undefined) {
      const files = readdirSync(options.profileDir).filter((f) => f.endsWith(".cpuprofile")).sort()
      const latest = files.at(-1)
      if (latest === undefined) log("no .cpuprofile was written")
      else {
        const path = join(options.profileDir, latest)
        process.stdout.write(`\nCPU profile of the node: ${path}\n${formatSummary(summarise(JSON.parse(readFileSync(path, "utf8"))))}\n`)
      }
    }

    const broken = summaries.filter((s) => s.fulfilledPercent < 99 || s.rounds.some((r) => r.receipts === false))
    if (broken.length > 0) {
      log(`FAILED: ${broken.map((s) => s.mode).join(", ")} did not fulfil (nearly) every packet or returned no receipts`)
      process.exitCode = 1
    }
  } finally {
    for (const stop of stops) await stop().catch(() => undefined)
    killAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

const options = (() => {
  try {
    return parseOptions(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`)
    process.exit(2)
  }
})()

process.on("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}
const deadline = setTimeout(() => {
  log(`benchmark exceeded its deadline of ${options.deadlineMs} ms; stopping everything`)
  killAll()
  process.exit(1)
}, options.deadlineMs)
deadline.unref()

main(options).then(
  () => clearTimeout(deadline),
  (error: unknown) => {
    log(`benchmark failed: ${(error as Error)?.stack ?? String(error)}`)
    killAll()
    process.exitCode = 1
  }
)
