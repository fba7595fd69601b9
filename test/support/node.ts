/** Starts a node in-process (real sockets, real layers) and stops it when the test is done. */
import { Effect, Exit, Scope } from "effect"
import { decodeConfig, type NodeConfig } from "../../src/Config.ts"
import { type RunningNode, type Services, start } from "../../src/Node.ts"
import { newTransferId } from "../../src/Accounting/Ledger.ts"
import { available, balanceOf, deposit, type LiquidityTarget } from "../../src/Accounting/Liquidity.ts"
import { decodeReply, isDecodeFailure, type Reply } from "../../src/Connector/Packet.ts"

export interface TestNode extends RunningNode {
  readonly url: string
  readonly config: NodeConfig
  readonly close: () => Promise<void>
}

export const startNode = async (file: Record<string, unknown>): Promise<TestNode> => {
  const config = await Effect.runPromise(
    decodeConfig({ host: "127.0.0.1", connectorPort: 0, adminPort: 0, openPaymentsPort: 0, dataDir: ":memory:", ...file }, {})
  )
  const scope = Scope.makeUnsafe()
  const node = await Effect.runPromise(Scope.provide(scope)(start(config)))
  return {
    ...node,
    config,
    url: `http://127.0.0.1:${node.connectorPort}/ilp`,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** Runs an effect against the node's own services (ledger, config, ...). */
export const runIn = <A, E>(node: TestNode, effect: Effect.Effect<A, E, Services>): Promise<A> =>
  Effect.runPromise(Effect.provideContext(effect, node.services))

export const depositTo = (node: TestNode, target: LiquidityTarget, amount: bigint) =>
  runIn(node, deposit(node.config, target, amount, newTransferId()))

/** Available balance of an asset's or a peer's liquidity account. */
export const liquidityOf = async (node: TestNode, target: LiquidityTarget): Promise<bigint> => {
  const balance = await runIn(node, balanceOf(node.config, target))
  return balance === undefined ? 0n : available(balance)
}

export interface HttpAnswer {
  readonly status: number
  readonly body: Uint8Array
  readonly reply: Reply | undefined
}

export const postPacket = async (
  url: string,
  bytes: Uint8Array,
  options: { readonly token?: string | undefined; readonly headers?: Record<string, string> } = {}
): Promise<HttpAnswer> => {
  const headers: Record<string, string> = { "content-type": "application/octet-stream", ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const response = await fetch(url, { method: "POST", headers, body: bytes })
  const body = new Uint8Array(await response.arrayBuffer())
  const decoded = response.status === 200 ? decodeReply(body) : undefined
  return {
    status: response.status,
    body,
    reply: decoded === undefined || isDecodeFailure(decoded) ? undefined : decoded
  }
}
