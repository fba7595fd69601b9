/**
 * The nodes of a sitting: the embedded node, and as the modes ask, the TigerBeetle cluster and its
 * nodes, the --baseline checkout's node and the scaled nodes, each with its own config, data
 * directory and ledger, funded, with an incoming payment when it serves a local mode.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync } from "node:fs"
import { cpus } from "node:os"
import { join } from "node:path"
import { startTigerBeetle } from "../test/support/tigerbeetle.ts"
import { memoryOf } from "./common.ts"
import { isBaselineMode, isCappedMode, isTigerBeetleMode, type Mode } from "./modes.ts"
import { createIncomingPayment, createWalletAddresses, deposit, startNode, warmCompileCache, writeConfig } from "./nodeProcess.ts"
import { type Options, repoRoot } from "./options.ts"

export interface SittingContext {
  readonly options: Options
  /** The sitting's temporary directory (node data directories, GC pause files). */
  readonly dir: string
  readonly peerUrl: string
  /** Stops run at the end of the sitting, first to last. */
  readonly stops: Array<() => Promise<void>>
  /** The effect-http experiment's second listener port (modes `*-effect`). */
  readonly extraPort: number
  readonly log: (text: string) => void
}

/**
 * `--replica-cpu N`: this process (every thread; the processes it starts inherit it) on every CPU
 * but `cpu`, which the TigerBeetle replica gets alone once started.
 */
export const pinAwayFrom = (cpu: number, log: (text: string) => void): void => {
  const others = cpus().map((_, i) => i).filter((i) => i !== cpu)
  if (others.length === 0 || cpu >= cpus().length) throw new Error(`--replica-cpu ${cpu}: needs another CPU besides it (${cpus().length} here)`)
  execFileSync("taskset", ["-a", "-cp", others.join(","), String(process.pid)], { stdio: "ignore" })
  log(`pinned: the bench and its processes to CPUs ${others.join(",")}, the TigerBeetle replica to CPU ${cpu}`)
}

export const startSittingNodes = async (context: SittingContext) => {
  const { dir, extraPort, log, options, peerUrl, stops } = context
  // The effect-http experiment runs the same node with a second ILP-over-HTTP listener on Effect's server.
  const experiment = options.modes.some((mode) => mode.endsWith("-effect"))
  const wantsLocal = (modes: ReadonlyArray<Mode>) => modes.some((mode) => mode.startsWith("local") && !isCappedMode(mode))

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
    // local-capped: a second incoming payment, capped far above what a sitting can deliver (10^18).
    const cappedStream = modes.some(isCappedMode) ?
      await createIncomingPayment(setup, { incomingAmount: 10n ** 18n, walletUrl: "https://bench.example/carol" }) :
      undefined
    log(`${name} node pid ${node.pid} on 127.0.0.1:${setup.connectorPort}`)
    return { name, setup, node, stream, cappedStream, readyRssMiB: memoryOf(node.pid)?.rssMiB, startOptions }
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
    if (options.replicaCpu !== undefined) {
      for (const replica of cluster.replicas) {
        execFileSync("taskset", ["-a", "-cp", String(options.replicaCpu), String(replica.pid)], { stdio: "ignore" })
      }
    }
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
  return { embedded, tigerBeetle, tigerBeetle2, tigerBeetleBase, baseline, scaled, scaledBase, replicaPid, benchNodes, nodeOf }
}

export type SittingNodes = Awaited<ReturnType<typeof startSittingNodes>>
export type BenchNode = SittingNodes["embedded"]
