/**
 * Repeated warnings are aggregated (issue 14, defect 5): the first occurrence is logged at once, the
 * rest of the interval is one count line, a quiet interval resets, other levels pass through, and the
 * number of tracked messages is bounded. Runs on `TestClock`: no waiting.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as TestClock from "effect/testing/TestClock"
import * as Logging from "../src/Logging.ts"

interface Line {
  readonly level: string
  readonly text: string
}

const collector = () => {
  const lines: Array<Line> = []
  const logger = Logger.make<unknown, void>((options) => {
    const parts = Array.isArray(options.message) ? options.message : [options.message]
    lines.push({ level: options.logLevel, text: parts.map(String).join(" ") })
  })
  return { lines, logger }
}

const withAggregation = <A, E>(inner: Logger.Logger<unknown, void>, options: Logging.AggregationOptions, body: Effect.Effect<A, E>) =>
  body.pipe(Effect.provide(Logger.layer([Logging.make(inner, options)])))

describe("Logging: repeated warnings", () => {
  it.effect("20 000 identical warnings: the first at once, then one count per interval", () =>
    Effect.gen(function*() {
      const { lines, logger } = collector()
      yield* withAggregation(logger, { intervalMs: 10_000, keysMax: 100 }, Effect.gen(function*() {
        for (let i = 0; i < 20_000; i++) yield* Effect.logWarning("internal error while processing a packet", "Redis down")
        yield* Effect.logWarning("another problem")
        for (let i = 0; i < 5; i++) yield* Effect.logInfo("info passes through")
        expect(lines).toEqual([
          { level: "Warn", text: "internal error while processing a packet Redis down" },
          { level: "Warn", text: "another problem" },
          ...Array.from({ length: 5 }, () => ({ level: "Info", text: "info passes through" }))
        ])
        yield* TestClock.adjust(10_000)
        expect(lines.slice(7)).toEqual([{
          level: "Warn",
          text: "internal error while processing a packet Redis down (repeated 19999 more times in the last 10 s)"
        }])
        // Still going: one line per interval.
        for (let i = 0; i < 300; i++) yield* Effect.logWarning("internal error while processing a packet", "Redis down")
        yield* TestClock.adjust(10_000)
        expect(lines.slice(8).map((line) => line.text)).toEqual([
          "internal error while processing a packet Redis down (repeated 300 more times in the last 10 s)"
        ])
        // A quiet interval: the next occurrence is logged in full again.
        yield* TestClock.adjust(20_000)
        yield* Effect.logWarning("internal error while processing a packet", "Redis down")
        expect(lines.slice(9).map((line) => line.text)).toEqual(["internal error while processing a packet Redis down"])
      }).pipe(Effect.scoped))
    }).pipe(Effect.provide(TestClock.layer())))

  it.effect("pending counts are written when the logger closes; distinct messages past keysMax are all logged", () =>
    Effect.gen(function*() {
      const { lines, logger } = collector()
      yield* withAggregation(logger, { intervalMs: 10_000, keysMax: 3 }, Effect.gen(function*() {
        for (let i = 0; i < 10; i++) yield* Effect.logError(`message ${i}`)
        for (let i = 0; i < 10; i++) yield* Effect.logError(`message ${i}`)
      }))
      const texts = lines.map((line) => line.text)
      // 0..2 tracked (first + count at close); 3..9 untracked: every occurrence logged.
      expect(texts.filter((text) => text === "message 0")).toHaveLength(1)
      expect(texts).toContain("message 0 (repeated 1 more times in the last 10 s)")
      expect(texts.filter((text) => text === "message 9")).toHaveLength(2)
      expect(lines).toHaveLength(3 + 3 + 14)
    }).pipe(Effect.provide(TestClock.layer())))
})

