/**
 * The local STREAM receiver (SPEC §7), plugged into the packet path through `LocalReceivers`.
 *
 * `match` (routing stage): decode the payment tag from the destination; an incoming payment first,
 * then a wallet address. A tag naming a payment or wallet address that no longer exists is F02.
 *
 * `deliver` (end of the pipeline, inside the ledger reservation): the STREAM receiver builds the
 * reply for the destination amount. When it would accept money:
 *  - a completed, cancelled or expired incoming payment refuses it (F99 + ConnectionClose, built by STREAM);
 *  - otherwise the amount is RESERVED in the receipt totals, under the ledger reservation's id, in
 *    ONE atomic step that refuses anything past `incomingAmount` counting what other packets hold
 *    pending (F99 with a StreamMaxMoney frame telling the sender how much more it may send);
 *  - the receipt (RFC 39) carries the connection's committed total plus this packet;
 *  - an uncapped receiver on an in-process store reserves nothing (no cap to hold it against): its
 *    amount is added once the ledger posted it (`addsAfterPost`).
 * The ledger stage posts the reservation when this returns the Fulfill, and voids it otherwise.
 *
 * `settle` (called by the ledger stage once the reservation is posted or voided, uninterruptibly):
 * the receipt reservation is committed after a post (and the payment's state follows the committed
 * total) and released after a void, whatever made the packet fail: a receipt store that timed out
 * (and may apply the reserve later), a defect, or an interruption right after the reserve. So a
 * received total is never ahead of the ledger. When the store does not answer, the commit or
 * release is retried in the background (`settleLimits`); if the process dies first, the pending
 * amount lapses at the ledger reservation's timeout (see `ReceiptTotals.ts`). After a post whose
 * outcome is unknown, nothing is committed: the amount lapses unless the post is reconciled.
 *
 * Rate probes (unfulfillable, wrong condition) get STREAM's F99 reply with the amount that arrived.
 * `match` already finds out that their condition cannot be met (`LocalReceiver.fulfillable`), so
 * the ledger stage reserves nothing for them: another node's quote creates no transfers here.
 *
 * Over 400 lines on purpose: `match`, `deliver` and `settle` share one receiver's bookkeeping (the
 * packet's receipt reference, the reservation it settles). Reading the usual money packet is in
 * `StreamMoneyPacket.ts`, building replies in `StreamServerCached.ts`, the totals in `ReceiptTotals*.ts`.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as IlpPacket from "ilp-packet"
import { InternalError, ReceiverRejected, Unreachable } from "../Connector/IlpErrors.ts"
import { LocalReceivers, type SettleOutcome } from "../Connector/LocalReceivers.ts"
import { type Fulfill, type Reject, sha256Matches } from "../Connector/Packet.ts"
import type { LocalReceiver, PacketRequest, Timed } from "../Connector/Stage.ts"
import { StreamCredentials, type StreamCredentialsShape } from "./Credentials.ts"
import type { PostAlongside } from "../Accounting/Ledger.ts"
import {
  type AddResult,
  type AlongsideOutcome,
  type CommitResult,
  type PacketRef,
  type ReceiptAlongside,
  ReceiptTotals,
  type ReceiptStoreUnavailable
} from "./ReceiptTotals.ts"
import { type IncomingPaymentReceiver, ReceiverDirectory } from "./ReceiverDirectory.ts"
import type { CachedIncomingMoney } from "./StreamServerCached.ts"

/** What `alongsidePost` hands the ledger stage: the receipt store's write, and the packet it is for. */
interface ReceiverAlongside extends PostAlongside {
  readonly receipt: ReceiptAlongside
  readonly ref: PacketRef
}

type Target =
  | { readonly kind: "incoming"; readonly payment: IncomingPaymentReceiver }
  | { readonly kind: "wallet"; readonly walletAddressId: string }

/** What `match` found out, for `deliver`: the target, and the fulfillment when the condition matched. */
type Matched = Target & { readonly fulfillment: Buffer | undefined }

