import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { DatabaseSync } from "node:sqlite"

describe("toolchain", () => {
  it.effect("runs effects on node 24", () =>
    Effect.gen(function*() {
      const n = yield* Effect.succeed(1n + 2n)
      expect(n).toBe(3n)
      expect(process.versions.node.startsWith("24.")).toBe(true)
      const db = new DatabaseSync(":memory:")
      db.close()
    }))
})
