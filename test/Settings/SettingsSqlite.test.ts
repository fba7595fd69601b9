import { statSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as SettingsSqlite from "../../src/Settings/SettingsSqlite.ts"
import { settingsStoreContract } from "./SettingsStoreContract.ts"
import { makeTempDir, removeTempDir } from "../support/tempDir.ts"

settingsStoreContract("sqlite (:memory:)", async () => {
  const made = SettingsSqlite.make(":memory:")
  return { store: made.store, close: async () => made.close() }
})

describe("SettingsSqlite file", () => {
  it("is created readable by its owner only, and keeps what was written across a reopen", async () => {
    const dir = makeTempDir("settings-sqlite-")
    try {
      const filename = join(dir, "settings.sqlite")
      const first = SettingsSqlite.make(filename)
      await Effect.runPromise(first.store.putAsset({ code: "USD", scale: 2 }))
      first.close()
      expect(statSync(filename).mode & 0o077).toBe(0)
      const second = SettingsSqlite.make(filename)
      expect((await Effect.runPromise(second.store.load)).assets).toEqual([{ code: "USD", scale: 2 }])
      second.close()
    } finally {
      removeTempDir(dir)
    }
  })
})
