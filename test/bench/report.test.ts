import { describe, expect, it } from "vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseOptions, startScript } from "../../bench/options.ts"
import { machineOfRounds } from "../../bench/machine.ts"
import { cpuRatios, machineReport, type MeasuredRun, meanDurations, pairedRatio, type Round, summariseMode, targetsOf } from "../../bench/report.ts"

const run = (packetsPerSecond: number, p99: number): MeasuredRun => ({
  type: "result",
  packets: 1_000,
  fulfilled: 1_000,
  packetsPerSecond,
  latencyMs: { p50: p99 / 2, p90: p99 / 1.5, p99, max: p99 * 2 },
  rejectCodes: {},
  failures: {},
  cpuUsPerPacket: 100
} as unknown as MeasuredRun)

describe("bench report", () => {
  it("pairs runs of the same round and takes the median of their ratios", () => {
    const rounds: Array<Round> = [
      { forward: run(500, 10), "raw-socket": run(1_000, 5) },
      { forward: run(900, 10), "raw-socket": run(1_000, 5) },
      { forward: run(100, 10) }, // no raw-socket run in this round: left out
      { forward: run(600, 10), "raw-socket": run(1_000, 5) }
    ]
    expect(pairedRatio(rounds, "forward", "raw-socket", (r) => r.packetsPerSecond)).toBeCloseTo(0.6)
    expect(pairedRatio(rounds, "forward", "reference", (r) => r.packetsPerSecond)).toBeUndefined()
  })

  it("judges issue 13's targets from the sitting's ratios", () => {
    const rounds: Array<Round> = [{ forward: run(600, 12), "raw-socket": run(1_000, 5), local: run(500, 10) }]
    const targets = Object.fromEntries(targetsOf(rounds, 151).map((t) => [t.what, t]))
    expect(targets["forward / raw-socket packets/s"]?.met).toBe(true)
    expect(targets["forward p99 / raw-socket p99"]?.met).toBe(false)
    expect(targets["local / forward packets/s"]?.value).toBeCloseTo(500 / 600)
    expect(targets["local / forward packets/s"]?.met).toBe(false)
    expect(targets["forward-tb / forward packets/s"]?.met).toBeUndefined()
    expect(targets["node peak RSS MiB"]?.met).toBe(false)
  })

  it("compares a TigerBeetle mode with its embedded twin of the same round", () => {
    const rounds: Array<Round> = [
      { forward: run(1_000, 10), "forward-tb": run(700, 20) },
      { forward: run(1_000, 10), "forward-tb": run(900, 10) }
    ]
    const summary = summariseMode("forward-tb", rounds)
    expect(summary?.vsEmbedded?.packetsPerSecond).toBeCloseTo(0.8)
    expect(summary?.vsEmbedded?.p99).toBeCloseTo(1.5)
  })

  it("flags a round in which any run saw other load, and judges the targets again over the other rounds", () => {
    const reading = (foreignCores: number, probeUs: number) => ({
      atSeconds: 0,
      probeUs,
      busyCores: 1.8,
      foreignCores,
      bystanderCores: 0,
      stealPercent: 0,
      systemUsPerPacket: 20,
      loadgenUsPerPacket: 30,
      peerUsPerPacket: 15,
      involuntaryPerKPacket: 10,
      migrationsPerKPacket: 1
    })
    const withMachine = (packetsPerSecond: number, foreignCores: number, probeUs: number): MeasuredRun =>
      ({ ...run(packetsPerSecond, 10), machine: reading(foreignCores, probeUs) })
    const rounds: Array<Round> = [
      { forward: withMachine(600, 0.02, 100), "raw-socket": withMachine(1_000, 0.1, 110) },
      // Someone else's tests took most of a core during the forward run: the whole round is flagged.
      { forward: withMachine(300, 0.9, 120), "raw-socket": withMachine(1_000, 0.1, 104) },
      { forward: withMachine(700, 0, 100), "raw-socket": withMachine(1_000, 0.25, 100) }
    ]
    const machine = machineOfRounds(rounds)
    expect(machine.map((m) => m.disturbed)).toEqual([false, true, false])
    expect(machine[1]?.foreignCoresMax).toBeCloseTo(0.9)
    expect(machine[0]?.probeUs).toBeCloseTo(105)
    const quiet = targetsOf(rounds.filter((_, i) => !machine[i]!.disturbed), undefined)
    expect(quiet.find((t) => t.what === "forward / raw-socket packets/s")?.value).toBeCloseTo(0.65)
    const text = machineReport(machine, quiet)
    expect(text).toContain("round 2: other load ≤ 0.90 cores, probe 112 µs (DISTURBED)")
    expect(text).toContain("over the 2 undisturbed rounds only")
    // Runs without readings (an older JSON) disturb nothing.
    expect(machineOfRounds([{ forward: run(1, 1) }])[0]?.disturbed).toBe(false)
  })

  it("gives the node-against-node ratios also from CPU per packet, round by round", () => {
    const cost = (packetsPerSecond: number, cpuUsPerPacket: number): MeasuredRun => ({ ...run(packetsPerSecond, 10), cpuUsPerPacket })
    const rounds: Array<Round> = [
      // Other load halved local's CPU share in round 1: packets/s says 0.5, CPU per packet says 1.
      { forward: cost(10_000, 60), local: cost(5_000, 60), "raw-socket": cost(20_000, 30) },
      { forward: cost(10_000, 60), local: cost(11_000, 50) },
      { forward: cost(10_000, 60), local: cost(10_000, 60) }
    ]
    const ratios = cpuRatios(rounds)
    expect(ratios.map((r) => r.what)).toEqual(["local / forward packets per CPU-second"])
    expect(ratios[0]?.rounds).toEqual([1, 1.2, 1])
    expect(ratios[0]?.value).toBe(1)
    expect(pairedRatio(rounds, "local", "forward", (r) => r.packetsPerSecond)).toBe(1)
  })

  it("reads mean durations from a Prometheus page", () => {
    const page = [
      "ilp_packet_duration_seconds_sum 2",
      "ilp_packet_duration_seconds_count 4",
      "ilp_ledger_request_duration_seconds_sum{kind=\"post\",x=\"y\"} 0.03",
      "ilp_ledger_request_duration_seconds_count{kind=\"post\",x=\"y\"} 10",
      "ilp_ledger_request_duration_seconds_count{kind=\"void\"} 0",
      "garbage line"
    ].join("\n")
    expect(meanDurations(page)).toEqual({ packet: 500, "ledger_request:post": 3 })
  })

  it("refuses unknown options and adds the -base modes with --baseline", () => {
    expect(() => parseOptions(["--nope", "1"])).toThrow(/unknown option --nope/)
    expect(() => parseOptions(["--modes", "forward,teleport"])).toThrow(/unknown mode teleport/)
    expect(() => parseOptions(["--modes", "forward-base"])).toThrow(/--baseline/)
    expect(parseOptions(["--modes", "raw-socket,forward,local", "--baseline", "."]).modes)
      .toEqual(["raw-socket", "forward", "forward-base", "local", "local-base"])
    const flags = parseOptions(["--node-flags", "--max-semi-space-size=4  --expose-gc"])
    expect(flags.nodeFlags).toEqual(["--max-semi-space-size=4", "--expose-gc"])
    expect(flags.baselineNodeFlags).toEqual(flags.nodeFlags)
    expect(parseOptions(["--replica-cpu", "1"]).replicaCpu).toBe(1)
    expect(parseOptions([]).replicaCpu).toBeUndefined()
    expect(parseOptions([]).warmupPackets).toBe(60_000)
    expect(parseOptions(["--warmup-packets", "5000", "--warmup", "1000"])).toMatchObject({ warmupPackets: 5_000, warmupMs: 1_000 })
    expect(() => parseOptions(["--warmup-packets", "0"])).toThrow(/--warmup-packets/)
    expect(() => parseOptions(["--replica-cpu", "-1"])).toThrow(/--replica-cpu/)
  })

  it("reads the start script's flags and environment: relative paths made absolute, other values kept", () => {
    const root = mkdtempSync(join(tmpdir(), "bench-start-"))
    try {
      writeFileSync(join(root, "package.json"), JSON.stringify({
        scripts: {
          start: "exec env NODE_COMPILE_CACHE=node_modules/.cache/c GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768 " +
            "ABS=/var/x node --no-maglev --max-semi-space-size=8 --import=./src/preload.ts src/main.ts start"
        }
      }))
      expect(startScript(root)).toEqual({
        flags: ["--no-maglev", "--max-semi-space-size=8", `--import=${join(root, "src/preload.ts")}`],
        env: {
          NODE_COMPILE_CACHE: join(root, "node_modules/.cache/c"),
          GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=32768",
          ABS: "/var/x"
        }
      })
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
