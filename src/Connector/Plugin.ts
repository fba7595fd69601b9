/**
 * The in-process ILP plugin (SPEC §2.2): the object `@interledger/pay` drives when this node sends
 * from its own payment services. Each `sendData` runs the packet through `Pipeline.process` — the
 * edge the ILP-over-HTTP server uses too — with a local account as its source, and answers the
 * serialized Fulfill or Reject. Packets are not special-cased anywhere: they are decoded, limited,
 * routed, priced, accounted and delivered like a peer's.
 *
 * - `unfulfillable: true` (quote rate probes): the flag travels with every packet; the ledger stage
 *   reserves nothing for them and a local STREAM receiver never accepts money for them, so no
 *   transfer is created on this node whatever the next hop answers.
 * - `sendData` never throws (Pay would read a throw as T00 and retry until its idle timeout). A
 *   plugin that is not connected, or whose node is shutting down, answers a final F02 ("the sending
 *   plugin is disconnected") so Pay stops at once; a packet interrupted by shutdown answers T00.
 * - Shutdown (the `Plugins` layer's scope closes): new packets are refused as above, packets in
 *   flight get up to `drainMsMax` to finish (their reservations are posted or voided normally),
 *   then the rest are interrupted (the ledger stage voids their reservations).
 * - Nothing is ever sent *to* a local sender over this plugin (STREAM replies travel in the
 *   Fulfill/Reject data), so a registered data handler is never called.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import type { Asset } from "../Config.ts"
import { NodeConfigService } from "../Config.ts"
import type { SourceAccount } from "./Account.ts"
import { internalErrorReject, toReject, Unreachable } from "./IlpErrors.ts"
import { encodeReply, PacketType, type Reply } from "./Packet.ts"
import { Pipeline } from "./Pipeline.ts"
import type { IncomingPacket } from "./Stage.ts"

export type DataHandler = (data: Buffer) => Promise<Buffer>

/** The plugin interface `@interledger/pay` (and `ilp-protocol-stream`) drive. */
export interface IlpPlugin {
  connect(): Promise<void>
  disconnect(): Promise<void>
  isConnected(): boolean
  sendData(data: Buffer): Promise<Buffer>
  registerDataHandler(handler: DataHandler): void
  deregisterDataHandler(): void
}

export interface PluginOptions {
  /** The local account the packets are debited from (see `localAccount`). */
  readonly sourceAccount: SourceAccount
  /** Quote rate probes: no ledger transfer may be created for these packets. */
  readonly unfulfillable: boolean
}

/** Runs one packet to its reply; `undefined` when the runner no longer takes packets. */
export type PacketRunner = (incoming: IncomingPacket) => Promise<Reply | undefined>

/** Longest wait, at shutdown, for packets in flight before they are interrupted. */
export const drainMsMax = 35_000

/** The reply as the Buffer plugins hand back. */
const replyBuffer = (reply: Reply): Buffer => Buffer.from(encodeReply(reply))

const disconnectedReply = (ourAddress: string): Reply => ({
  type: PacketType.Reject,
  reject: toReject(new Unreachable({ reason: "the sending plugin is disconnected" }), ourAddress)
})

/**
 * A plugin over `run`. `ourAddress` is the node's own ILP address (the `triggeredBy` of the rejects
 * the plugin makes itself).
 */
export const makeIlpPlugin = (run: PacketRunner, ourAddress: string, options: PluginOptions): IlpPlugin => {
  let connected = false
  const disconnected = replyBuffer(disconnectedReply(ourAddress))
  const interrupted = replyBuffer({ type: PacketType.Reject, reject: internalErrorReject(ourAddress) })
  return {
    connect: async () => {
      connected = true
    },
    disconnect: async () => {
      connected = false
    },
    isConnected: () => connected,
    sendData: async (data) => {
      if (!connected) return disconnected
      const reply = await run({ bytes: data, source: options.sourceAccount, unfulfillable: options.unfulfillable })
        .catch(() => "interrupted" as const)
      if (reply === "interrupted") return interrupted
      return reply === undefined ? disconnected : replyBuffer(reply)
    },
    // Nothing is ever sent to a local sender over this plugin (see the module comment).
    registerDataHandler: () => {},
    deregisterDataHandler: () => {}
  }
}

/**
 * A local source account: one of this node's own payment services sending. `id` names it (rate
 * limit key `local:<id>`); ILDCP answers `<our address>.<id>`. No packet-size, rate or throughput
 * limit of its own: the peers' limits apply downstream and their F08 data comes back to the sender.
 */
export const localAccount = (options: {
  readonly id: string
  readonly asset: Asset
  readonly ledgerAccountId: bigint
  readonly ourAddress: string
}): SourceAccount => ({
  key: `local:${options.id}`,
  kind: "local",
  id: options.id,
  asset: options.asset,
  ilpAddress: `${options.ourAddress}.${options.id}`,
  maxPacketAmount: undefined,
  rateLimit: undefined,
  throughputLimit: undefined,
  ledgerAccountId: options.ledgerAccountId
})

export interface PluginsShape {
  /** SPEC §2.2's `makeIlpPlugin({ sourceAccount, unfulfillable })`, bound to this node's pipeline. */
  readonly makeIlpPlugin: (options: PluginOptions) => IlpPlugin
  readonly ourAddress: string
}

export class Plugins extends Context.Service<Plugins, PluginsShape>()("Connector/Plugins") {}

export const make = Effect.gen(function*() {
  const config = yield* NodeConfigService
  const pipeline = yield* Pipeline
  // Packets in flight; the set interrupts whatever is left when the layer's scope closes.
  const fibers = yield* FiberSet.make<Reply>()
  const runPromise = yield* FiberSet.runtimePromise(fibers)<never>()
  let accepting = true
  // Added after the set, so it runs first at shutdown: stop taking packets, then let those in flight
  // finish (bounded) before the set interrupts the rest.
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      accepting = false
      return Effect.asVoid(Effect.timeoutOption(FiberSet.awaitEmpty(fibers), drainMsMax))
    })
  )
  const run: PacketRunner = (incoming) =>
    accepting ? runPromise(pipeline.process(incoming)) : Promise.resolve(undefined)
  return Plugins.of({
    makeIlpPlugin: (options) => makeIlpPlugin(run, config.ilpAddress, options),
    ourAddress: config.ilpAddress
  })
})

export const layer = Layer.effect(Plugins, make)
