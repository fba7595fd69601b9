/**
 * The ledger with the latency of its calls recorded in `ilp_ledger_request_duration_seconds
 * {operation}`. The packet path's calls (`reserve`, `post`, `void`) are timed by the ledger stage
 * itself (`Connector/stages/LedgerReservation.ts`, one measurement per call, no extra layer on the
 * hot path) and pass straight through here; every other call — account creation, operator money
 * movements (`createChain`, `transfer`), look-ups, balances, audits — is timed here.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Metrics, type MetricsShape } from "../Connector/Metrics.ts"
import { Ledger, type LedgerShape } from "./Ledger.ts"

const timed = <A, E, R>(metrics: MetricsShape, operation: string, call: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const startedAt = performance.now()
    return Effect.ensuring(call, Effect.sync(() => metrics.recordLedger(operation, performance.now() - startedAt)))
  })

/** `inner` with its non-packet-path calls timed. Pure wiring. */
export const timedLedger = (inner: LedgerShape, metrics: MetricsShape): LedgerShape => ({
  reserve: inner.reserve,
  post: inner.post,
  ...(inner.postWith === undefined ? {} : { postWith: inner.postWith }),
  voidPending: inner.voidPending,
  createAccounts: (accounts) => timed(metrics, "createAccounts", inner.createAccounts(accounts)),
  transfer: (transfers) => timed(metrics, "transfer", inner.transfer(transfers)),
  createChain: (transfers) => timed(metrics, "createChain", inner.createChain(transfers)),
  lookupTransfers: (ids) => timed(metrics, "lookupTransfers", inner.lookupTransfers(ids)),
  balances: (ids) => timed(metrics, "balances", inner.balances(ids)),
  listAccounts: (query) => timed(metrics, "listAccounts", inner.listAccounts(query)),
  countPending: timed(metrics, "countPending", inner.countPending)
})

/** Wraps the ledger `inner` provides. */
export const layer = <E, R>(inner: Layer.Layer<Ledger, E, R>): Layer.Layer<Ledger, E, R | Metrics> =>
  Layer.effect(
    Ledger,
    Effect.gen(function*() {
      return timedLedger(yield* Ledger, yield* Metrics)
    })
  ).pipe(Layer.provide(inner))
