/**
 * A node process on a three-replica TigerBeetle cluster under load: the primary replica is
 * SIGKILLed and the node keeps forwarding; a second node process then starts on the same cluster
 * (the same peers: a second instance of the node) and forwards too. Every answer was right: the
 * sender was debited exactly what its clients saw fulfilled (each Fulfill posted once, each Reject
 * voided or expired), nothing is left pending, and the audit of the cluster is clean.
 *
 * The only three-replica cluster of the suite (~4.3 GiB): this file starts it once.
 */
import { join } from "node:path"
import { expect, it } from "vitest"
import { describeOnCluster } from "../support/tigerbeetleFixture.ts"
import { admin, auditCluster, peerBalance, startLoad, waitUntil, writeNodeConfig } from "../support/tigerbeetleNode.ts"

/** Packets expire this soon, so reservations orphaned by the failover expire quickly (hold + 10 s margin). */
const expiresInMs = 4_000

describeOnCluster("TigerBeetle failover", "the three-replica TigerBeetle failover test", { tempPrefix: "ilp-tb-failover-", replicaCount: 3 }, (fixture) => {
  it("a replica SIGKILLed under load: the node keeps forwarding, a second node joins, the books are exact", async () => {
    const { cluster } = fixture
    const first = await writeNodeConfig(join(fixture.dir, "first"), { peerUrl: fixture.peer.url })
    const second = await writeNodeConfig(join(fixture.dir, "second"), { peerUrl: fixture.peer.url })
    await fixture.startNode(first)
    const funding = 100_000_000n
    await admin(first, "/liquidity/deposit", { peerId: "sender", amount: funding.toString() })

    const load = startLoad(first.connectorPort, { workers: 10, expiresInMs })
    expect(await waitUntil(() => load.totals.fulfills >= 200, 60_000)).toBe(true)
    // Replica 0 is the primary of view 0.
    await cluster.replicas[0]!.kill("SIGKILL")
    const atKill = load.totals.fulfills
    // The cluster elects another primary; the node keeps forwarding on the two replicas left.
    expect(await waitUntil(() => load.totals.fulfills >= atKill + 300, 120_000)).toBe(true)

    // A second instance starts on the degraded cluster and forwards too.
    await fixture.startNode(second)
    const secondLoad = startLoad(second.connectorPort, { workers: 10, expiresInMs })
    expect(await waitUntil(() => secondLoad.totals.fulfills >= 200, 60_000)).toBe(true)
    await Promise.all([load.stop(), secondLoad.stop()])

    const answers = [load.totals, secondLoad.totals]
    for (const totals of answers) {
      expect(totals.failures).toBe(0) // every packet got an ILP answer
      // While the cluster changed views some reservations could not be made (T00); on a starved
      // machine a packet may also arrive too late to forward (R00/R02). Never a refusal for money.
      for (const code of totals.codes.keys()) expect(["T00", "R00", "R02"]).toContain(code)
    }
    const fulfilled = answers.reduce((sum, totals) => sum + totals.fulfilled, 0n)

    // Posts land after the Fulfill; reservations whose request timed out during the view change may
    // still have landed, and expire within hold + margin: wait until nothing is pending.
    const settled = await waitUntil(async () => {
      const sender = await peerBalance(first, "sender")
      const upstream = await peerBalance(first, "upstream")
      return sender.debitsPending === 0n && upstream.creditsPending === 0n
    }, expiresInMs + 30_000)
    expect(settled).toBe(true)
    const sender = await peerBalance(first, "sender")
    const upstream = await peerBalance(first, "upstream")
    expect(sender.debitsPosted).toBe(fulfilled) // each Fulfill posted exactly once, nothing else
    expect(upstream.creditsPosted).toBe(fulfilled)
    expect(sender.creditsPosted).toBe(funding)
    expect(await peerBalance(second, "sender")).toEqual(sender) // one set of books for both instances

    const audit = await auditCluster(cluster)
    expect(audit.output).toContain("OK: no violations")
    expect(audit.output).toMatch(/pending transfers: 0\b/)
    expect(audit.code).toBe(0)
  }, 400_000)
})
