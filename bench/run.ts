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
 *   local-capped  the same to a second incoming payment that has an `incomingAmount` (10^18, never
 *            reached): every packet reserves against the cap before the ledger posts (with
 *            --baseline, local-capped-base beside it)
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
* Options (parsed, with their defaults, in `options.ts`): --rounds N --duration MS --warmup MS
 * --warmup-packets N (each mode's warm-up stops at N packets or after --warmup MS) --concurrency N
 * --packets N --modes raw,forward,local --json FILE --profile DIR (run the node with --cpu-prof and
 * print a self-time summary) --node-flags "FLAGS" (Node flags for the node process; default: the
 * ones the `start` script in package.json uses) --deadline MS --tb-sessions N (TIGERBEETLE_SESSIONS
 * of the TigerBeetle nodes) --profile-tb DIR (also profile the TigerBeetle node, into DIR; read it
 * with `node bench/profile.ts FILE`) --baseline DIR (a second node from
 * another checkout: modes forward-base / local-base) --baseline-node-flags "FLAGS" (that node's
 * flags, default those of the node: `--baseline . --baseline-node-flags "..."` compares flags alone)
 * --gc-pauses yes (preload bench/gcPauses.ts into every node: its main-thread GC pauses per packet).
 * --replica-cpu N (the TigerBeetle replica alone on CPU N, this process and every other one on the
 * other CPUs, through `taskset`: the TigerBeetle ratio as in production, where the cluster has
 * machines of its own; every mode of the sitting runs on fewer CPUs, so compare ratios only).
 * Every node mode's CPU is also split by thread (main, V8 workers, other; /proc/<pid>/task), and
 * while a TigerBeetle cluster runs, the replica's CPU per packet of each run is read the same way.
 * --scale-peers N --scale-wallets N --scale-restart 1 (restart the scaled nodes on their data once
 * their wallet addresses exist: a diagnostic that separates what the node keeps from the creation
 * burst from what the data costs; off by default, since it would hide the former).
 * Environment: BENCH_NODE_LOG_DIR=DIR keeps each node's whole stdout/stderr in DIR/node-<pid>.log.
 *
 * Over 400 lines with this comment: it is the sitting's orchestration, one sequence from start to
 * books; the modes (`modes.ts`), options (`options.ts`), the nodes of a sitting (`benchNodes.ts`),
 * the load generator's client (`loadgenClient.ts`) and the report (`report.ts`) live beside it.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { randomBytes } from "node:crypto"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cpuMsOf, freePort, killAll, memoryOf, startServerProcess, threadCpuMsOf, type ThreadCpuMs } from "./common.ts"
import type { PacketSpec } from "./loadgen.ts"
import { startLoadGen } from "./loadgenClient.ts"
import { startMachine } from "./machine.ts"
import { type BenchNode, pinAwayFrom, startSittingNodes } from "./benchNodes.ts"
import { isCappedMode, isNodeMode, type Mode } from "./modes.ts"
import { books, nodeAddress, sinkAddress } from "./nodeProcess.ts"
import { defaults, type Options, parseOptions } from "./options.ts"
import { formatSummary, summarise } from "./profile.ts"
import { machineOfRounds } from "./machine.ts"
import { type MeasuredRun, meanDurations, type ModeSummary, pairedRatio, printReport, type Round, roundLine, summariseMode, targetsOf } from "./report.ts"

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

const log = (text: string) => process.stderr.write(`${text}\n`)

const main = async (options: Options) => {
  const startedAt = Date.now()
  if (options.replicaCpu !== undefined) pinAwayFrom(options.replicaCpu, log)
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
    const extraPort = await freePort()

    const { benchNodes, embedded, nodeOf, replicaPid, tigerBeetle, tigerBeetle2, tigerBeetleBase } =
      await startSittingNodes({ options, dir, peerUrl, stops, extraPort, log })
    log(`raw forwarder on :${raw.port}, peer on :${peer.port}`)

    const loadgen = await startLoadGen()
    stops.unshift(() => loadgen.stop())
    const machine = await startMachine()
    stops.unshift(() => machine.stop())

    const amount = "10"
    const forwardSpec: PacketSpec = { kind: "forward", destination: `${sinkAddress}.bench`, amount }
    const localSpec = (stream: BenchNode["stream"]): PacketSpec =>
      stream === undefined ?
        { kind: "forward", destination: `${nodeAddress}.none`, amount } :
        {
          kind: "stream",
          destination: stream.destination,
          sharedSecretHex: stream.sharedSecretHex,
          amount
        }
    const packetSpec = (mode: Mode): PacketSpec =>
      isCappedMode(mode) ? localSpec(nodeOf(mode).cappedStream) : mode.startsWith("local") ? localSpec(nodeOf(mode).stream) : forwardSpec
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
    const fulfilledBy = new Map<string, { forward: number; local: number; capped: number }>(
      benchNodes().map((n) => [n.name, { forward: 0, local: 0, capped: 0 }])
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
    const runMode = async (mode: Mode, durationMs: number, packetsMax = options.packets): Promise<MeasuredRun> => {
      const cpuBefore = cpuMsOfMode(mode)
      const threadsBefore = threadsOfMode(mode)
      const gcBefore = gcPauseMsOfMode(mode)
      const replicaBefore = replicaPid === undefined ? undefined : cpuMsOf(replicaPid)
      const endReading = machine.begin(pidsOf(mode), { loadgen: loadgen.pid, peer: peer.pid })
      const result = await runOnce(mode, durationMs, packetsMax)
      const machineReading = await endReading(result.packets)
      const replicaAfter = replicaPid === undefined ? undefined : cpuMsOf(replicaPid)
      // The preload writes its totals every 50 ms: wait for one write after the run.
      if (gcBefore !== undefined) await new Promise((done) => setTimeout(done, 60))
      const gcAfter = gcPauseMsOfMode(mode)
      const threadsAfter = threadsOfMode(mode)
      // The TigerBeetle nodes share one cluster and one set of accounts: their books are one.
      const booksNode = mode === "forward-tb-base" ? tigerBeetle! : nodeOf(mode)
      if (isNodeMode(mode)) fulfilledBy.get(booksNode.name)![isCappedMode(mode) ? "capped" : mode.startsWith("local") ? "local" : "forward"] += result.fulfilled
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
        replicaCpuUsPerPacket: perPacket(replicaBefore, replicaAfter),
        machine: machineReading
      }
    }
    const runOnce = (mode: Mode, durationMs: number, packetsMax: number) =>
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
        packetsMax,
        durationMs,
        expiresInMs: 60_000 + durationMs
      })

    if (options.warmupMs > 0) {
      for (const mode of options.modes) {
        const r = await runMode(mode, options.warmupMs, Math.min(options.warmupPackets, options.packets))
        log(`  warm-up ${mode.padEnd(13)} ${r.packetsPerSecond.toFixed(0).padStart(6)} pkt/s  ${r.packets} packets` +
          (r.cpuUsPerPacket === undefined ? "" : `  ${r.cpuUsPerPacket.toFixed(0)} µs CPU/pkt`))
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
      const expectedDebits = BigInt(fulfilled.forward + fulfilled.local + fulfilled.capped) * amountPerPacket
      const expectedReceived = benchNode.stream === undefined ? 0n : BigInt(fulfilled.local) * amountPerPacket
      // local-capped: the capped incoming payment received exactly that mode's fulfills.
      const cappedReceived = benchNode.cappedStream === undefined ?
        0n :
        (await books(benchNode.setup, benchNode.cappedStream.incomingPaymentId)).received
      const expectedCapped = BigInt(fulfilled.capped) * amountPerPacket
      const consistent = ledger.debitsPosted === expectedDebits && ledger.debitsPending === 0n &&
        ledger.received === expectedReceived && cappedReceived === expectedCapped
      log(`books of the ${benchNode.name} node: loadgen debited ${ledger.debitsPosted} (expected ${expectedDebits}), ` +
        `pending ${ledger.debitsPending}, incoming payment received ${ledger.received} (expected ${expectedReceived}), ` +
        (benchNode.cappedStream === undefined ? "" : `capped one ${cappedReceived} (expected ${expectedCapped}), `) +
        `${consistent ? "consistent" : "MISMATCH"}`)
      return {
        consistent,
        loadgenDebitsPosted: ledger.debitsPosted.toString(),
        expectedDebits: expectedDebits.toString(),
        pending: ledger.debitsPending.toString(),
        incomingPaymentReceived: ledger.received.toString(),
        cappedPaymentReceived: cappedReceived.toString(),
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
    // A round in which someone else's work took CPU (more than disturbedAboveCores) is flagged, and
    // the targets are also given over the other rounds: whole rounds, every mode alike.
    const machineRounds = machineOfRounds(rounds)
    const quietRounds = rounds.filter((_, i) => !machineRounds[i]!.disturbed)
    const quietTargets = quietRounds.length > 0 && quietRounds.length < rounds.length ?
      targetsOf(quietRounds, nodeMemory?.peakRssMiB) :
      undefined
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

    const report = printReport({
      startedAt,
      options,
      summaries,
      targets,
      machineRounds,
      rounds,
      quietTargets,
      books: booksOf,
      ledgerWaits,
      transferRequests,
      nodeMemory,
      tigerBeetleMemory,
      rawMemory,
      nodesMemory
    })
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
