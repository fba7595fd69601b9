/**
 * What the machine did during a run, beside the process under test: so a round in which every
 * mode got dearer (issue 13's round-to-round spread) can be told apart from one in which the node
 * did. Read before and after every run, the same for every mode:
 *
 * - `atSeconds`: when the run started (seconds into the sitting).
 * - `probeUs`: the median time of the CPU probe's fixed unit of work (`cpuProbe.ts`) during the
 *   run. A slower machine (host contention on the physical core, frequency) shows here.
 * - `busyCores`, `stealPercent`: the whole VM's busy CPUs (user + nice + system + irq + softirq)
 *   over the run, and the hypervisor's steal, from `/proc/stat`.
 * - `foreignCores`: busy CPUs that were not the sitting's (this process and every process under it,
 *   from `/proc/<pid>/stat`): other people's work on the same two cores.
 * - `bystanderCores`: busy CPUs of the sitting's processes that take no part in the run (not the
 *   process under test, the load generator, the fulfilling peer or the probe): e.g. an idle node's
 *   garbage collector, a TigerBeetle replica's own work.
 * - `loadgenUsPerPacket`, `peerUsPerPacket`: the load generator's and the fulfilling peer's CPU
 *   per packet: the same work in every mode that goes to the peer, so a second yardstick of the
 *   machine (the peer is idle in local modes).
 * - `systemUsPerPacket`: the process under test's kernel-mode CPU per packet (part of its CPU µs/pkt).
 * - `involuntaryPerKPacket`, `migrationsPerKPacket`: the main thread of the process under test preempted, and moved
 *   between CPUs, per 1 000 packets (`/proc/<pid>/task/<pid>/sched`).
 */
import { type ChildProcess, fork } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { median, track } from "./common.ts"
import type { Round } from "./report.ts"

const ticksPerSecond = 100

/** Jiffies of the whole machine: busy, idle (with iowait) and steal. */
const machineTicks = (): { busy: number; idle: number; steal: number } | undefined => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number) as Array<number>
    return { busy: user! + nice! + system! + irq! + softirq!, idle: idle! + iowait!, steal: steal! }
  } catch {
    return undefined
  }
}

/**
 * CPU jiffies (user + system, also of waited-for children) of this process and every process under
 * it, and of those among them that are not in `involved` (nor this process nor the probe): the
 * sitting's bystanders, e.g. the nodes of other modes, idle meanwhile.
 */
const sittingTicks = (involved: ReadonlySet<number>): { all: number; bystanders: number } | undefined => {
  const parents = new Map<number, number>()
  const ticks = new Map<number, number>()
  let names: Array<string>
  try {
    names = readdirSync("/proc")
  } catch {
    return undefined
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      parents.set(Number(name), Number(fields[1]))
      ticks.set(Number(name), Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]))
    } catch {
      // gone meanwhile
    }
  }
  const ours = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parents.get(p) ?? 0, hops++) if (p === process.pid) return true
    return false
  }
  let all = 0
  let bystanders = 0
  for (const [pid, t] of ticks) {
    if (!ours(pid)) continue
    all += t
    if (pid !== process.pid && !involved.has(pid)) bystanders += t
  }
  return { all, bystanders }
}

/** Kernel-mode CPU jiffies (stime) of processes, summed. */
const systemTicksOf = (pids: ReadonlyArray<number>): number | undefined => {
  let total = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      total += Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[12])
    } catch {
      return undefined
    }
  }
  return total
}

/** A process's CPU jiffies (user + system). */
const cpuTicksOf = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return undefined
  }
}

