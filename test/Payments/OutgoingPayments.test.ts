/**
 * The pure parts of outgoing payments: which Pay failures are retried, the retry loop and its
 * backoff, Pay's minimum delivery for a fixed send, and the deterministic transfer ids that make a
 * funding or refund retried after a crash idempotent. (Sending itself is tested over real sockets
 * in test/integration/sending.test.ts and test/Http/PaymentsApi.test.ts.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import * as TestClock from "effect/testing/TestClock"
import { backoffMs, defaultSendingLimits, limitsProblem } from "../../src/Payments/Limits.ts"
import { type AttemptResult, classify, minDeliveryFor, retrying } from "../../src/Payments/Attempts.ts"
import { transferIds } from "../../src/Payments/PaymentLedger.ts"
import { PayFailed } from "../../src/Payments/Pay.ts"

const failure = (error: string, code?: string) =>
  new PayFailed({ error, finalReject: code === undefined ? undefined : { code, message: "because" } })

describe("OutgoingPayments.classify", () => {
  it("an F-code reject is final, whatever Pay called it, and the reason names it", () => {
    expect(classify(failure("ConnectorError", "F02"))).toEqual({ kind: "final", reason: "ConnectorError: F02 because" })
    expect(classify(failure("EstablishmentFailed", "F02")).kind).toBe("final")
  })

  it("an R-code reject is temporary", () => {
    expect(classify(failure("ConnectorError", "R00")).kind).toBe("temporary")
  })

  it("without a reject, Pay's error decides", () => {
    for (const error of ["IdleTimeout", "EstablishmentFailed", "RateProbeFailed", "InsufficientExchangeRate", "Timeout"]) {
      expect(classify(failure(error)).kind).toBe("temporary")
    }
    for (const error of ["ClosedByReceiver", "IncompatibleReceiveMax", "ReceiverProtocolViolation", "DestinationAssetConflict"]) {
      expect(classify(failure(error)).kind).toBe("final")
    }
  })
})

describe("OutgoingPayments.retrying", () => {
  const limits = { attemptsMax: 4, backoffMsBase: 100, backoffMsMax: 250 }

  it.effect("retries temporary failures with exponential backoff, capped, until done", () =>
    Effect.gen(function*() {
      const startedAt: Array<number> = []
      const results: Array<AttemptResult> = [
        { kind: "temporary", reason: "idle" },
        { kind: "temporary", reason: "idle" },
        { kind: "temporary", reason: "idle" },
        { kind: "done" }
      ]
      const recorded: Array<string> = []
      const fiber = yield* Effect.forkChild(retrying(
        limits,
        (n) => Effect.map(Clock.currentTimeMillis, (now) => (startedAt.push(now), results[n - 1]!)),
        (reason) => Effect.sync(() => void recorded.push(reason))
      ))
      yield* TestClock.adjust(1_000)
      expect(yield* Fiber.join(fiber)).toEqual({ kind: "done" })
      // Waits of 100, 200, then 250 (capped) ms.
      expect(startedAt).toEqual([0, 100, 300, 550])
      expect(recorded).toEqual(["idle", "idle", "idle"])
    }).pipe(Effect.provide(TestClock.layer())))

  it.effect("a temporary failure on the last attempt becomes final; a final one stops at once", () =>
    Effect.gen(function*() {
      let calls = 0
      const fiber = yield* Effect.forkChild(
        retrying(limits, () => Effect.sync((): AttemptResult => (calls++, { kind: "temporary", reason: "T01 down" })))
      )
      yield* TestClock.adjust(10_000)
      expect(yield* Fiber.join(fiber)).toEqual({ kind: "final", reason: "T01 down (after 4 attempts)" })
      expect(calls).toBe(4)
      let finals = 0
      const stopped = yield* retrying(limits, () => Effect.sync((): AttemptResult => (finals++, { kind: "final", reason: "gone" })))
      expect(stopped).toEqual({ kind: "final", reason: "gone" })
      expect(finals).toBe(1)
    }).pipe(Effect.provide(TestClock.layer())))
})

describe("sending limits", () => {
  it("backoff doubles from the base and is capped", () => {
    const limits = { ...defaultSendingLimits, backoffMsBase: 1_000, backoffMsMax: 5_000 }
    expect([1, 2, 3, 4, 10].map((n) => backoffMs(limits, n))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000])
  })

  it("are validated", () => {
    expect(limitsProblem(defaultSendingLimits)).toBeUndefined()
    expect(limitsProblem({ ...defaultSendingLimits, attemptsMax: 0 })).toMatch(/attemptsMax/)
    expect(limitsProblem({ ...defaultSendingLimits, slippage: 1 })).toMatch(/slippage/)
    expect(limitsProblem({ ...defaultSendingLimits, settleWaitMsMax: 1.5 })).toMatch(/settleWaitMsMax/)
  })
})

describe("OutgoingPayments pure leaves", () => {
  it("minDeliveryFor is Pay's ceil((amount - 1) * rate)", () => {
    const rate = { num: 891n, den: 1_000n }
    expect(minDeliveryFor(12_000n, rate)).toBe(10_692n)
    expect(minDeliveryFor(1n, rate)).toBe(0n)
    expect(minDeliveryFor(2n, rate)).toBe(1n)
    expect(minDeliveryFor(1_001n, rate)).toBe(891n)
  })

  it("funding and refund ids are deterministic per payment and distinct", () => {
    expect(transferIds.funding("p1")).toBe(transferIds.funding("p1"))
    expect(transferIds.funding("p1")).not.toBe(transferIds.refund("p1"))
    expect(transferIds.funding("p1")).not.toBe(transferIds.funding("p2"))
    expect(transferIds.refund("p1") > 0n && transferIds.refund("p1") < 2n ** 128n - 1n).toBe(true)
  })
})
