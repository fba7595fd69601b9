/**
 * EXPERIMENT: what one background post's fiber costs (`LedgerReservation.ts` `makePostAfterReply`
 * runs a local receiver's post after the reply in a fiber of a `FiberSet`), against the callback
 * path a peer's post now takes (`postDetached`: one `Effect.sync` that counts the post and hands
 * the ledger two callbacks). `n` posts started, each left waiting as a TigerBeetle post waits for
 * its request, then all answered (and, for fibers, awaited). CPU µs per post to start it (up to the
 * suspension) and to answer it and end it.
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node bench/experiments/postFiber.ts [n] [fiber|callback]
 */
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import { makePostAfterReply } from "../../src/Connector/stages/LedgerReservation.ts"

const n = Number(process.argv[2] ?? 100_000)
const mode = process.argv[3] ?? "fiber"
const pending: Array<() => void> = []
const post = Effect.callback<void>((resume) => {
  pending.push(() => resume(Effect.void))
})
/** What `postWith` does with its callbacks here: keeps `done` until the "request" answers. */
const postWith = (_ids: ReadonlyArray<bigint>, done: () => void, _rest: (rest: Effect.Effect<void>) => void) => {
  pending.push(done)
}
const ids = [1n]
const program = Effect.gen(function*() {
  const set = yield* FiberSet.make<void, never>()
  const posts = yield* makePostAfterReply
  const detached = posts.detached!
  for (let round = 1; round <= 3; round++) {
    let started = performance.now()
    if (mode === "callback") {
      for (let i = 0; i < n; i++) {
        yield* Effect.sync(() => {
          detached.begin()
          postWith(ids, () => detached.end(), detached.fork)
        })
      }
    } else {
      for (let i = 0; i < n; i++) yield* FiberSet.run(set, post)
    }
    const forkMs = performance.now() - started
    started = performance.now()
    for (const resume of pending.splice(0)) resume()
    yield* FiberSet.awaitEmpty(set)
    const resumeMs = performance.now() - started
    console.log(`${mode} round ${round}: start until waiting ${((forkMs * 1000) / n).toFixed(2)} µs, ` +
      `answer and end ${((resumeMs * 1000) / n).toFixed(2)} µs per post`)
  }
})
Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
