/**
 * The ILP-over-HTTP listener in isolation, beside a reference: `IlpOverHttp.serve` (the lean
 * `net.Server` with its fast path) and a plain `node:http` server running the same
 * `IlpOverHttp.makeHandler` (what the listener was before), both in front of the same fake
 * pipeline. The pipeline answers every packet with a Reject whose data is the request body (so an
 * answer shows the body was framed right), after `delayMs`, and counts interruptions.
 */
import { Effect, Exit, Scope } from "effect"
import type * as Fiber from "effect/Fiber"
import type { AddressInfo } from "node:net"
import type { PeerEntry, PeersShape } from "../../src/Connector/Peers.ts"
import { PacketType, type Reply } from "../../src/Connector/Packet.ts"
import type { PipelineShape } from "../../src/Connector/Pipeline.ts"
import { Slots } from "../../src/Slots.ts"
import type { IlpListenerGuard } from "../../src/Http/IlpListener.ts"
import { makeHandler, serve } from "../../src/Http/IlpOverHttp.ts"
import { createPublicServer, defaultListenerLimits, type ListenerLimits } from "../../src/Http/PublicListener.ts"

export const listenerToken = "lean-listener-test-token-0001"

export interface ListenerPair {
  /** The lean listener's port. */
  readonly port: number
  /** The reference `node:http` server's port. */
  readonly referencePort: number
  readonly guard: IlpListenerGuard
  readonly pipeline: { delayMs: number; started: number; interrupted: number; processed: number }
  /** Starts the lean listener's shutdown (drain); resolves when it is done. */
  readonly shutdown: () => Promise<void>
  readonly close: () => Promise<void>
}

export const startListenerPair = async (limits: Partial<ListenerLimits> = {}, drainTimeoutMs = 10_000): Promise<ListenerPair> => {
  const state = { delayMs: 0, started: 0, interrupted: 0, processed: 0 }
  const peer = { account: { peerId: "client" } } as unknown as PeerEntry
  const peers = { byToken: (token: string) => (token === listenerToken ? peer : undefined) } as unknown as PeersShape
  const pipeline: PipelineShape = {
    process: (incoming) => {
      const reply: Reply = {
        type: PacketType.Reject,
        reject: { code: "F00", triggeredBy: "test.node", message: "echo", data: Buffer.from(incoming.bytes) }
      }
      state.started++
      const answer = Effect.sync(() => {
        state.processed++
        return reply
      })
      return (state.delayMs > 0 ? Effect.andThen(Effect.sleep(state.delayMs), answer) : answer).pipe(
        Effect.onInterrupt(() => Effect.sync(() => state.interrupted++))
      )
    }
  }
  const all = { ...defaultListenerLimits, ...limits }
  const scope = Effect.runSync(Scope.make())
  const { port, guard } = await Effect.runPromise(
    Scope.provide(scope)(serve({ host: "127.0.0.1", port: 0, peers, pipeline, drainTimeoutMs, limits: all }))
  )
  const reference = createPublicServer(all, makeHandler({
    peers,
    pipeline,
    run: (effect) => Effect.runFork(effect),
    inFlight: new Slots<Fiber.Fiber<Reply>>(),
    draining: () => false
  })).server
  await new Promise<void>((resolve) => reference.listen(0, "127.0.0.1", resolve))
  let closed: Promise<void> | undefined
  const shutdown = () => (closed ??= Effect.runPromise(Scope.close(scope, Exit.void)))
  return {
    port,
    referencePort: (reference.address() as AddressInfo).port,
    guard,
    pipeline: state,
    shutdown,
    close: async () => {
      await shutdown()
      reference.closeAllConnections()
      await new Promise<void>((resolve) => reference.close(() => resolve()))
    }
  }
}

export interface ParsedAnswer {
  readonly status: number
  /** Lower-cased names; `date` left out (it differs by the second). */
  readonly headers: Record<string, string>
  readonly body: string
}

/**
 * The complete answers at the start of `bytes` (framed by Content-Length, none when absent: then
 * the body is what follows until the end), and whether anything incomplete follows.
 */
export const parseAnswers = (bytes: Buffer): { readonly answers: Array<ParsedAnswer>; readonly rest: number } => {
  const answers: Array<ParsedAnswer> = []
  let at = 0
  for (;;) {
    const end = bytes.indexOf("\r\n\r\n", at)
    if (end < 0) break
    const lines = bytes.toString("latin1", at, end).split("\r\n")
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0)
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":")
      const name = line.slice(0, colon).toLowerCase()
      if (name !== "date") headers[name] = line.slice(colon + 1).trim()
    }
    const length = headers["content-length"] === undefined ? bytes.length - end - 4 : Number(headers["content-length"])
    if (bytes.length < end + 4 + length) break
    answers.push({ status, headers, body: bytes.toString("hex", end + 4, end + 4 + length) })
    at = end + 4 + length
  }
  return { answers, rest: bytes.length - at }
}
