/**
 * `npm run bench`: packets per second and latency of the node, forwarding and local delivery,
 * against the limit of a raw forwarder, all on 127.0.0.1 and in one run.
 *
 * Processes: this orchestrator; the fulfilling peer (bench/peer.ts); the raw `node:http`
 * forwarder (bench/rawForwarder.ts); the node (`node src/main.ts`, embedded profile, fresh data
 * directory); and ONE load generator (bench/loadgen.ts), driven over IPC.
 *
 * Modes, all measured by the same load generator against the same peer:
 *   raw      loadgen → raw forwarder → peer                                   (the limit)
 *   forward  loadgen → node (full pipeline, ledger reserve + post) → peer
 *   local    loadgen → node → local STREAM incoming payment, with receipts
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
 * ones the `start` script in package.json uses) --deadline MS.
 */
import { type ChildProcess, fork } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, totalmem, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { type Child, cpuMsOf, freePort, killAll, median, memoryOf, startServerProcess, track } from "./common.ts"
import type { PacketSpec, RunCommand, RunResult } from "./loadgen.ts"
import { books, createIncomingPayment, deposit, nodeAddress, sinkAddress, startNode, type StreamTarget, writeConfig } from "./nodeProcess.ts"
import { formatSummary, summarise } from "./profile.ts"

const defaults = {
  rounds: 3,
  durationMs: 6_000,
  warmupMs: 2_000,
  concurrency: 50,
  packets: 200_000,
  distinctPackets: 20_000,
  deadlineMs: 170_000,
  modes: "raw,forward,local"
} as const

const allModes = ["raw", "forward", "local", "forward-effect", "local-effect"] as const
type Mode = typeof allModes[number]