/** The same bytes as a Buffer, without copying (the receiver only reads them). */
const bufferView = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const fromIlpReject = (reject: IlpPacket.IlpReject): Reject => ({
  code: reject.code,
  triggeredBy: reject.triggeredBy,
  message: reject.message,
  data: reject.data
})

const isIncomingMoney = (reply: CachedIncomingMoney | IlpPacket.IlpReply): reply is CachedIncomingMoney =>
  "accept" in reply

/** Bounds on settling receipt reservations the store did not answer at once. */
export const settleLimits = {
  /** Background retries running at once; beyond it a settlement is left to lapse (and logged). */
  retriesRunningMax: 10_000,
  /** How long one is retried: the stores keep packet records this long past their lapse by default. */
  retryWindowMs: 120_000,
  /** Pause between two attempts. */
  retryIntervalMs: 500,
  /**
   * The first attempt runs before the Fulfill is returned, but stops this long before the packet
   * expires (the rest goes to the background), so a slow store never makes the Fulfill late.
   */
  replyMarginMs: 500
} as const

/**
 * Whether the receiver could fulfill this Prepare: its condition is the hash of the STREAM
 * fulfillment for its data. False for rate probes, whose condition is random. Uses the server's
 * per-connection keys (derived once per connection, not per packet).
 */
export const isFulfillable = (
  credentials: StreamCredentialsShape,
  prepare: { readonly destination: string; readonly data: Uint8Array; readonly executionCondition: Uint8Array }
): boolean => checkedFulfillment(credentials, prepare) !== undefined

/** The fulfillment of this Prepare when its condition is the hash of it; undefined otherwise. */
const checkedFulfillment = (
  credentials: StreamCredentialsShape,
  prepare: { readonly destination: string; readonly data: Uint8Array; readonly executionCondition: Uint8Array }
): Buffer | undefined => {
  const connection = credentials.server.connection(prepare.destination)
  if (connection === undefined) return undefined
  const fulfillment = credentials.server.fulfillmentFor(connection, prepare.data)
  return sha256Matches(fulfillment, prepare.executionCondition) ? fulfillment : undefined
}

