/**
 * The node's logger: Effect's default logger, with repeated warnings and errors aggregated so an
 * outage cannot flood the log (one WARN per T00 packet was 20 000 lines during one Redis outage).
 *
 * The first occurrence of a WARN/ERROR message is logged in full, at once. Further occurrences of
 * the same message (same level and text) within `intervalMs` are only counted; when the interval
 * ends, one line says how many there were: `<message> (repeated 19999 more times in the last 10 s)`.
 * While the repetition lasts, that is one line per interval; after an interval without any, the
 * next occurrence is again logged in full. At most `keysMax` messages are tracked at once; past
 * that, messages are logged as they come (nothing is lost). Info and lower pass through unchanged.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"

export interface AggregationOptions {
  /** Counting window per message. */
  readonly intervalMs: number
  /** Most distinct messages tracked at once. */
  readonly keysMax: number
}

export const defaultAggregation: AggregationOptions = { intervalMs: 10_000, keysMax: 1_000 }

/** Longest message text used as a key (longer texts share a key by their prefix). */
const keyCharsMax = 1_024

interface Entry {
  first: Logger.Options<unknown>
  suppressed: number
  windowEndsMs: number
}

const textOf = (part: unknown): string => {
  if (typeof part === "string") return part
  try {
    return JSON.stringify(part) ?? String(part)
  } catch {
    return String(part)
  }
}

const keyOf = (options: Logger.Options<unknown>): string => {
  const parts = Array.isArray(options.message) ? options.message : [options.message]
  return `${options.logLevel}:${parts.map(textOf).join(" ")}`.slice(0, keyCharsMax)
}

const aggregated = (level: string) => level === "Warn" || level === "Error" || level === "Fatal"

/**
 * `inner` with repeats aggregated (see the module comment). Scoped: a fiber closes the windows
 * (Effect's clock, so tests can use `TestClock`); closing the scope writes the pending counts.
 */
export const make = <Output>(
  inner: Logger.Logger<unknown, Output>,
  options: AggregationOptions = defaultAggregation
) =>
  Effect.gen(function*() {
    const entries = new Map<string, Entry>()

    const summary = (entry: Entry, nowMs: number): Logger.Options<unknown> => {
      const parts = Array.isArray(entry.first.message) ? entry.first.message : [entry.first.message]
      const seconds = Math.round(options.intervalMs / 100) / 10
      return {
        ...entry.first,
        message: [...parts, `(repeated ${entry.suppressed} more times in the last ${seconds} s)`],
        cause: Cause.empty,
        date: new Date(nowMs)
      }
    }

    const closeWindows = (nowMs: number, all: boolean) => {
      for (const [key, entry] of entries) {
        if (!all && entry.windowEndsMs > nowMs) continue
        if (entry.suppressed === 0) {
          entries.delete(key)
          continue
        }
        inner.log(summary(entry, nowMs))
        entry.suppressed = 0
        entry.windowEndsMs = nowMs + options.intervalMs
      }
    }

    const logger = Logger.make<unknown, void>((log) => {
      if (!aggregated(log.logLevel)) {
        inner.log(log)
        return
      }
      const key = keyOf(log)
      const entry = entries.get(key)
      if (entry !== undefined) {
        entry.suppressed++
        return
      }
      if (entries.size < options.keysMax) {
        entries.set(key, { first: log, suppressed: 0, windowEndsMs: log.date.getTime() + options.intervalMs })
      }
      inner.log(log)
    })

    const tickMs = Math.max(1, Math.min(1_000, Math.floor(options.intervalMs / 2)))
    yield* Effect.forkScoped(Effect.forever(
      Effect.sleep(tickMs).pipe(
        Effect.andThen(Effect.clockWith((clock) => Effect.sync(() => closeWindows(clock.currentTimeMillisUnsafe(), false))))
      )
    ))
    yield* Effect.addFinalizer(() => Effect.clockWith((clock) => Effect.sync(() => closeWindows(clock.currentTimeMillisUnsafe(), true))))
    return logger
  })

/** The node's loggers: the default logger with repeats aggregated, and the tracer logger. */
export const layer = (options: AggregationOptions = defaultAggregation) =>
  Logger.layer([make(Logger.defaultLogger, options), Logger.tracerLogger])
