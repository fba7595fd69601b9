/**
 * What every node-on-TigerBeetle integration file sets up the same way: a cluster started for the
 * file, a test peer the node forwards to, a temp directory for the nodes' files, and the node
 * processes started on that cluster; all stopped after the file's tests, whatever happened. Without
 * a server binary the file's tests are registered as skipped and the skip is announced loudly
 * (CI has the binary, so there they run).
 */
import { afterAll, beforeAll, describe } from "vitest"
import type { NodeProcess } from "./process.ts"
import { makeTempDir, removeTempDir } from "./tempDir.ts"
import { fulfillFromData, startTestPeer, type TestPeer } from "./testPeer.ts"
import { announceSkip, startTigerBeetle, type TigerBeetleCluster, tigerBeetleBinary } from "./tigerbeetle.ts"
import { join } from "node:path"
import { admin, type LoadTotals, type NodeFiles, startLoad, startNodeOn, waitUntil, writeNodeConfig } from "./tigerbeetleNode.ts"

export interface ClusterFixture {
  readonly cluster: TigerBeetleCluster
  readonly dir: string
  readonly peer: TestPeer
  /** A node process on the cluster; killed after the file's tests if it still runs. */
  readonly startNode: (files: NodeFiles) => Promise<NodeProcess>
  /** Runs after the file's tests, before the peer and the cluster stop (e.g. closing in-process nodes). */
  readonly onStop: (stop: () => Promise<unknown>) => void
}

export interface ClusterFixtureOptions {
  /** Prefix of the temp directory. */
  readonly tempPrefix: string
  /** The peer answers every Prepare with its Fulfill after this long (so packets are in flight). */
  readonly peerDelayMs?: number
  readonly replicaCount?: 1 | 3
}

/**
 * `describe(title, …)` with the fixture set up around it. `what` names the tests in the skip
 * announcement. The fixture's fields are there only inside the tests (and hooks), not while they
 * are being registered.
 */
export const describeOnCluster = (
  title: string,
  what: string,
  options: ClusterFixtureOptions,
  body: (fixture: ClusterFixture) => void
): void => {
  let cluster: TigerBeetleCluster | undefined
  let dir: string | undefined
  let peer: TestPeer | undefined
  const processes: Array<NodeProcess> = []
  const stops: Array<() => Promise<unknown>> = []
  const started = <A>(value: A | undefined, name: string): A => {
    if (value === undefined) throw new Error(`the ${name} is there only inside the tests`)
    return value
  }
  const fixture: ClusterFixture = {
    get cluster() {
      return started(cluster, "cluster")
    },
    get dir() {
      return started(dir, "temp directory")
    },
    get peer() {
      return started(peer, "test peer")
    },
    startNode: async (files) => {
      const node = await startNodeOn(started(cluster, "cluster"), files)
      processes.push(node)
      return node
    },
    onStop: (stop) => void stops.push(stop)
  }

  if (tigerBeetleBinary() === undefined) {
    const reason = `${what} did NOT run`
    announceSkip(reason)
    describe.skip(`${title} — ${reason}`, () => body(fixture))
    return
  }

  const replicaCount = options.replicaCount ?? 1
  beforeAll(async () => {
    dir = makeTempDir(options.tempPrefix)
    const delayMs = options.peerDelayMs
    peer = await startTestPeer(delayMs === undefined ? fulfillFromData : (prepare) => ({ delayMs, then: fulfillFromData(prepare) }))
    cluster = await startTigerBeetle({ replicaCount })
  }, replicaCount === 1 ? 180_000 : 240_000)

  afterAll(async () => {
    for (const node of processes) await node.kill("SIGKILL")
    for (const stop of stops) await stop().catch(() => undefined)
    await peer?.close()
    await cluster?.stop()
    if (dir !== undefined) removeTempDir(dir)
  }, 60_000)

  describe(title, () => body(fixture))
}

/**
 * A node process on the fixture's cluster with its sender peer funded, under a load of `workers`
 * senders, once `fulfills` of their packets were fulfilled (for the tests that stop the node under load).
 */
export const startNodeUnderLoad = async (
  fixture: ClusterFixture,
  options: { readonly funding: bigint; readonly workers: number; readonly expiresInMs: number; readonly fulfills: number }
) => {
  const files = await writeNodeConfig(join(fixture.dir, "node"), { peerUrl: fixture.peer.url })
  const node = await fixture.startNode(files)
  await admin(files, "/liquidity/deposit", { peerId: "sender", amount: options.funding.toString() })
  const load = startLoad(files.connectorPort, { workers: options.workers, expiresInMs: options.expiresInMs })
  if (!await waitUntil(() => load.totals.fulfills >= options.fulfills, 60_000)) {
    await load.stop()
    throw new Error(`fewer than ${options.fulfills} packets fulfilled within 60 s: ${describeTotals(load.totals)}`)
  }
  return { files, node, load }
}

const describeTotals = (totals: LoadTotals): string =>
  `${totals.fulfills} fulfills, ${totals.rejects} rejects, ${totals.failures} failures`
