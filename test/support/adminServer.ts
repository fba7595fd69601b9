/** Starts the admin API alone (no ILP server) against an in-memory ledger, for API and CLI tests. */
import { type Context, Effect, Exit, Layer, Scope } from "effect"
import { ensureConfiguredAccounts } from "../../src/Accounting/Accounts.ts"
import type { NodeConfig } from "../../src/Config.ts"
import { serve } from "../../src/Http/AdminApi.ts"
import { type Services, servicesLayer } from "../../src/Node.ts"

export interface AdminServer {
  readonly baseUrl: string
  readonly config: NodeConfig
  readonly close: () => Promise<void>
  /** Runs an effect against the server's own services (ledger, wallet addresses, ...). */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
}

/** The node's own services (in memory when `config.dataDir` is `:memory:`), without its ILP and SPSP servers. */
export const startAdminServer = async (config: NodeConfig): Promise<AdminServer> => {
  const services = servicesLayer(config)
  const scope = Scope.makeUnsafe()
  const program = Effect.gen(function*() {
    const context = yield* Layer.build(services)
    yield* ensureConfiguredAccounts(config).pipe(Effect.provideContext(context))
    const running = yield* serve(config).pipe(Effect.provideContext(context))
    return { port: running.port, context }
  })
  const { context, port } = await Effect.runPromise(Scope.provide(scope)(program))
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    config,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
    run: <A, E>(effect: Effect.Effect<A, E, Services>) =>
      Effect.runPromise(Effect.provideContext(effect, context as Context.Context<Services>))
  }
}
