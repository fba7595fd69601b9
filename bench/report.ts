/**
 * What a sitting reports: each mode's summary over its rounds, the ratios of runs in the same
 * round, issue 13's targets, and the text and JSON the bench prints. Pure but for `gitCommit`.
 */
import { readFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { join } from "node:path"
import { median, type ThreadCpuMs } from "./common.ts"
import { disturbedAboveCores, type MachineReading, machineParts, type RoundMachine } from "./machine.ts"
import type { RunResult } from "./loadgen.ts"
import { describeMode, embeddedTwin, type Mode } from "./modes.ts"
import type { Options } from "./options.ts"

export interface ModeSummary {
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
export interface MeasuredRun extends RunResult {
  readonly cpuUsPerPacket: number | undefined
  /** Node modes: that CPU split by thread (main, V8 workers, the rest), µs per packet. */
  readonly threadsUsPerPacket?: ThreadCpuMs | undefined
  /** Node modes with `--gc-pauses yes`: the node's main-thread GC pauses, µs per packet. */
  readonly gcPauseUsPerPacket?: number | undefined
  /** While a TigerBeetle cluster runs: the replica's CPU, µs per packet of this run (whatever the mode). */
  readonly replicaCpuUsPerPacket?: number | undefined
  /** What the machine did during the run (`machine.ts`): the CPU probe, other load, steal, preemptions. */
  readonly machine?: MachineReading | undefined
}

export type Round = Partial<Record<Mode, MeasuredRun>>

export const summariseMode = (mode: Mode, rounds: ReadonlyArray<Round>): ModeSummary | undefined => {
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


export const table = (summaries: ReadonlyArray<ModeSummary>, nodePeakRssMiB: number | undefined): string => {
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
export const pairedRatio = (rounds: ReadonlyArray<Round>, a: Mode, b: Mode, pick: (r: MeasuredRun) => number): number | undefined => {
  const ratios = rounds.flatMap((round) => {
    const x = round[a]
    const y = round[b]
    return x === undefined || y === undefined ? [] : [pick(x) / pick(y)]
  })
  return ratios.length === 0 ? undefined : median(ratios)
}

export interface Target {
  readonly what: string
  readonly value: number | undefined
  readonly goal: string
  readonly met: boolean | undefined
}

/** Issue 13's targets, each as measured in this sitting (ratios of runs in the same round). Pure. */
export const targetsOf = (rounds: ReadonlyArray<Round>, nodePeakRssMiB: number | undefined): ReadonlyArray<Target> => {
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
    atLeast("local-capped / forward packets/s", pairedRatio(rounds, "local-capped", "forward", pps), 0.9),
    atMost("forward p99 / raw-socket p99", pairedRatio(rounds, "forward", "raw-socket", p99), 2),
    atLeast("forward-scale / forward packets/s", pairedRatio(rounds, "forward-scale", "forward", pps), 0.9),
    atMost("node peak RSS MiB", nodePeakRssMiB, 150)
  ]
}

/**
 * The node-against-node targets again from CPU per packet: packets per CPU-second of `mode` over
 * those of `forward`, per round (the inverse ratio of their CPU µs per packet), and their median.
 * Packets/s also carries how much CPU each run got, which other load moves run by run (two
 * identical nodes measured 0.59–1.81 of each other in one sitting under other load; 0.96–1.05 by
 * this ratio); every node mode is treated alike, and the targets themselves stay in packets/s. Pure.
 */
export const cpuRatios = (rounds: ReadonlyArray<Round>): ReadonlyArray<{ readonly what: string; readonly value: number; readonly rounds: ReadonlyArray<number> }> =>
  (["local", "local-capped", "forward-scale", "forward-base"] as const).flatMap((mode) => {
    const perRound = rounds.flatMap((round) => {
      const own = round[mode]?.cpuUsPerPacket
      const forward = round.forward?.cpuUsPerPacket
      return own === undefined || forward === undefined || own === 0 ? [] : [forward / own]
    })
    return perRound.length === 0 ? [] : [{ what: `${mode} / forward packets per CPU-second`, value: median(perRound), rounds: perRound }]
  })

export const cpuRatiosTable = (ratios: ReturnType<typeof cpuRatios>): string | undefined =>
  ratios.length === 0 ? undefined : [
    "the same node-against-node ratios from CPU per packet (not the targets; immune to the CPU share other load takes):",
    ...ratios.map((r) => `  ${r.what.padEnd(40)} ${r.value.toFixed(2).padStart(5)}  [${r.rounds.map((v) => v.toFixed(2)).join(", ")}]`)
  ].join("\n")

/** The rounds' machine line, and the targets again over the undisturbed rounds when some (not all) were disturbed. Pure. */
export const machineReport = (machine: ReadonlyArray<RoundMachine>, quietTargets: ReadonlyArray<Target> | undefined): string => {
  const rounds = machine.map((m, i) =>
    `round ${i + 1}: other load ≤ ${m.foreignCoresMax?.toFixed(2) ?? "?"} cores, probe ${m.probeUs?.toFixed(0) ?? "?"} µs${m.disturbed ? " (DISTURBED)" : ""}`
  )
  const disturbed = machine.filter((m) => m.disturbed).length
  return [
    `the machine during the rounds (bench/machine.ts; a round is disturbed when a run saw more than ${disturbedAboveCores} cores of other load): ${rounds.join("; ")}`,
    ...(quietTargets === undefined ?
      disturbed === machine.length && disturbed > 0 ? ["every round was disturbed: compare this sitting's ratios with care"] : [] :
      ["", targetsTable(quietTargets).replace("measured in this sitting", `over the ${machine.length - disturbed} undisturbed rounds only`)])
  ].join("\n")
}

export const targetsTable = (targets: ReadonlyArray<Target>): string =>
  ["targets (issue 13), measured in this sitting:", ...targets.map((t) =>
    `  ${t.what.padEnd(32)} ${t.value === undefined ? "not run".padStart(8) : t.value.toFixed(2).padStart(8)}  ${t.goal.padEnd(8)} ` +
    `${t.met === undefined ? "" : t.met ? "met" : "NOT met"}`
  )].join("\n")

export const roundLine = (round: number, mode: Mode, r: MeasuredRun): string => {
  const problems = [
    ...Object.entries(r.rejectCodes).map(([code, n]) => `${n}×${code}`),
    ...Object.entries(r.failures).map(([what, n]) => `${n}×${what}`)
  ]
  return `  round ${round} ${mode.padEnd(13)} ${r.packetsPerSecond.toFixed(0).padStart(6)} pkt/s  ` +
    `p50 ${r.latencyMs.p50.toFixed(2)} ms  p99 ${r.latencyMs.p99.toFixed(2)} ms  ` +
    `${r.cpuUsPerPacket === undefined ? "" : `${r.cpuUsPerPacket.toFixed(0)} µs CPU/pkt  `}` +
    `${r.packets} packets${problems.length === 0 ? "" : `  (${problems.join(", ")})`}` +
    (r.receipts === undefined ? "" : `  receipts ${r.receipts ? "yes" : "NO"}`) +
    (r.threadsUsPerPacket === undefined && r.replicaCpuUsPerPacket === undefined ? "" : `  [${cpuParts(r).join(", ")}]`) +
    (r.machine === undefined ? "" : `  {${machineParts(r.machine).join(", ")}}`)
}

/** A run's CPU per packet by thread, GC pause and replica, as `what µs` items. Pure. */
export const cpuParts = (r: Pick<MeasuredRun, "threadsUsPerPacket" | "gcPauseUsPerPacket" | "replicaCpuUsPerPacket">): Array<string> => [
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
export const cpuBreakdown = (summaries: ReadonlyArray<ModeSummary>): string | undefined => {
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

export const gitCommit = (): string | undefined => {
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
export const meanDurations = (text: string): Record<string, number> => {
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

/** Everything a sitting measured, as the bench prints it: what `--json` writes and stdout's last line. */
export interface SittingReport {
  readonly startedAt: number
  readonly options: Options
  readonly summaries: ReadonlyArray<ModeSummary>
  readonly targets: ReadonlyArray<Target>
  /** Per round, the machine's other load and speed (`machineOfRounds`), and the targets over the undisturbed rounds. */
  readonly machineRounds: ReadonlyArray<RoundMachine>
  readonly rounds: ReadonlyArray<Round>
  readonly quietTargets: ReadonlyArray<Target> | undefined
  readonly books: Record<string, unknown>
  readonly ledgerWaits: Record<string, Record<string, number>>
  readonly transferRequests: string | undefined
  readonly nodeMemory: { readonly peakRssMiB: number } | undefined
  readonly tigerBeetleMemory: { readonly peakRssMiB: number } | undefined
  readonly rawMemory: { readonly peakRssMiB: number } | undefined
  readonly nodesMemory: Record<string, { readonly readyRssMiB: number | null; readonly peakRssMiB: number | null; readonly endRssMiB: number | null }>
}

/** Prints the sitting's tables and JSON to stdout; returns the JSON report. */
export const printReport = (sitting: SittingReport) => {
  const { ledgerWaits, machineRounds, nodeMemory, nodesMemory, options, quietTargets, rawMemory, startedAt, summaries, targets, tigerBeetleMemory, transferRequests } = sitting
  const booksOf = sitting.books
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
        ...(r.machine === undefined ? {} : { machine: r.machine }),
        rejectCodes: r.rejectCodes,
        failures: r.failures,
        ...(r.receipts === undefined ? {} : { receipts: r.receipts })
      }))
    }])),
    targets,
    machineRounds,
    cpuRatios: cpuRatios(sitting.rounds),
    ...(quietTargets === undefined ? {} : { targetsUndisturbedRounds: quietTargets }),
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
  const byCpu = cpuRatiosTable(cpuRatios(sitting.rounds))
  if (byCpu !== undefined) process.stdout.write(`${byCpu}\n`)
  if (machineRounds.length > 0) process.stdout.write(`${machineReport(machineRounds, quietTargets)}\n`)
  process.stdout.write(`node flags: ${options.nodeFlags.length === 0 ? "(none)" : options.nodeFlags.join(" ")}; ` +
    `env: ${Object.entries(options.nodeEnv).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)"}; ` +
    (options.baselineDir === undefined ? "" : `baseline node flags: ${options.baselineNodeFlags.join(" ") || "(none)"}, ` +
      `env: ${Object.entries(options.baselineNodeEnv).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)"}; `) +
    (options.replicaCpu === undefined ? "" : `TigerBeetle replica alone on CPU ${options.replicaCpu}, everything else on the others; `) +
    `concurrency ${options.concurrency}; ${options.rounds} rounds of ${options.durationMs} ms; ${report.machine.cores} × ${report.machine.cpu}\n\n`)

  process.stdout.write(`${JSON.stringify(report)}\n`)
  return report
}
