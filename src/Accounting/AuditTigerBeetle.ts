/**
 * The TigerBeetle half of the audit: every account's balances explained by its transfers, read
 * with TigerBeetle's `get_account_transfers` (the embedded ledger's equivalent is its journal
 * replay). The invariants common to both backends (double entry per ledger, balance flags,
 * settlement) are `Audit.ts`'s, over the same cluster through the ledger layer.
 *
 * For one account, from its transfers in timestamp order:
 * - posted = Σ single-phase transfers + Σ posts of pending transfers, per side;
 * - pending = Σ pending transfers neither posted nor voided whose timeout has not passed. A pending
 *   transfer's deadline is its timestamp + timeout (cluster time, nanoseconds); one whose deadline
 *   is within `clockSlackMs` of now may or may not have been expired yet by the cluster, so the
 *   pending balance must lie between the sum of the clearly live ones and that plus the uncertain
 *   ones. A pending balance above that holds a transfer past its timeout; below it, money vanished.
 * It also counts the pending transfers clearly still live (on their debit side; not those within
 * the clock slack of their timeout), which TigerBeetle's account balances alone cannot tell.
 *
 * The account is read before and after its transfers; if it changed in between (a node is
 * running), its check is repeated, up to `attemptsMax` times, then reported as `AccountBusy`
 * rather than as a false mismatch. Cost: one request per `pageSize` transfers of every account;
 * meant for an operator's audit, not for the packet path.
 */
import {
  type Account as TbAccount,
  AccountFilterFlags,
  type Client,
  createClient,
  type Transfer as TbTransfer,
  TransferFlags
} from "tigerbeetle-node"
import type { AccountBusy, PendingMismatch } from "./Audit.ts"
import type { AccountBalance } from "./Ledger.ts"

export interface BalanceCheckOptions {
  readonly clusterId: bigint
  readonly replicaAddresses: ReadonlyArray<string>
  /** Bound of every request. */
  readonly requestTimeoutMs?: number
  /** Transfers and accounts read per request (≤ the cluster's batch limit). */
  readonly pageSize?: number
  readonly clockSlackMs?: number
  readonly attemptsMax?: number
  /** Mismatches listed; more are only counted. */
  readonly mismatchesMax?: number
  /** Cluster "now" in ms (tests); `Date.now()` by default. */
  readonly nowMs?: () => number
}

export const defaults = {
  requestTimeoutMs: 10_000,
  pageSize: 250, // a --development cluster takes no more per reply
  clockSlackMs: 5_000,
  attemptsMax: 5,
  mismatchesMax: 1_000
} as const

/** What an account's transfers explain. */
export interface Explained {
  readonly debitsPosted: bigint
  readonly creditsPosted: bigint
  /** Pending amounts of transfers clearly still live, and of those within the clock slack. */
  readonly debitsPending: { readonly live: bigint; readonly uncertain: bigint }
  readonly creditsPending: { readonly live: bigint; readonly uncertain: bigint }
  /** Clearly live pending transfers debiting this account (not those within the slack of their timeout). */
  readonly pendingDebitTransfers: number
}

export type BalanceMismatch =
  | { readonly _tag: "PostedMismatch"; readonly expected: AccountBalance; readonly actual: AccountBalance }
  | PendingMismatch
  | AccountBusy

/** Explains an account's balances from its transfers (all of them, any order). Pure. */
export const explain = (
  accountId: bigint,
  transfers: ReadonlyArray<TbTransfer>,
  nowMs: number,
  clockSlackMs: number
): Explained => {
  let debitsPosted = 0n
  let creditsPosted = 0n
  const pending = new Map<bigint, TbTransfer>()
  const resolved = new Set<bigint>()
  for (const transfer of transfers) {
    const debit = transfer.debit_account_id === accountId
    if ((transfer.flags & TransferFlags.pending) !== 0) {
      pending.set(transfer.id, transfer)
    } else if ((transfer.flags & TransferFlags.void_pending_transfer) !== 0) {
      resolved.add(transfer.pending_id)
    } else {
      if ((transfer.flags & TransferFlags.post_pending_transfer) !== 0) resolved.add(transfer.pending_id)
      if (debit) debitsPosted += transfer.amount
      else creditsPosted += transfer.amount
    }
  }
  const now = BigInt(Math.floor(nowMs)) * 1_000_000n
  const slack = BigInt(Math.floor(clockSlackMs)) * 1_000_000n
  const debitsPending = { live: 0n, uncertain: 0n }
  const creditsPending = { live: 0n, uncertain: 0n }
  let pendingDebitTransfers = 0
  for (const transfer of pending.values()) {
    if (resolved.has(transfer.id)) continue
    const deadline = transfer.timestamp + BigInt(transfer.timeout) * 1_000_000_000n
    if (deadline < now - slack) continue // expired: the cluster released it
    const debit = transfer.debit_account_id === accountId
    const side = debit ? debitsPending : creditsPending
    if (deadline > now + slack) {
      side.live += transfer.amount
      if (debit) pendingDebitTransfers++
    } else side.uncertain += transfer.amount
  }
  return { debitsPosted, creditsPosted, debitsPending, creditsPending, pendingDebitTransfers }
}

