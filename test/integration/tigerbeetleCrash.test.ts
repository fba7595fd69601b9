/**
 * The node SIGKILLed under load on TigerBeetle (one replica, started once for this file), then
 * restarted on the same cluster: nothing was created or lost (what left the sender arrived at the
 * upstream peer, and it differs from what the senders saw fulfilled by at most the packets in
 * flight at the kill), every reservation was posted or voided within its timeout (the cluster
 * expires those of the dead process: nothing is pending once the longest timeout has passed), the
 * audit of the cluster is clean, and the restarted node forwards again.
 *
 * Unlike the embedded ledger, TigerBeetle keeps no list of the node's reservations to void on
 * restart: the cluster expires them at their timeout (hold time + 10 s margin, so `expiresInMs`
 * is short here). With the post after the Fulfill (docs/performance/tigerbeetle.md), a Fulfill the senders saw
 * may be unposted when the node dies: the books then miss it on both sides, which is the bound below.
 */
import { expect, it } from "vitest"
import { describeOnCluster, startNodeUnderLoad } from "../support/tigerbeetleFixture.ts"
import { auditCluster, loadPacketAmountMax, peerBalance, startLoad, waitUntil } from "../support/tigerbeetleNode.ts"

const expiresInMs = 4_000
const workers = 20

describeOnCluster("TigerBeetle crash and restart", "the TigerBeetle crash-and-restart test", {
  tempPrefix: "ilp-tb-crash-",
  // Slow enough that packets are in flight when the node dies.
  peerDelayMs: 30
}, (fixture) => {
  it("SIGKILL under load creates and loses nothing; every reservation resolves within its timeout; audit clean", async () => {
    const funding = 10_000_000n
    const { files, node, load } = await startNodeUnderLoad(fixture, { funding, workers, expiresInMs, fulfills: 300 })
    await node.kill("SIGKILL")
    const killedAt = Date.now()
    await load.stop()
    const seen = load.totals.fulfilled

    await fixture.startNode(files)
    // Reservations of the packets in flight expire at most hold (≤ expiresInMs) + 10 s after they
    // were made; allow the cluster's expiry pass and a busy machine on top.
    const timeoutBoundMs = expiresInMs + 10_000
    const settled = await waitUntil(async () => {
      const sender = await peerBalance(files, "sender")
      const upstream = await peerBalance(files, "upstream")
      return sender.debitsPending === 0n && upstream.creditsPending === 0n
    }, timeoutBoundMs + 20_000)
    expect(settled).toBe(true)
    expect(Date.now() - killedAt).toBeLessThan(timeoutBoundMs + 25_000)

    const sender = await peerBalance(files, "sender")
    const upstream = await peerBalance(files, "upstream")
    const moved = sender.debitsPosted
    expect(upstream.creditsPosted).toBe(moved) // nothing created or lost inside the ledger
    expect(sender.creditsPosted).toBe(funding)
    // At most the packets in flight at the kill differ: posted but unseen, or seen but unposted.
    console.info(`crash on TigerBeetle: senders saw ${seen} fulfilled, the ledger moved ${moved} (${moved - seen} difference)`)
    const inFlightMax = BigInt(workers) * loadPacketAmountMax
    expect(moved - seen).toBeLessThanOrEqual(inFlightMax)
    expect(seen - moved).toBeLessThanOrEqual(inFlightMax)

    const audit = await auditCluster(fixture.cluster)
    expect(audit.output).toContain("OK: no violations")
    expect(audit.output).toMatch(/pending transfers: 0\b/)
    expect(audit.code).toBe(0)

    // The restarted node forwards, and its fulfills are posted.
    const again = startLoad(files.connectorPort, { workers: 5, expiresInMs })
    expect(await waitUntil(() => again.totals.fulfills >= 50, 60_000)).toBe(true)
    await again.stop()
    expect(again.totals.failures).toBe(0)
    expect(
      await waitUntil(async () => (await peerBalance(files, "sender")).debitsPosted === moved + again.totals.fulfilled, 20_000)
    ).toBe(true)
  }, 240_000)
})
