/**
 * The data directory of the embedded profile: the SQLite stores (ledger, payments with the STREAM
 * shared secrets of quotes, receipt totals) and the generated admin token. None of it is for other
 * users: the directory is made 0700 and every file in it 0600, before anything is written.
 *
 * SQLite creates its `-wal`, `-shm` and `-journal` files with the mode of the database file, so
 * creating the database file 0600 first covers them; files left by an earlier run with wider modes
 * are tightened at start. A directory that cannot be created or written stops the start-up with
 * one line naming it and the cause.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { randomBytes } from "node:crypto"
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export const dirMode = 0o700
export const fileMode = 0o600

/**
 * The embedded stores' files, created in the data directory. `receipts.sqlite` is not among them:
 * only a node on TigerBeetle without Redis keeps receipt totals in it (created with `secureFile`
 * when that store opens); the embedded ledger keeps them in `ledger.sqlite`.
 */
export const storeFiles = ["ledger.sqlite", "payments.sqlite", "settings.sqlite", "openpayments.sqlite", "lock.sqlite"] as const
const sqliteCompanions = ["", "-wal", "-shm", "-journal"] as const

export class DataDirError extends Data.TaggedError("DataDirError")<{ readonly message: string }> {}

const describe = (error: unknown): string => String((error as Error)?.message ?? error)

/** `dir` exists, is a writable directory, mode 0700; the store files exist, and every file in it has mode 0600. */
export const prepare = (dir: string): Effect.Effect<void, DataDirError> =>
  Effect.try({
    try: () => {
      mkdirSync(dir, { recursive: true, mode: dirMode })
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" })
      if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, dirMode)
      accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK)
      for (const name of storeFiles) secureFile(join(dir, name), { sqlite: true })
      // Every other file an earlier run left with wider modes (keys, tokens, SQLite companions).
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isFile()) secureFile(join(dir, entry.name))
      }
    },
    catch: (error) => new DataDirError({ message: `data directory ${dir}: ${describe(error)}` })
  })

/** Creates `path` empty with mode 0600 if missing, else tightens it (and its SQLite companions). */
export const secureFile = (path: string, options: { readonly sqlite?: boolean } = {}): void => {
  if (!existsSync(path)) writeFileSync(path, "", { mode: fileMode, flag: "wx" })
  for (const suffix of options.sqlite === true ? sqliteCompanions : [""]) {
    const file = `${path}${suffix}`
    if (existsSync(file) && (statSync(file).mode & 0o077) !== 0) chmodSync(file, fileMode)
  }
}

/** The generated admin token's file in the data directory. */
export const adminTokenFile = "admin-token"

/** Reads the admin token kept in `dir`, undefined when there is none. */
export const readAdminToken = (dir: string): string | undefined => {
  try {
    const token = readFileSync(join(dir, adminTokenFile), "utf8").trim()
    return token === "" ? undefined : token
  } catch {
    return undefined
  }
}

/**
 * The admin token when none is configured: the one kept in `<dir>/admin-token`, or a new random one
 * (32 bytes, base64url) written there with mode 0600. `generated` says it is new (print it once).
 */
export const ensureAdminToken = (dir: string): Effect.Effect<{ readonly token: string; readonly generated: boolean; readonly file: string }, DataDirError> =>
  Effect.flatMap(prepare(dir), () =>
    Effect.try({
      try: () => {
        const file = join(dir, adminTokenFile)
        const kept = readAdminToken(dir)
        if (kept !== undefined) return { token: kept, generated: false, file }
        const token = randomBytes(32).toString("base64url")
        writeFileSync(file, `${token}\n`, { mode: fileMode, flag: "wx" })
        return { token, generated: true, file }
      },
      catch: (error) => new DataDirError({ message: `data directory ${dir}: admin token: ${describe(error)}` })
    }))