interface Options {
  readonly rounds: number
  readonly durationMs: number
  readonly warmupMs: number
  readonly concurrency: number
  readonly packets: number
  readonly deadlineMs: number
  readonly modes: ReadonlyArray<Mode>
  readonly json: string | undefined
  readonly profileDir: string | undefined
  /** Extra V8/Node flags for the node under test (e.g. "--max-semi-space-size=16"). */
  readonly nodeFlags: ReadonlyArray<string>
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
  const known = new Set(["rounds", "duration", "warmup", "concurrency", "packets", "deadline", "modes", "json", "profile", "node-flags"])
  for (const key of values.keys()) if (!known.has(key)) throw new Error(`unknown option --${key}`)
  const int = (key: string, fallback: number, min: number) => {
    const text = values.get(key)
    if (text === undefined) return fallback
    const n = Number(text)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${key} must be an integer >= ${min}`)
    return n
  }
  const modes = (values.get("modes") ?? defaults.modes).split(",").map((m) => m.trim())
  for (const mode of modes) if (!(allModes as ReadonlyArray<string>).includes(mode)) throw new Error(`unknown mode ${mode}`)
  const profile = values.get("profile")
  return {
    rounds: int("rounds", defaults.rounds, 1),
    durationMs: int("duration", defaults.durationMs, 100),
    warmupMs: int("warmup", defaults.warmupMs, 0),
    concurrency: int("concurrency", defaults.concurrency, 1),
    packets: int("packets", defaults.packets, 1),
    deadlineMs: int("deadline", defaults.deadlineMs, 1_000),
    modes: modes as Array<Mode>,
    json: values.get("json"),
    profileDir: profile === undefined ? undefined : resolve(profile),
    nodeFlags: values.has("node-flags") ?
      values.get("node-flags")!.split(" ").filter((flag) => flag !== "") :
      startScriptFlags()
  }
}

/**
 * The Node flags `npm start` runs the node with (`"start": "node <flags> src/main.ts ..."` in
 * package.json), so the node under test runs exactly as operators run it.
 */
const startScriptFlags = (): Array<string> => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { scripts?: Record<string, string> }
    const words = (pkg.scripts?.["start"] ?? "").split(/\s+/)
    const main = words.indexOf("src/main.ts")
    return main < 0 ? [] : words.slice(1, main).filter((word) => word.startsWith("--"))
  } catch {
    return []
  }
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
  readonly rounds: ReadonlyArray<MeasuredRun>
}

/** A load-generator run plus the CPU the process under test (node or raw forwarder) spent on it. */
interface MeasuredRun extends RunResult {
  readonly cpuUsPerPacket: number | undefined
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
    rounds: runs
  }
}

const describeMode: Record<Mode, string> = {
  raw: "raw node:http forwarder → peer (limit)",
  forward: "node → peer (pipeline + ledger)",
  local: "node → local STREAM payment",
  "forward-effect": "EXPERIMENT: forward via Effect's HTTP server",
  "local-effect": "EXPERIMENT: local via Effect's HTTP server"
}

const table = (summaries: ReadonlyArray<ModeSummary>, nodePeakRssMiB: number | undefined): string => {
  const header = ["mode", "packets/s", "p50 ms", "p99 ms", "vs raw", "CPU µs/pkt", "fulfilled", "what"]
  const rows = summaries.map((s) => [
    s.mode,
    s.packetsPerSecond.toFixed(0),
    s.p50Ms.toFixed(2),
    s.p99Ms.toFixed(2),
    s.ratioToRaw === undefined ? "-" : `${(100 * s.ratioToRaw).toFixed(0)}%`,
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

const roundLine = (round: number, mode: Mode, r: MeasuredRun): string => {
  const problems = [
    ...Object.entries(r.rejectCodes).map(([code, n]) => `${n}×${code}`),
    ...Object.entries(r.failures).map(([what, n]) => `${n}×${what}`)
  ]
  return `  round ${round} ${mode.padEnd(13)} ${r.packetsPerSecond.toFixed(0).padStart(6)} pkt/s  ` +
    `p50 ${r.latencyMs.p50.toFixed(2)} ms  p99 ${r.latencyMs.p99.toFixed(2)} ms  ` +
    `${r.cpuUsPerPacket === undefined ? "" : `${r.cpuUsPerPacket.toFixed(0)} µs CPU/pkt  `}` +
    `${r.packets} packets${problems.length === 0 ? "" : `  (${problems.join(", ")})`}` +
    (r.receipts === undefined ? "" : `  receipts ${r.receipts ? "yes" : "NO"}`)
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

    const setup = await writeConfig(dir, peerUrl)
    if (options.profileDir !== undefined) mkdirSync(options.profileDir, { recursive: true })
    // The effect-http experiment runs the same node with a second ILP-over-HTTP listener on Effect's server.
    const experiment = options.modes.some((mode) => mode.endsWith("-effect"))
    const extraPort = await freePort()
    const node = await startNode(setup, {
      cpuProfileDir: options.profileDir,
      nodeFlags: options.nodeFlags,
      ...(experiment ? { script: "bench/experiments/effectHttpNode.ts", env: { EXTRA_PORT: String(extraPort) } } : {})
    })
    stops.unshift(() => node.stop(15_000))
    await deposit(setup, "loadgen", 10n ** 18n)
    const stream: StreamTarget | undefined = options.modes.some((mode) => mode.startsWith("local")) ?
      await createIncomingPayment(setup) :
      undefined
    log(`node pid ${node.pid} on 127.0.0.1:${setup.connectorPort}, raw forwarder on :${raw.port}, peer on :${peer.port}`)

    const loadgen = await startLoadGen()
    stops.unshift(() => loadgen.stop())

    const amount = "10"
    const forwardSpec: PacketSpec = { kind: "forward", destination: `${sinkAddress}.bench`, amount }
    const localSpec: PacketSpec = stream === undefined ?
      { kind: "forward", destination: `${nodeAddress}.none`, amount } :
      { kind: "stream", destination: stream.destination, sharedSecretHex: stream.sharedSecretHex, amount }
    const packetSpec: Record<Mode, PacketSpec> = {
      raw: forwardSpec,
      forward: forwardSpec,
      local: localSpec,
      "forward-effect": forwardSpec,
      "local-effect": localSpec
    }
    const urls: Record<Mode, string> = {
      raw: `http://127.0.0.1:${raw.port}/ilp`,
      forward: `http://127.0.0.1:${setup.connectorPort}/ilp`,
      local: `http://127.0.0.1:${setup.connectorPort}/ilp`,
      "forward-effect": `http://127.0.0.1:${extraPort}/ilp`,
      "local-effect": `http://127.0.0.1:${extraPort}/ilp`
    }
    const pidOf = (mode: Mode) => (mode === "raw" ? raw.pid : node.pid)
    /** Fulfills the node gave (warm-ups included), to check its books against at the end. */
    const fulfilledByNode = { forward: 0, local: 0 }
    /** One run, with the CPU time the process under test spent on it (µs per packet). */
    const runMode = async (mode: Mode, durationMs: number): Promise<MeasuredRun> => {
      const cpuBefore = cpuMsOf(pidOf(mode))
      const result = await runOnce(mode, durationMs)
      if (mode !== "raw") fulfilledByNode[mode.startsWith("local") ? "local" : "forward"] += result.fulfilled
      const cpuAfter = cpuMsOf(pidOf(mode))
      const cpuUsPerPacket = cpuBefore === undefined || cpuAfter === undefined || result.packets === 0 ?
        undefined :
        ((cpuAfter - cpuBefore) * 1000) / result.packets
      return { ...result, cpuUsPerPacket }
    }
    const runOnce = (mode: Mode, durationMs: number) =>
      loadgen.run({
        type: "run",
        url: urls[mode],
        token: setup.loadgenToken,
        packets: packetSpec[mode],
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

    // The books must match what the load generator saw: every fulfilled packet debited the loadgen
    // peer its amount, nothing left pending, and the incoming payment received exactly the local ones.
    const amountPerPacket = BigInt(amount)
    const ledger = await books(setup, stream?.incomingPaymentId)
    const expectedDebits = BigInt(fulfilledByNode.forward + fulfilledByNode.local) * amountPerPacket
    const expectedReceived = stream === undefined ? 0n : BigInt(fulfilledByNode.local) * amountPerPacket
    const booksOk = ledger.debitsPosted === expectedDebits && ledger.debitsPending === 0n && ledger.received === expectedReceived
    log(`books: loadgen debited ${ledger.debitsPosted} (expected ${expectedDebits}), pending ${ledger.debitsPending}, ` +
      `incoming payment received ${ledger.received} (expected ${expectedReceived}): ${booksOk ? "consistent" : "MISMATCH"}`)
    if (!booksOk) process.exitCode = 1

    const nodeMemory = memoryOf(node.pid)
    const rawMemory = memoryOf(raw.pid)
    const summaries = options.modes
      .map((mode) => summariseMode(mode, rounds))
      .filter((s): s is ModeSummary => s !== undefined)

    for (const stop of stops.splice(0)) await stop()

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
        rounds: s.rounds.map((r) => ({
          packetsPerSecond: Math.round(r.packetsPerSecond),
          p50Ms: Number(r.latencyMs.p50.toFixed(3)),
          p99Ms: Number(r.latencyMs.p99.toFixed(3)),
          packets: r.packets,
          fulfilled: r.fulfilled,
          cpuUsPerPacket: r.cpuUsPerPacket === undefined ? null : Math.round(r.cpuUsPerPacket),
          rejectCodes: r.rejectCodes,
          failures: r.failures,
          ...(r.receipts === undefined ? {} : { receipts: r.receipts })
        }))
      }])),
      books: {
        consistent: booksOk,
        loadgenDebitsPosted: ledger.debitsPosted.toString(),
        expectedDebits: expectedDebits.toString(),
        pending: ledger.debitsPending.toString(),
        incomingPaymentReceived: ledger.received.toString(),
        expectedReceived: expectedReceived.toString()
      },
      nodePeakRssMiB: nodeMemory === undefined ? null : Math.round(nodeMemory.peakRssMiB),
      rawForwarderPeakRssMiB: rawMemory === undefined ? null : Math.round(rawMemory.peakRssMiB),
      elapsedSeconds: Math.round((Date.now() - startedAt) / 1000)
    }

    process.stdout.write(`\n${table(summaries, nodeMemory?.peakRssMiB)}\n`)
    process.stdout.write(`node flags: ${options.nodeFlags.length === 0 ? "(none)" : options.nodeFlags.join(" ")}; ` +
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
