/**
 * Property: whatever mix of outcomes packets meet downstream — fulfil, reject, time out, a defect,
 * a wrong fulfillment, or the packet's fiber being interrupted mid-flight — and in whatever
 * interleaving, across same-asset and cross-asset routes, the ledger stays balanced: every ledger's
 * debits equal its credits, nothing is left pending, and each account's balance is exactly the sum
 * of the packets that were fulfilled through it.
 *
 * The pipeline is the real one with the real embedded ledger (in memory); only the peer client is
 * replaced by a scripted one, so defects and interruptions can be injected where HTTP cannot.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, References } from "effect"
import fc from "fast-check"
import { ensureConfiguredAccounts, ids, ledgerOf } from "../../src/Accounting/Accounts.ts"
import { Ledger } from "../../src/Accounting/Ledger.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import { deposit } from "../../src/Accounting/Liquidity.ts"
import { newTransferId } from "../../src/Accounting/Ledger.ts"
import * as Config from "../../src/Config.ts"
import { decodeConfig } from "../../src/Config.ts"
import { Expired } from "../../src/Connector/IlpErrors.ts"
import * as LocalReceivers from "../../src/Connector/LocalReceivers.ts"
import * as Metrics from "../../src/Connector/Metrics.ts"
import { encodeFulfill, encodePrepare, encodeReject, PacketType, sha256 } from "../../src/Connector/Packet.ts"
import * as Peers from "../../src/Connector/Peers.ts"
import * as Pipeline from "../../src/Connector/Pipeline.ts"
import * as RateLimiter from "../../src/Connector/RateLimiter.ts"
import { PeerClient } from "../../src/Connector/PeerClient.ts"
import * as Rates from "../../src/Rates/Rates.ts"

type Outcome = "fulfil" | "reject" | "timeout" | "defect" | "wrongFulfilment" | "interrupt"
const outcomes: ReadonlyArray<Outcome> = ["fulfil", "reject", "timeout", "defect", "wrongFulfilment", "interrupt"]

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }

const configFile = {
  ilpAddress: "test.node",
  dataDir: ":memory:",
  rates: { static: { USD: { EUR: "0.75" }, EUR: { USD: "1.25" } } },
  peers: [
    { id: "alice", asset: usd, incomingTokens: ["alice-token-0000000000001"], staticIlpAddress: "test.alice", outgoing: { url: "http://127.0.0.1:9/", token: "alice-out-token-000000001" } },
    { id: "bob", asset: usd, incomingTokens: ["bob-token-00000000000000001"], staticIlpAddress: "test.bob", outgoing: { url: "http://127.0.0.1:9/", token: "bob-out-token-00000000001" } },
    { id: "carol", asset: eur, incomingTokens: ["carol-token-0000000000001"], staticIlpAddress: "test.carol", outgoing: { url: "http://127.0.0.1:9/", token: "carol-out-token-000000001" } }
  ]
}

/** The peer client acts out the outcome named in the destination's last segment. */
const scriptedPeerClient = Layer.succeed(PeerClient, PeerClient.of({
  send: (_peer, bytes) =>
    Effect.suspend(() => {
      const { decodePrepare } = PacketModule
      const prepare = decodePrepare(bytes)
      if ("_tag" in prepare) return Effect.die(new Error("scripted client got a bad prepare"))
      const outcome = prepare.destination.split(".").at(-1) as Outcome
      switch (outcome) {
        case "fulfil":
          return Effect.succeed(encodeFulfill({ fulfillment: prepare.data.subarray(0, 32), data: new Uint8Array(0) }))
        case "reject":
          return Effect.succeed(encodeReject({ code: "F99", triggeredBy: "test.x", message: "no", data: new Uint8Array(0) }))
        case "timeout":
          return Effect.andThen(Effect.sleep("2 millis"), Effect.fail(new Expired({ reason: "scripted timeout" })))
        case "defect":
          return Effect.die(new Error("scripted defect"))
        case "wrongFulfilment":
          return Effect.succeed(encodeFulfill({ fulfillment: new Uint8Array(32).fill(9), data: new Uint8Array(0) }))
        case "interrupt":
          return Effect.never
      }
    })
}))

import * as PacketModule from "../../src/Connector/Packet.ts"

const makeLayer = (config: Config.NodeConfig) => {
  const base = Layer.mergeAll(
    LedgerSqlite.layer({ filename: ":memory:", sweepIntervalMs: 50 }),
    Peers.layer,
    RateLimiter.layerMemory,
    Rates.layerStatic(config.rates.static),
    LocalReceivers.layerNone,
    Metrics.layer,
    scriptedPeerClient
  ).pipe(Layer.provideMerge(Config.layer(config)))
  return Pipeline.layer.pipe(Layer.provideMerge(base))
}

interface Sent {
  readonly from: "alice" | "bob" | "carol"
  readonly to: "alice" | "bob" | "carol"
  readonly amount: bigint
  readonly outcome: Outcome
}

