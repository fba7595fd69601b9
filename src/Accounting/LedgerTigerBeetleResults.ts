/**
 * What TigerBeetle's per-event result codes mean for a ledger call: done, retry, a typed failure
 * or a defect, and the verdict over a linked chain. Pure.
 */
import { CreateTransferStatus } from "tigerbeetle-node"
import {
  InsufficientBalance,
  PendingAlreadyPosted,
  PendingAlreadyVoided,
  PendingExpired,
  PendingNotFound,
  type TransferSpec
} from "./Ledger.ts"

// ---------------------------------------------------------------------------------------------
// Result codes
// ---------------------------------------------------------------------------------------------

/** What one event's result means for the call. */
export type Outcome<E> =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Retry" }
  | { readonly _tag: "Fail"; readonly error: E }
  | { readonly _tag: "Die"; readonly message: string }

const done: Outcome<never> = { _tag: "Done" }
const retry: Outcome<never> = { _tag: "Retry" }
const fail = <E>(error: E): Outcome<E> => ({ _tag: "Fail", error })
const die = (message: string): Outcome<never> => ({ _tag: "Die", message })

const statusName = (status: CreateTransferStatus): string => CreateTransferStatus[status] ?? String(status)

const unexpected = (id: bigint, status: CreateTransferStatus): Outcome<never> =>
  die(`TigerBeetle refused transfer ${id}: ${statusName(status)}`)

const insufficient = (accountId: bigint, transferId: bigint, reason: InsufficientBalance["reason"]) =>
  new InsufficientBalance({ accountId, transferId, reason })

/** Creating a pending or posted transfer. */
export const classifyCreate = (spec: TransferSpec, status: CreateTransferStatus): Outcome<InsufficientBalance> => {
  switch (status) {
    case CreateTransferStatus.created:
    case CreateTransferStatus.exists:
      return done
    case CreateTransferStatus.linked_event_failed:
      return retry
    case CreateTransferStatus.exceeds_credits:
      return fail(insufficient(spec.debitAccountId, spec.id, "exceeds_credits"))
    case CreateTransferStatus.exceeds_debits:
      return fail(insufficient(spec.creditAccountId, spec.id, "exceeds_debits"))
    case CreateTransferStatus.id_already_failed:
      return die(`transfer id ${spec.id} already failed; use a fresh id`)
    default:
      return unexpected(spec.id, status)
  }
}

type PostFailure = PendingNotFound | PendingExpired | PendingAlreadyVoided

/** Posting a pending transfer: already posted is success; unknown, expired, voided are errors. */
export const classifyPost = (pendingId: bigint, status: CreateTransferStatus): Outcome<PostFailure> => {
  switch (status) {
    case CreateTransferStatus.created:
    case CreateTransferStatus.pending_transfer_already_posted:
      return done
    case CreateTransferStatus.linked_event_failed:
      return retry
    case CreateTransferStatus.pending_transfer_not_found:
      return fail(new PendingNotFound({ transferId: pendingId }))
    case CreateTransferStatus.pending_transfer_expired:
      return fail(new PendingExpired({ transferId: pendingId }))
    case CreateTransferStatus.pending_transfer_already_voided:
      return fail(new PendingAlreadyVoided({ transferId: pendingId }))
    default:
      return unexpected(pendingId, status)
  }
}

/** Voiding a pending transfer: unknown, expired and voided are success; posted is an error. */
export const classifyVoid = (pendingId: bigint, status: CreateTransferStatus): Outcome<PendingAlreadyPosted> => {
  switch (status) {
    case CreateTransferStatus.created:
    case CreateTransferStatus.pending_transfer_not_found:
    case CreateTransferStatus.pending_transfer_expired:
    case CreateTransferStatus.pending_transfer_already_voided:
      return done
    case CreateTransferStatus.linked_event_failed:
      return retry
    case CreateTransferStatus.pending_transfer_already_posted:
      return fail(new PendingAlreadyPosted({ transferId: pendingId }))
    default:
      return unexpected(pendingId, status)
  }
}

/** The call's verdict from its events' outcomes: a defect first, then the first error, else what to retry. */
export const verdict = <I, E>(
  items: ReadonlyArray<I>,
  outcomes: ReadonlyArray<Outcome<E>>
): Outcome<E> | { readonly _tag: "Resubmit"; readonly items: ReadonlyArray<I> } => {
  const died = outcomes.find((outcome) => outcome._tag === "Die")
  if (died !== undefined) return died
  const failed = outcomes.find((outcome) => outcome._tag === "Fail")
  if (failed !== undefined) return failed
  const again = items.filter((_, i) => outcomes[i]?._tag === "Retry")
  if (again.length === 0) return done
  if (again.length === items.length) return die("TigerBeetle failed a whole chain without naming a cause")
  return { _tag: "Resubmit", items: again }
}