export const make = Effect.gen(function*() {
  const credentials = yield* StreamCredentials
  const totals = yield* ReceiptTotals
  const directory = yield* ReceiverDirectory
  // Background settlement retries live as long as the receiver (the node).
  const scope = yield* Effect.scope

  const gone = (what: string) => Effect.fail(new Unreachable({ reason: `${what} no longer exists` }))

  const match = (request: PacketRequest) =>
    Effect.suspend(() => {
      const tag = credentials.decodeTag(request.prepare.destination)
      if (tag === undefined) return Effect.succeed(undefined)
      const fulfillment = request.unfulfillable ? undefined : checkedFulfillment(credentials, request.prepare)
      const fulfillable = fulfillment !== undefined
      if (tag.kind === "incoming") {
        return Effect.flatMap(directory.incomingPayment(tag.id), (payment) =>
          payment === undefined ? gone("incoming payment") : Effect.succeed<LocalReceiver>({
            ledgerAccountId: payment.ledgerAccountId,
            asset: payment.asset,
            fulfillable,
            checkedFulfillment: fulfillment,
            context: { kind: "incoming", payment, fulfillment } satisfies Matched
          }))
      }
      return Effect.flatMap(directory.walletAddress(tag.id), (wallet) =>
        wallet === undefined || !wallet.active ? gone("active wallet address") : Effect.succeed<LocalReceiver>({
          ledgerAccountId: wallet.ledgerAccountId,
          asset: wallet.asset,
          fulfillable,
          checkedFulfillment: fulfillment,
          context: { kind: "wallet", walletAddressId: wallet.id, fulfillment } satisfies Matched
        }))
    })

  const refuse = (reply: IlpPacket.IlpReject) => Effect.fail(new ReceiverRejected({ reject: fromIlpReject(reply) }))

  const paymentOf = (target: Target) =>
    target.kind !== "incoming" ?
      undefined :
      {
        key: target.payment.id,
        ...(target.payment.incomingAmount === undefined ? {} : { cap: target.payment.incomingAmount })
      }

  /**
   * Whether this receiver's amounts are added after the ledger posts instead of reserved first: an
   * uncapped receiver (a wallet address, or an incoming payment without `incomingAmount`) on an
   * in-process store. With no cap there is nothing to hold pending against, so nothing is reserved:
   * the receipt states the connection's committed total plus this packet (what a reserve states),
   * and `settle` adds the amount once the ledger posted it (nothing after a void). An in-process
   * add that fails was rolled back, so its retry cannot count it twice; a remote store (Redis)
   * keeps reserve + commit, whose commit is idempotent per packet.
   */
  const addsAfterPost = (target: Target): boolean =>
    totals.inProcess === true && (target.kind === "wallet" || target.payment.incomingAmount === undefined)

  const storeUnavailable = (error: ReceiptStoreUnavailable) =>
    new InternalError({ reason: `receipt store unavailable: ${error.message}` })

  /** The Fulfill of an uncapped receiver's packet (`addsAfterPost`): nothing reserved, no generator. */
  const acceptUncounted = (request: Timed, money: CachedIncomingMoney): Effect.Effect<Fulfill, InternalError> =>
    Effect.mapBoth(totals.get(money.connectionId), {
      onFailure: storeUnavailable,
      onSuccess: (committed) => {
        money.setTotal(committed + request.destinationAmount)
        return money.accept() satisfies Fulfill
      }
    })

  const acceptMoney = (request: Timed, target: Target, money: CachedIncomingMoney) =>
    // Money is only accepted inside a ledger reservation; without one (no transfers: nothing is
    // credited) the amount is counted at once.
    request.reservation !== undefined && addsAfterPost(target) ?
      acceptUncounted(request, money) :
      acceptCounted(request, target, money)

  /** A capped receiver's packet (or one without a ledger reservation): reserved (or added) against the cap first. */
  const acceptCounted = (request: Timed, target: Target, money: CachedIncomingMoney) => {
    const payment = paymentOf(target)
    const add = {
      connectionKey: money.connectionId,
      amount: request.destinationAmount,
      ...(payment === undefined ? {} : { payment })
    }
    const reservation = request.reservation
    const counted = reservation === undefined ?
      totals.add(add) :
      totals.reserve({ ...add, packetId: reservation.id.toString(), pendingMs: reservation.timeoutMs })
    // Per packet: the accepted answer without a generator; a refusal takes `refuseCounted`.
    return Effect.matchEffect(counted, {
      onFailure: (error) => Effect.fail(storeUnavailable(error)),
      onSuccess: (result) => {
        if (!result.accepted) return refuseCounted(target, money, result)
        money.setTotal(result.connectionTotal)
        return Effect.succeed(money.accept() satisfies Fulfill)
      }
    })
  }

  /** The store refused a counted packet: the cap is taken (final), or only part of the amount fits. */
  const refuseCounted = (target: Target, money: CachedIncomingMoney, result: { readonly remaining: bigint }) =>
    Effect.gen(function*() {
      if (result.remaining === 0n) {
        // The cap is taken: the payment may have completed on another instance meanwhile.
        if (target.kind === "incoming") {
          yield* totals.paymentTotal(target.payment.id).pipe(
            Effect.flatMap((committed) => directory.recordReceived(target.payment, committed)),
            Effect.ignore
          )
        }
        return yield* refuse(money.finalDecline())
      }
      const connectionTotal = yield* totals.get(money.connectionId).pipe(Effect.orElseSucceed(() => 0n))
      return yield* refuse(money.declineOverMaximum(connectionTotal + result.remaining, connectionTotal))
    })

  const afterCommit = (target: Target, ref: PacketRef, result: CommitResult) => {
    if (result.outcome !== "committed") {
      return Effect.logError("the ledger posted a packet its receipt total cannot count; reconcile", {
        packetId: ref.packetId,
        receipt: result.outcome
      })
    }
    return target.kind === "incoming" && result.paymentTotal !== undefined ?
      // Only a state change touches the store (the directory judges from the payment as matched).
      directory.recordReceived(target.payment, result.paymentTotal) :
      Effect.void
  }

  /** After the ledger posted a packet of an uncapped receiver (`addsAfterPost`): the amount counts now. */
  const addPosted = (request: Timed, target: Target, ref: PacketRef) =>
    Effect.flatMap(totals.add(addRequestOf(request, target, ref)), (result) => afterAdd(target, ref, result))

  /** A posted packet's add answered: an incoming payment learns its new total; a refusal is logged for reconciliation. */
  const afterAdd = (target: Target, ref: PacketRef, result: AddResult) => {
    if (!result.accepted) {
      return Effect.logError("the ledger posted a packet its receipt total cannot count; reconcile", {
        packetId: ref.packetId,
        receipt: "refused"
      })
    }
    return target.kind === "incoming" && result.paymentTotal !== undefined ?
      directory.recordReceived(target.payment, result.paymentTotal) :
      Effect.void
  }

  const settleOnce = (outcome: "posted" | "voided", target: Target, ref: PacketRef) =>
    outcome === "posted" ?
      Effect.flatMap(totals.commit(ref), (result) => afterCommit(target, ref, result)) :
      Effect.flatMap(totals.release(ref), (released) =>
        released === "committed" ?
          Effect.logError("the ledger voided a packet its receipt total already counts; reconcile", {
            packetId: ref.packetId
          }) :
          Effect.void)

  let retriesRunning = 0
  const retryInBackground = (attempt: Effect.Effect<void, ReceiptStoreUnavailable>, ref: PacketRef) => {
    if (retriesRunning >= settleLimits.retriesRunningMax) {
      return Effect.logError("too many receipt settlements wait for the store; this one lapses at its timeout", {
        packetId: ref.packetId
      })
    }
    retriesRunning++
    const retrying = attempt.pipe(
      Effect.retry({ schedule: Schedule.spaced(settleLimits.retryIntervalMs) }),
      Effect.timeout(settleLimits.retryWindowMs),
      Effect.catchCause((cause) =>
        Effect.logError("receipt settlement gave up; the pending amount lapses at its timeout", {
          packetId: ref.packetId,
          cause
        })
      ),
      Effect.ensuring(Effect.sync(() => retriesRunning--))
    )
    // Interruptible even though settling runs in the ledger stage's uninterruptible release: the
    // node's shutdown must not wait for it (what it leaves pending lapses).
    return Effect.asVoid(Effect.forkIn(Effect.interruptible(retrying), scope))
  }

  /** The packet as the receipt store knows it; undefined when nothing was reserved or accepted for it. */
  const packetRefOf = (request: Timed, receiver: LocalReceiver): PacketRef | undefined => {
    const reservation = request.reservation
    const connection = credentials.server.connection(request.prepare.destination)
    // Nothing was reserved: no reservation, a packet it could not accept, or not a connection of ours.
    if (reservation === undefined || !receiver.fulfillable || connection === undefined) return undefined
    const target = receiver.context as Target
    const paymentKey = target.kind === "incoming" ? target.payment.id : undefined
    return {
      packetId: reservation.id.toString(),
      connectionKey: connection.connectionId,
      ...(paymentKey === undefined ? {} : { paymentKey })
    }
  }

  const addRequestOf = (request: Timed, target: Target, ref: PacketRef) => {
    const payment = paymentOf(target)
    return {
      connectionKey: ref.connectionKey,
      amount: request.destinationAmount,
      ...(payment === undefined ? {} : { payment })
    }
  }

  /**
   * On a store that commits in the ledger's transactions (embedded profile): the write a posted
   * packet needs — the add of an uncapped receiver's amount, else the commit of its reservation —
   * run by the ledger inside the post's transaction, so the received total and the ledger credit
   * commit together. `settle` then only reads its outcome.
   */
  const alongsidePost = (request: Timed, receiver: LocalReceiver): ReceiverAlongside | undefined => {
    const write = totals.alongsidePost
    if (write === undefined) return undefined
    const ref = packetRefOf(request, receiver)
    if (ref === undefined) return undefined
    const target = receiver.context as Target
    const receipt = addsAfterPost(target) ?
      write({ kind: "add", request: addRequestOf(request, target, ref) }) :
      write({ kind: "commit", packet: ref })
    // The packet's ref travels with it to `settle` (not derived twice per packet).
    return { run: receipt.run, receipt, ref }
  }

  /** After a post that ran the receipt write in its transaction: what it answered. */
  const afterAlongside = (target: Target, ref: PacketRef, addsAfter: boolean, outcome: AlongsideOutcome) => {
    if (outcome._tag === "Defect") {
      return Effect.logError("the ledger posted a packet its receipt total cannot count; reconcile", {
        packetId: ref.packetId,
        defect: outcome.defect
      })
    }
    return addsAfter ?
      afterAdd(target, ref, outcome.result as AddResult) :
      afterCommit(target, ref, outcome.result as CommitResult)
  }

  const settle = (request: Timed, receiver: LocalReceiver, outcome: SettleOutcome, alongside?: PostAlongside) =>
    Effect.suspend(() => {
      const ours = alongside !== undefined && "receipt" in alongside ? alongside as ReceiverAlongside : undefined
      const ref = ours?.ref ?? packetRefOf(request, receiver)
      if (ref === undefined) return Effect.void
      const target = receiver.context as Target
      const addsAfter = addsAfterPost(target)
      // Written in the post's own transaction (a ledger that ignores it leaves no outcome: written below).
      const ranInPost = outcome === "posted" && ours !== undefined ? ours.receipt.outcome() : undefined
      if (ranInPost !== undefined) return afterAlongside(target, ref, addsAfter, ranInPost)
      if (outcome === "unknown") {
        return Effect.logWarning(
          addsAfter ?
            "post outcome unknown: the amount is not added to the receipt totals" :
            "post outcome unknown: the receipt total stays pending and lapses at its timeout",
          { packetId: ref.packetId }
        )
      }
      // Nothing was reserved for an uncapped receiver: nothing to release after a void.
      if (addsAfter && outcome === "voided") return Effect.void
      const attempt = addsAfter ? addPosted(request, target, ref) : settleOnce(outcome, target, ref)
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const budgetMs = request.outgoingExpiresAt - now - settleLimits.replyMarginMs
        if (budgetMs <= 0) return retryInBackground(attempt, ref)
        // An in-process store answers within a few event-loop turns: no timer (a race costs two
        // fibers and a timer per packet, docs/performance/local-delivery.md).
        if (totals.inProcess === true) return Effect.catch(attempt, () => retryInBackground(attempt, ref))
        return Effect.interruptible(attempt).pipe(
          Effect.timeout(budgetMs),
          Effect.catch(() => retryInBackground(attempt, ref))
        )
      })
    })

  const deliver = (request: Timed, receiver: LocalReceiver) =>
    Effect.suspend(() => {
      const target = receiver.context as Matched
      const acceptable = receiver.fulfillable && !request.unfulfillable
      // The condition was checked when matched (same data, same condition): not hashed again.
      const checked = acceptable && target.fulfillment !== undefined ? target.fulfillment : null
      // `createReply` without building an IlpPrepare. A packet that must not be accepted
      // (unfulfillable, or found unfulfillable when matched, so the ledger reserved nothing for it)
      // is answered as one whose condition did not match: as a rate probe (F99 with the amount
      // that arrived), never taking money that was not reserved.
      const reply = credentials.server.replyTo(
        request.prepare.destination,
        bufferView(request.prepare.data),
        request.destinationAmount,
        checked
      )
      if (!isIncomingMoney(reply)) {
        return "fulfillment" in reply ?
          Effect.succeed<Fulfill>({ fulfillment: reply.fulfillment, data: reply.data }) :
          refuse(reply)
      }
      if (target.kind === "incoming" && !target.payment.open) {
        return refuse(reply.finalDecline())
      }
      return acceptMoney(request, target, reply)
    })

  return LocalReceivers.of({
    match,
    deliver,
    settle,
    ...(totals.alongsidePost === undefined ? {} : { alongsidePost })
  })
})

export const layer = Layer.effect(LocalReceivers, make)