/** The mismatches between an account and what its transfers explain. Pure. */
export const mismatches = (account: AccountBalance, explained: Explained): ReadonlyArray<BalanceMismatch> => {
  const found: Array<BalanceMismatch> = []
  if (account.debitsPosted !== explained.debitsPosted || account.creditsPosted !== explained.creditsPosted) {
    found.push({
      _tag: "PostedMismatch",
      actual: account,
      expected: {
        id: account.id,
        debitsPosted: explained.debitsPosted,
        creditsPosted: explained.creditsPosted,
        debitsPending: account.debitsPending,
        creditsPending: account.creditsPending
      }
    })
  }
  const sides = [
    ["debits", account.debitsPending, explained.debitsPending] as const,
    ["credits", account.creditsPending, explained.creditsPending] as const
  ]
  for (const [side, actual, { live, uncertain }] of sides) {
    if (actual < live || actual > live + uncertain) {
      found.push({ _tag: "PendingMismatch", account, side, explainedMin: live, explainedMax: live + uncertain })
    }
  }
  return found
}

const toBalance = (account: TbAccount): AccountBalance => ({
  id: account.id,
  debitsPending: account.debits_pending,
  debitsPosted: account.debits_posted,
  creditsPending: account.credits_pending,
  creditsPosted: account.credits_posted
})

const sameBalance = (a: TbAccount, b: TbAccount): boolean =>
  a.debits_pending === b.debits_pending && a.debits_posted === b.debits_posted &&
  a.credits_pending === b.credits_pending && a.credits_posted === b.credits_posted

const bounded = <A>(promise: Promise<A>, timeoutMs: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`TigerBeetle ${what} timed out after ${timeoutMs} ms`)), timeoutMs)
    })
  ]).finally(() => clearTimeout(timer))
}

const accountTransfers = async (client: Client, accountId: bigint, pageSize: number, timeoutMs: number) => {
  const transfers: Array<TbTransfer> = []
  let timestampMin = 0n
  while (true) {
    const page = await bounded(
      client.getAccountTransfers({
        account_id: accountId,
        user_data_128: 0n,
        user_data_64: 0n,
        user_data_32: 0,
        code: 0,
        timestamp_min: timestampMin,
        timestamp_max: 0n,
        limit: pageSize,
        flags: AccountFilterFlags.debits | AccountFilterFlags.credits
      }),
      timeoutMs,
      "get_account_transfers"
    )
    transfers.push(...page)
    const last = page.at(-1)
    if (last === undefined || page.length < pageSize) return transfers
    timestampMin = last.timestamp + 1n
  }
}

export interface BalanceCheck {
  readonly accounts: number
  readonly mismatches: ReadonlyArray<BalanceMismatch>
  /** Mismatches found beyond `mismatchesMax`. */
  readonly omitted: number
  /** Pending transfers clearly still live (more than the clock slack before their timeout). */
  readonly pendingTransfers: number
}

/** Checks every account of the cluster against its transfers. Rejects when the cluster cannot be read. */
export const checkBalances = async (options: BalanceCheckOptions): Promise<BalanceCheck> => {
  const o = { ...defaults, ...options }
  const client = createClient({ cluster_id: o.clusterId, replica_addresses: [...o.replicaAddresses] })
  const found: Array<BalanceMismatch> = []
  let omitted = 0
  let accounts = 0
  let pendingTransfers = 0
  const report = (list: ReadonlyArray<BalanceMismatch>) => {
    for (const mismatch of list) {
      if (found.length < o.mismatchesMax) found.push(mismatch)
      else omitted++
    }
  }
  try {
    let timestampMin = 0n
    while (true) {
      const page = await bounded(
        client.queryAccounts({
          user_data_128: 0n,
          user_data_64: 0n,
          user_data_32: 0,
          ledger: 0,
          code: 0,
          timestamp_min: timestampMin,
          timestamp_max: 0n,
          limit: o.pageSize,
          flags: 0
        }),
        o.requestTimeoutMs,
        "query_accounts"
      )
      for (const listed of page) {
        accounts++
        let settled = false
        for (let attempt = 0; attempt < o.attemptsMax && !settled; attempt++) {
          const [before] = await bounded(client.lookupAccounts([listed.id]), o.requestTimeoutMs, "lookup_accounts")
          const transfers = await accountTransfers(client, listed.id, o.pageSize, o.requestTimeoutMs)
          const [after] = await bounded(client.lookupAccounts([listed.id]), o.requestTimeoutMs, "lookup_accounts")
          if (before === undefined || after === undefined || !sameBalance(before, after)) continue
          settled = true
          const explained = explain(listed.id, transfers, o.nowMs?.() ?? Date.now(), o.clockSlackMs)
          pendingTransfers += explained.pendingDebitTransfers
          report(mismatches(toBalance(after), explained))
        }
        if (!settled) report([{ _tag: "AccountBusy", accountId: listed.id }])
      }
      const last = page.at(-1)
      if (last === undefined || page.length < o.pageSize) break
      timestampMin = last.timestamp + 1n
    }
  } finally {
    client.destroy()
  }
  return { accounts, mismatches: found, omitted, pendingTransfers }
}
