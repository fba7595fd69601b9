/**
 * EXPERIMENT: what one background post's fiber costs (`LedgerReservation.ts` `makePostAfterReply`
 * runs every post after the reply in a fiber of a `FiberSet`): `n` posts forked into a set, each
 * suspended in an `Effect.callback` as a TigerBeetle post waits for its request, then all resumed
 * and awaited. CPU µs per post for the fork (up to the suspension) and for the resume and exit.
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/postFiber.ts [n]
 */
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"

const n = Number(process.argv[2] ?? 100_000)
const pending: Array<() => void> = []
const post = Effect.callback<void>((resume) => {
  pending.push(() => resume(Effect.void))
})
const program = Effect.gen(function*() {
  const set = yield* FiberSet.make<void, never>()
  for (let round = 1; round <= 3; round++) {
    let started = performance.now()
    for (let i = 0; i < n; i++) yield* FiberSet.run(set, post)
    const forkMs = performance.now() - started
    started = performance.now()
    for (const resume of pending.splice(0)) resume()
    yield* FiberSet.awaitEmpty(set)
    const resumeMs = performance.now() - started
    console.log(`round ${round}: fork until suspended ${((forkMs * 1000) / n).toFixed(2)} µs, ` +
      `resume and exit ${((resumeMs * 1000) / n).toFixed(2)} µs per post`)
  }
})
Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
