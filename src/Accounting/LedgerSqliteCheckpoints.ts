/**
 * WAL checkpoints of the embedded ledger, run by the writer between batches instead of by SQLite
 * inside a batch's COMMIT.
 *
 * SQLite's automatic checkpoint runs in the COMMIT that takes the WAL past 1000 frames: it copies
 * the WAL into the database file and syncs both (with `synchronous = NORMAL` too), ~2–3 ms blocked
 * in `fsync` on the event-loop thread, every ~140 batches under load. Inside COMMIT, every caller of
 * that batch (a reserve before its packet goes to the peer, a post before its Fulfill goes back)
 * waits for it, on top of everything else the loop had to do
 * (docs/performance/hot-path.md, "The forwarding p99 tail").
 *
 * Here the writer calls `afterBatch` once the batch's callers have been answered (their packets
 * are on their sockets): the same PASSIVE checkpoint, every `framesTarget` WAL frames as before,
 * at a moment when no packet in the node is waiting for the ledger. The number of frames a batch
 * adds is learnt from each checkpoint's own count (no query per batch), so the next one is due
 * after about `framesTarget` frames. SQLite's own automatic checkpoint stays on as a backstop at
 * `backstopFactor × framesTarget` frames, so the WAL stays bounded whatever this schedule does.
 *
 * Durability is as before: a checkpoint only moves committed frames into the database file.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite"

/** SQLite's automatic checkpoint (the backstop) runs at this many times the target. */
export const backstopFactor = 10

export interface Checkpoints {
  /**
   * After a batch whose callers were answered: checkpoints when about `framesTarget` frames have
   * been added since the last one. Answers the error when the checkpoint failed (the WAL keeps
   * the frames; the next one, or the backstop, copies them).
   */
  readonly afterBatch: () => unknown
}

const none: Checkpoints = { afterBatch: () => undefined }

/** Batches before the first checkpoint, while nothing is known of the frames per batch. */
const firstDue = 64

export const makeCheckpoints = (db: DatabaseSync, framesTarget: number): Checkpoints => {
  const mode = db.prepare("PRAGMA journal_mode").get() as { journal_mode?: unknown } | undefined
  // `:memory:` and read-only snapshots have no WAL to checkpoint.
  if (String(mode?.journal_mode).toLowerCase() !== "wal") return none
  db.exec(`PRAGMA wal_autocheckpoint = ${framesTarget * backstopFactor}`)
  const checkpoint: StatementSync = db.prepare("PRAGMA wal_checkpoint(PASSIVE)")
  let batches = 0
  let due = firstDue
  return {
    afterBatch: () => {
      batches++
      if (batches < due) return undefined
      const since = batches
      batches = 0
      let frames: number
      try {
        // { busy, log: frames in the WAL, checkpointed: frames copied }
        frames = Number((checkpoint.get() as { log?: unknown } | undefined)?.log)
      } catch (error) {
        due = firstDue
        return error
      }
      // The WAL restarts from its beginning at the next write once every frame was copied, so
      // `frames` is what the last `since` batches added (more if a reader kept it from restarting,
      // which only brings the next checkpoint sooner).
      const perBatch = Number.isFinite(frames) && frames > 0 ? frames / since : 1
      due = Math.max(1, Math.min(framesTarget, Math.round(framesTarget / perBatch)))
      return undefined
    }
  }
}
