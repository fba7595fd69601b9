/**
 * One process per embedded data directory. The embedded stores assume they are the only writer of
 * their files (the ledger voids every pending transfer it finds at open, the receipt store releases
 * every pending receipt), so a second process on the same directory would void the first one's live
 * reservations. `layer` takes an OS-level lock on `<dataDir>/lock.sqlite` before any store opens and
 * holds it for the life of the node; a second process is refused with `DataDirInUse`.
 *
 * The lock is SQLite's own file lock (POSIX `fcntl` on Linux and macOS, `LockFileEx` on Windows):
 * an EXCLUSIVE transaction opened at start and never committed. The operating system drops it when
 * the process exits, however it exits (SIGKILL and crashes included), so there is no stale lock to
 * clean up and no pid-reuse guess to make. It also refuses a second node started inside the same
 * process (SQLite tracks its locks per file within a process). The holder's pid is written to
 * `<dataDir>/node.pid`, only to name it in the refusal message.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"

export const lockFileName = "lock.sqlite"
export const pidFileName = "node.pid"

/** Another process (or another node in this one) holds the data directory. */
export class DataDirInUse extends Data.TaggedError("DataDirInUse")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** Marker service: present while this process holds the data directory. */
export class DataDirLock extends Context.Service<DataDirLock, { readonly dataDir: string }>()("DataDirLock") {}

const holderPid = (dataDir: string): string | undefined => {
  try {
    const pid = readFileSync(join(dataDir, pidFileName), "utf8").trim()
    return /^[0-9]{1,10}$/.test(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

const isBusy = (error: unknown): boolean =>
  error instanceof Error && /locked|busy/i.test(error.message)

const acquire = (dataDir: string) =>
  Effect.try({
    try: () => {
      mkdirSync(dataDir, { recursive: true })
      // timeout 0: never wait for the holder, it holds the lock until it exits.
      const db = new DatabaseSync(join(dataDir, lockFileName), { timeout: 0 })
      try {
        db.exec("PRAGMA journal_mode = DELETE")
        db.exec("BEGIN EXCLUSIVE")
      } catch (error) {
        db.close()
        throw error
      }
      writeFileSync(join(dataDir, pidFileName), `${process.pid}\n`, { mode: 0o600 })
      return db
    },
    catch: (cause) => {
      if (!isBusy(cause)) {
        return new DataDirInUse({ message: `cannot lock the data directory ${dataDir}: ${String(cause)}`, cause })
      }
      const pid = holderPid(dataDir)
      return new DataDirInUse({
        message: `data directory ${dataDir} is in use by another node process${pid === undefined ? "" : ` (pid ${pid})`}; ` +
          "only one process may use a data directory at a time",
        cause
      })
    }
  })

const release = (dataDir: string, db: DatabaseSync) =>
  Effect.sync(() => {
    // The pid file first: once the lock is gone another process may write its own.
    rmSync(join(dataDir, pidFileName), { force: true })
    try {
      db.exec("ROLLBACK")
    } finally {
      db.close()
    }
  })

/** Holds `dataDir` for the layer's scope; fails with `DataDirInUse` when another process holds it. */
export const layer = (dataDir: string): Layer.Layer<DataDirLock, DataDirInUse> =>
  Layer.effect(
    DataDirLock,
    Effect.map(
      Effect.acquireRelease(acquire(dataDir), (db) => release(dataDir, db)),
      () => DataDirLock.of({ dataDir })
    )
  )
