/**
 * The node stopped (SIGTERM) under load on TigerBeetle (one replica, started for this file): its
 * posts after the reply — sent after the Fulfill went upstream, a peer's through the ledger's
 * callback without a fiber (`LedgerReservation.ts` `postDetached`) — are all in the cluster when
 * the process has exited: every Fulfill the senders saw is posted, read straight from the cluster
 * the moment the node is gone (a post the shutdown did not wait for would be missing). Posted but
 * unseen (the answer lost with the connection) is bounded by the packets in flight. Once the
 * reservations of the packets cut off have expired, nothing is pending, what left the sender
 * arrived upstream, and the audit is clean.
 */
import { createClient } from "tigerbeetle-node"
import { expect, it } from "vitest"
import { ids } from "../../src/Accounting/Accounts.ts"
import { describeOnCluster, startNodeUnderLoad } from "../support/tigerbeetleFixture.ts"
import { auditCluster, loadPacketAmountMax, waitUntil } from "../support/tigerbeetleNode.ts"

const expiresInMs = 4_000
const workers = 20

describeOnCluster("TigerBeetle shutdown under load", "the TigerBeetle shutdown-under-load test", {
  tempPrefix: "ilp-tb-shutdown-",
  // Slow enough that packets (and their posts) are in flight when the node is stopped.
  peerDelayMs: 30
}, (fixture) => {
  /** The liquidity accounts of the node's sender and upstream peers, straight from the cluster. */
  const liquidity = async () => {
    const { cluster } = fixture
    const client = createClient({ cluster_id: cluster.clusterId, replica_addresses: [...cluster.addresses] })
    try {
      const [sender, upstream] = await client.lookupAccounts([ids.peerLiquidity("sender"), ids.peerLiquidity("upstream")])
      if (sender === undefined || upstream === undefined) throw new Error("peer liquidity accounts not found")
      return { sender, upstream }
    } finally {
      client.destroy()
    }
  }

  it("SIGTERM under load: every Fulfill the senders saw is posted when the process has exited", async () => {
    const funding = 10_000_000n
    const { node, load } = await startNodeUnderLoad(fixture, { funding, workers, expiresInMs, fulfills: 300 })
    await node.kill("SIGTERM")
    expect(node.child.exitCode).toBe(0)
    const atExit = await liquidity()
    await load.stop()
    const seen = load.totals.fulfilled
    const posted = atExit.sender.debits_posted
    console.info(`shutdown on TigerBeetle: senders saw ${seen} fulfilled, ${posted} posted at exit`)
    expect(posted).toBeGreaterThanOrEqual(seen)
    expect(posted - seen).toBeLessThanOrEqual(BigInt(workers) * loadPacketAmountMax)

    // The reservations of packets cut off expire (hold ≤ expiresInMs, + 10 s margin): then nothing
    // is pending, nothing more was posted, and what left the sender arrived upstream.
    expect(await waitUntil(async () => {
      const { sender, upstream } = await liquidity()
      return sender.debits_pending === 0n && upstream.credits_pending === 0n
    }, expiresInMs + 10_000 + 30_000)).toBe(true)
    const after = await liquidity()
    expect(after.sender.debits_posted).toBe(posted)
    expect(after.upstream.credits_posted).toBe(posted)
    expect(after.sender.credits_posted).toBe(funding)
    const audit = await auditCluster(fixture.cluster)
    expect(audit.output).toContain("OK: no violations")
    expect(audit.code).toBe(0)
  }, 240_000)
})
