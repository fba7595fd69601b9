/**
 * A bounded string-keyed cache with a zero-allocation hit path and coalesced refreshes.
 *
 * Why not `effect/Cache`: its hit path reorders an LRU map and allocates an `Option`, a closure and
 * an Effect node per call (≈0.5 µs); rates are read on every packet. Here a fresh hit is one `Map`
 * lookup and one clock read (`peek`), and `get` on a hit returns the stored `Exit` itself.
 *
 * Semantics:
 * - A miss or a stale entry starts ONE lookup; every caller asking for that key meanwhile awaits
 *   the same result. The lookup runs in the cache's scope, not in the caller's fiber: a caller that
 *   is interrupted (its packet expired) does not cancel a fetch others wait for. The lookup must
 *   bound its own time (the rates fetch has `timeoutMs`).
 * - A success is kept for `successTtlMs`, a failure for `failureTtlMs` (0 = not kept), an
 *   interruption (scope closing) never.
 * - At most `entriesMax` keys; inserting past it drops the oldest-inserted key (hits do not
 *   reorder, which keeps them free; entries are re-inserted on every refresh, so the oldest
 *   insertion is the least recently refreshed). A dropped pending lookup still answers its waiters.
 * - Time is the `Clock` of the fiber that builds the cache (so `TestClock` drives expiry in tests).
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"

export interface CoalescingCache<A, E> {
  /** The fresh cached value for `key`, or `undefined` (absent, pending, failed or stale). Sync. */
  readonly peek: (key: string) => A | undefined
  /** The value for `key`: cached if fresh, else from the (shared) lookup. Decided when run. */
  readonly get: (key: string) => Effect.Effect<A, E>
}

export interface Options<A, E> {
  readonly lookup: (key: string) => Effect.Effect<A, E>
  readonly successTtlMs: number
  readonly failureTtlMs: number
  readonly entriesMax: number
}

interface Pending<A, E> {
  readonly _tag: "Pending"
  readonly deferred: Deferred.Deferred<A, E>
}

interface Done<A, E> {
  readonly _tag: "Done"
  readonly exit: Exit.Exit<A, E>
  readonly expiresAtMs: number
}

type Slot<A, E> = Pending<A, E> | Done<A, E>

type Restore = <X, EX>(effect: Effect.Effect<X, EX>) => Effect.Effect<X, EX>

/** How long an outcome is kept; pure. */
export const ttlFor = <A, E>(exit: Exit.Exit<A, E>, options: Options<A, E>): number => {
  if (Exit.isSuccess(exit)) return options.successTtlMs
  return Exit.hasInterrupts(exit) ? 0 : options.failureTtlMs
}

/** Inserts `slot` as the newest entry, dropping the oldest ones past `entriesMax`. */
const insert = <A, E>(slots: Map<string, Slot<A, E>>, key: string, slot: Slot<A, E>, entriesMax: number): void => {
  slots.delete(key)
  slots.set(key, slot)
  for (const oldest of slots.keys()) {
    if (slots.size <= entriesMax) return
    slots.delete(oldest)
  }
}

export const make = <A, E>(options: Options<A, E>): Effect.Effect<CoalescingCache<A, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const scope = yield* Effect.scope
    const slots = new Map<string, Slot<A, E>>()

    const isFresh = (slot: Slot<A, E> | undefined): slot is Done<A, E> =>
      slot !== undefined && slot._tag === "Done" && clock.currentTimeMillisUnsafe() < slot.expiresAtMs

    const settle = (key: string, pending: Pending<A, E>, exit: Exit.Exit<A, E>): void => {
      const ttlMs = ttlFor(exit, options)
      if (slots.get(key) === pending) {
        if (ttlMs > 0) {
          insert(slots, key, { _tag: "Done", exit, expiresAtMs: clock.currentTimeMillisUnsafe() + ttlMs }, options.entriesMax)
        } else {
          slots.delete(key)
        }
      }
      Deferred.doneUnsafe(pending.deferred, exit)
    }

    /**
     * Registers a pending slot and forks the lookup into the cache's scope, with no interruption
     * point in between (a pending slot without a fiber would wedge the key). Only the wait is
     * interruptible. The fiber is observed rather than wrapped so it settles even if interrupted
     * before it starts.
     */
    const start = (key: string, restore: Restore): Effect.Effect<A, E> => {
      const pending: Pending<A, E> = { _tag: "Pending", deferred: Deferred.makeUnsafe<A, E>() }
      insert(slots, key, pending, options.entriesMax)
      return Effect.flatMap(Effect.forkIn(options.lookup(key), scope), (fiber) => {
        fiber.addObserver((exit) => settle(key, pending, exit))
        return restore(Deferred.await(pending.deferred))
      })
    }

    return {
      peek: (key) => {
        const slot = slots.get(key)
        return isFresh(slot) && Exit.isSuccess(slot.exit) ? slot.exit.value : undefined
      },
      // decided when run, not when built: effects built together (Effect.all) must still share one lookup
      get: (key) =>
        Effect.uninterruptibleMask((restore) => {
          const slot = slots.get(key)
          if (isFresh(slot)) return slot.exit
          if (slot !== undefined && slot._tag === "Pending") return restore(Deferred.await(slot.deferred))
          return start(key, restore)
        })
    }
  })
