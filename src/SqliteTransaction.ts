/** The one way this node runs a write transaction on a `node:sqlite` database it owns. */
import type { DatabaseSync } from "node:sqlite"

/**
 * Runs `f` between BEGIN IMMEDIATE and COMMIT; when `f` (or the commit) throws, rolls back (unless
 * SQLite already ended the transaction itself, e.g. on a full disk) and rethrows the original error.
 */
export const inTransaction = <A>(db: DatabaseSync, f: () => A): A => {
  db.exec("BEGIN IMMEDIATE")
  try {
    const result = f()
    db.exec("COMMIT")
    return result
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK")
    throw error
  }
}