const packetArbitrary: fc.Arbitrary<Sent> = fc.record({
  from: fc.constantFrom("alice" as const, "bob" as const, "carol" as const),
  to: fc.constantFrom("alice" as const, "bob" as const, "carol" as const),
  amount: fc.bigInt({ min: 0n, max: 5_000n }),
  outcome: fc.constantFrom(...outcomes)
}).filter((p) => p.from !== p.to)

const assetOf = (peer: Sent["from"]) => (peer === "carol" ? eur : usd)

/** Destination amount with the static rates (floor), as the exchange-rate stage computes it. */
const converted = (sent: Sent): bigint => {
  const from = assetOf(sent.from).code
  const to = assetOf(sent.to).code
  if (from === to) return sent.amount
  return from === "USD" ? (sent.amount * 75n) / 100n : (sent.amount * 125n) / 100n
}

const funding = 1_000_000n

describe("pipeline + ledger", () => {
  it.effect("random interleavings keep every ledger balanced and each balance equal to its fulfilled packets", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(configFile, {})
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(packetArbitrary, { minLength: 1, maxLength: 40 }), async (packets) => {
            await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
              const context = yield* Layer.build(makeLayer(config))
              const run = <A, E>(effect: Effect.Effect<A, E, Ledger>) => Effect.provideContext(effect, context)
              yield* run(ensureConfiguredAccounts(config))
              for (const peer of ["alice", "bob", "carol"]) {
                yield* run(deposit(config, { kind: "peer", peerId: peer }, funding, newTransferId()))
              }
              for (const asset of [usd, eur]) {
                yield* run(deposit(config, { kind: "asset", asset }, funding, newTransferId()))
              }
              const pipeline = Context.get(context, Pipeline.Pipeline)
              const peers = Context.get(context, Peers.Peers)
              // Launch every packet concurrently, interrupt the ones scripted to hang.
              const fibers = yield* Effect.forEach(packets, (sent, index) => {
                const fulfillment = sha256(new Uint8Array([index, 1, 2, 3]))
                const bytes = encodePrepare({
                  amount: sent.amount,
                  expiresAt: Date.now() + 10_000,
                  executionCondition: sha256(fulfillment),
                  destination: `test.${sent.to}.p${index}.${sent.outcome}`,
                  data: fulfillment
                })
                return Effect.forkChild(pipeline.process({ bytes, source: peers.byId(sent.from)!.account, unfulfillable: false }))
              })
              yield* Effect.sleep("20 millis")
              const exits = yield* Effect.forEach(fibers, (fiber, index): Effect.Effect<Exit.Exit<unknown>> =>
                packets[index]!.outcome === "interrupt" ? Effect.as(Fiber.interrupt(fiber), Exit.void) : Fiber.await(fiber))
              // Which packets were fulfilled, as seen by their sender.
              const fulfilled = packets.filter((_, index) => {
                const exit = exits[index]!
                return Exit.isSuccess(exit) && typeof exit.value === "object" && exit.value !== null &&
                  (exit.value as { type?: number }).type === PacketType.Fulfill
              })
              // A non-zero amount that converts to zero is refused (R01) before it reaches the peer.
              const deliverable = (p: Sent) => p.outcome === "fulfil" && !(p.amount > 0n && converted(p) === 0n)
              expect(fulfilled.every(deliverable)).toBe(true)
              expect(fulfilled.length).toBe(packets.filter(deliverable).length)

              const ledger = Context.get(context, Ledger)
              const accounts = yield* ledger.listAccounts({ limit: 1000 })
              for (const account of accounts) {
                expect({ id: account.id, pending: account.debitsPending + account.creditsPending }).toEqual({ id: account.id, pending: 0n })
              }
              for (const asset of [usd, eur]) {
                const inLedger = accounts.filter((a) => a.ledger === ledgerOf(asset))
                const debits = inLedger.reduce((sum, a) => sum + a.debitsPosted, 0n)
                const credits = inLedger.reduce((sum, a) => sum + a.creditsPosted, 0n)
                expect(debits).toBe(credits)
              }
              const net = (id: bigint) => {
                const account = accounts.find((a) => a.id === id)!
                return account.creditsPosted - account.debitsPosted
              }
              for (const peer of ["alice", "bob", "carol"] as const) {
                const sent = fulfilled.filter((p) => p.from === peer).reduce((sum, p) => sum + p.amount, 0n)
                const received = fulfilled.filter((p) => p.to === peer).reduce((sum, p) => sum + converted(p), 0n)
                expect({ peer, balance: net(ids.peerLiquidity(peer)) }).toEqual({ peer, balance: funding - sent + received })
              }
              for (const asset of [usd, eur]) {
                const inflow = fulfilled.filter((p) => assetOf(p.from) === asset && assetOf(p.to) !== asset)
                  .reduce((sum, p) => sum + p.amount, 0n)
                const outflow = fulfilled.filter((p) => assetOf(p.to) === asset && assetOf(p.from) !== asset)
                  .reduce((sum, p) => sum + converted(p), 0n)
                expect(net(ids.assetLiquidity(asset))).toBe(funding + inflow - outflow)
              }
            })).pipe(Effect.provideService(References.MinimumLogLevel, "None")))
          }),
          { numRuns: 40 }
        )
      )
    }), 60_000)
})