/** A thread's scheduler counters (`/proc/<pid>/task/<tid>/sched`). */
const schedOf = (pid: number): { involuntary: number; migrations: number } | undefined => {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/sched`, "utf8")
    const field = (name: string) => Number(new RegExp(`^${name.replace(".", "\\.")}\\s*:\\s*(\\d+)`, "m").exec(text)?.[1] ?? NaN)
    return { involuntary: field("nr_involuntary_switches"), migrations: field("se.nr_migrations") }
  } catch {
    return undefined
  }
}

export interface MachineReading {
  /** When the run started, in seconds since the machine readings started (the sitting's start). */
  readonly atSeconds: number
  readonly probeUs: number | undefined
  readonly busyCores: number | undefined
  readonly foreignCores: number | undefined
  readonly bystanderCores: number | undefined
  readonly stealPercent: number | undefined
  /** The process under test's CPU in the kernel (stime: its sockets' sends and, on loopback, much of their delivery), µs per packet. */
  readonly systemUsPerPacket: number | undefined
  /** The load generator's and the fulfilling peer's CPU per packet (the same work in every forwarding mode). */
  readonly loadgenUsPerPacket: number | undefined
  readonly peerUsPerPacket: number | undefined
  readonly involuntaryPerKPacket: number | undefined
  readonly migrationsPerKPacket: number | undefined
}

export interface Machine {
  /** Starts a run's reading; the function it returns ends it. `pid`: the main thread of the process under test. */
  readonly begin: (underTest: ReadonlyArray<number>, drivers: { readonly loadgen: number; readonly peer: number }) => (packets: number) => Promise<MachineReading>
  readonly stop: () => Promise<void>
}

export const startMachine = async (): Promise<Machine> => {
  const probe: ChildProcess = fork(new URL("./cpuProbe.ts", import.meta.url).pathname, [], { stdio: ["ignore", "ignore", "ignore", "ipc"] })
  await new Promise<void>((ready, reject) => {
    probe.once("message", () => ready())
    probe.once("exit", (code) => reject(new Error(`cpu probe exited with ${code}`)))
  })
  const tracked = track(probe)
  const sittingStarted = Date.now()
  const readProbe = () =>
    new Promise<ReadonlyArray<number>>((resolve) => {
      const timer = setTimeout(() => resolve([]), 2_000)
      probe.once("message", (message: { wallUs: Array<number> }) => {
        clearTimeout(timer)
        resolve(message.wallUs)
      })
      probe.send("read")
    })
  return {
    begin: (underTest, drivers) => {
      const pid = underTest[0]
      const involvedSet = new Set([...underTest, drivers.loadgen, drivers.peer, probe.pid!])
      const loadgenBefore = cpuTicksOf(drivers.loadgen)
      const peerBefore = cpuTicksOf(drivers.peer)
      const started = Date.now()
      const before = machineTicks()
      const sittingBefore = sittingTicks(involvedSet)
      const schedBefore = pid === undefined ? undefined : schedOf(pid)
      const systemBefore = systemTicksOf(underTest)
      const probeStart = readProbe()
      return async (packets) => {
        await probeStart
        const units = await readProbe()
        const after = machineTicks()
        const sittingAfter = sittingTicks(involvedSet)
        const schedAfter = pid === undefined ? undefined : schedOf(pid)
        const systemAfter = systemTicksOf(underTest)
        const loadgenAfter = cpuTicksOf(drivers.loadgen)
        const peerAfter = cpuTicksOf(drivers.peer)
        const usPerPacket = (before: number | undefined, after: number | undefined) =>
          before === undefined || after === undefined || packets === 0 ? undefined : ((after - before) * 1e6) / ticksPerSecond / packets
        const seconds = (Date.now() - started) / 1000
        const cores = (ticks: number) => ticks / ticksPerSecond / seconds
        const all = before === undefined || after === undefined ? undefined : {
          busy: after.busy - before.busy,
          total: after.busy - before.busy + after.idle - before.idle + after.steal - before.steal,
          steal: after.steal - before.steal
        }
        const perK = (pick: (s: { involuntary: number; migrations: number }) => number) =>
          schedBefore === undefined || schedAfter === undefined || packets === 0 ? undefined : (1000 * (pick(schedAfter) - pick(schedBefore))) / packets
        return {
          atSeconds: (started - sittingStarted) / 1000,
          probeUs: units.length === 0 ? undefined : median(units),
          busyCores: all === undefined ? undefined : cores(all.busy),
          foreignCores: all === undefined || sittingBefore === undefined || sittingAfter === undefined ?
            undefined :
            Math.max(0, cores(all.busy - (sittingAfter.all - sittingBefore.all))),
          bystanderCores: sittingBefore === undefined || sittingAfter === undefined ?
            undefined :
            cores(sittingAfter.bystanders - sittingBefore.bystanders),
          stealPercent: all === undefined || all.total === 0 ? undefined : (100 * all.steal) / all.total,
          systemUsPerPacket: systemBefore === undefined || systemAfter === undefined || packets === 0 ?
            undefined :
            ((systemAfter - systemBefore) * 1e6) / ticksPerSecond / packets,
          loadgenUsPerPacket: usPerPacket(loadgenBefore, loadgenAfter),
          peerUsPerPacket: usPerPacket(peerBefore, peerAfter),
          involuntaryPerKPacket: perK((s) => s.involuntary),
          migrationsPerKPacket: perK((s) => s.migrations)
        }
      }
    },
    stop: () => tracked.stop(1_000)
  }
}

/** A run's machine reading as `what value` items (see `machine.ts`). Pure. */
export const machineParts = (m: MachineReading): Array<string> => {
  const item = (what: string, value: number | undefined, digits: number) => value === undefined ? [] : [`${what} ${value.toFixed(digits)}`]
  return [
    `t+${m.atSeconds.toFixed(0)}s`,
    ...item("probe µs", m.probeUs, 0),
    ...item("busy cores", m.busyCores, 2),
    ...item("foreign cores", m.foreignCores, 2),
    ...item("bystander cores", m.bystanderCores, 2),
    ...item("steal %", m.stealPercent, 1),
    ...item("kernel µs/pkt", m.systemUsPerPacket, 0),
    ...item("loadgen µs/pkt", m.loadgenUsPerPacket, 0),
    ...item("peer µs/pkt", m.peerUsPerPacket, 0),
    ...item("preempted/kpkt", m.involuntaryPerKPacket, 1),
    ...item("migrations/kpkt", m.migrationsPerKPacket, 1)
  ]
}

/** Other load (`foreignCores`) above which a run, and so its round, counts as disturbed. */
export const disturbedAboveCores = 0.25

export interface RoundMachine {
  /** The most other load any run of the round saw (busy cores that were not the sitting's). */
  readonly foreignCoresMax: number | undefined
  /** The CPU probe's median unit time over the round's runs. */
  readonly probeUs: number | undefined
  readonly disturbed: boolean
}

/** Per round, what the machine did (from its runs' `machine` readings). Pure. */
export const machineOfRounds = (rounds: ReadonlyArray<Round>): ReadonlyArray<RoundMachine> =>
  rounds.map((round) => {
    const readings = Object.values(round).flatMap((r) => r?.machine === undefined ? [] : [r.machine])
    const foreign = readings.flatMap((m) => m.foreignCores === undefined ? [] : [m.foreignCores])
    const probes = readings.flatMap((m) => m.probeUs === undefined ? [] : [m.probeUs])
    const foreignCoresMax = foreign.length === 0 ? undefined : Math.max(...foreign)
    return {
      foreignCoresMax,
      probeUs: probes.length === 0 ? undefined : median(probes),
      disturbed: foreignCoresMax !== undefined && foreignCoresMax > disturbedAboveCores
    }
  })
