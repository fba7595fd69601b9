import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as GrantStore from "../../src/OpenPayments/GrantStore.ts"
import { grantStoreContract } from "./GrantStoreContract.ts"

grantStoreContract("sqlite (:memory:)", async () => {
  const scope = await Effect.runPromise(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(GrantStore.layerSqlite({ filename: ":memory:" }), scope))
  return { store: Context.get(context, GrantStore.GrantStore), close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
})
