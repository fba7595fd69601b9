/** Starts the admin API alone (no ILP server) against an in-memory ledger, for API and CLI tests. */
import { Effect, Exit, Layer, Scope } from "effect"
import { ensureConfiguredAccounts } from "../../src/Accounting/Accounts.ts"
import * as LedgerSqlite from "../../src/Accounting/LedgerSqlite.ts"
import * as Config from "../../src/Config.ts"
import type { NodeConfig } from "../../src/Config.ts"
import * as Metrics from "../../src/Connector/Metrics.ts"
import * as Peers from "../../src/Connector/Peers.ts"
import { serve } from "../../src/Http/AdminApi.ts"

export interface AdminServer {
  readonly baseUrl: string
  readonly config: NodeConfig
  readonly close: () => Promise<void>
}

export const startAdminServer = async (config: NodeConfig): Promise<AdminServer> => {
  const services = Layer.mergeAll(LedgerSqlite.layer({ filename: ":memory:" }), Peers.layer, Metrics.layer).pipe(
    Layer.provide(Config.layer(config))
  )
  const scope = Scope.makeUnsafe()
  const program = Effect.gen(function*() {
    const context = yield* Layer.build(services)
    yield* ensureConfiguredAccounts(config).pipe(Effect.provideContext(context))
    return yield* serve(config).pipe(Effect.provideContext(context))
  })
  const { port } = await Effect.runPromise(Scope.provide(scope)(program))
  return { baseUrl: `http://127.0.0.1:${port}`, config, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
