import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import * as Rational from "../../src/Rates/Rational.ts"

const ok = (result: Result.Result<Rational.Rational, Rational.InvalidRational>): Rational.Rational => {
  if (Result.isFailure(result)) throw new Error(`expected a rational, got ${result.failure.reason}`)
  return result.success
}

const r = (num: bigint, den: bigint): Rational.Rational => ok(Rational.make(num, den))

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b))

const isNormalised = (x: Rational.Rational): boolean =>
  x.den > 0n && x.num >= 0n && (x.num === 0n ? x.den === 1n : gcd(x.num, x.den) === 1n)

const u64Max = (1n << 64n) - 1n

const amountArb = fc.bigInt({ min: 0n, max: u64Max })
const rationalArb = fc
  .tuple(fc.bigInt({ min: 0n, max: 10n ** 24n }), fc.bigInt({ min: 1n, max: 10n ** 24n }))
  .map(([num, den]) => r(num, den))
const scaleArb = fc.integer({ min: 0, max: 18 })

describe("Rational.make", () => {
  it("normalises", () => {
    expect(r(2n, 4n)).toEqual({ num: 1n, den: 2n })
    expect(r(0n, 7n)).toEqual(Rational.zero)
    expect(r(9n, 3n)).toEqual({ num: 3n, den: 1n })
  })

  it("rejects a zero denominator and negatives as values, not throws", () => {
    expect(Rational.make(1n, 0n)).toEqual(Result.fail({ _tag: "InvalidRational", reason: "zero denominator" }))
    expect(Result.isFailure(Rational.make(-1n, 2n))).toBe(true)
    expect(Result.isFailure(Rational.make(1n, -2n))).toBe(true)
  })
})

describe("Rational.fromDecimal", () => {
  it.each([
    ["0.9", 9n, 10n],
    ["12", 12n, 1n],
    ["0012.500", 25n, 2n],
    [".5", 1n, 2n],
    ["5.", 5n, 1n],
    ["0", 0n, 1n],
    ["0.000", 0n, 1n],
    ["1e-7", 1n, 10_000_000n],
    ["2.5E+3", 2500n, 1n],
    ["1e21", 10n ** 21n, 1n],
    ["5e-324", 1n, 2n * 10n ** 323n],
    ["0.1000000000000000055511151231257827", 1000000000000000055511151231257827n, 10n ** 34n]
  ])("%s is parsed exactly", (text, num, den) => {
    expect(ok(Rational.fromDecimal(text))).toEqual({ num, den })
  })

  it.each(["", ".", "e5", "-1", "-0.5", "+1", " 1", "1 ", "1.2.3", "abc", "NaN", "Infinity", "1e", "0x10", "1,5"])(
    "rejects %j",
    (text) => {
      expect(Result.isFailure(Rational.fromDecimal(text))).toBe(true)
    }
  )

  it("bounds the work an input can cause", () => {
    expect(Result.isFailure(Rational.fromDecimal(`1e${Rational.exponentMagnitudeMax + 1}`))).toBe(true)
    expect(Result.isFailure(Rational.fromDecimal(`1e-${Rational.exponentMagnitudeMax + 1}`))).toBe(true)
    expect(Result.isSuccess(Rational.fromDecimal(`1e-${Rational.exponentMagnitudeMax}`))).toBe(true)
    expect(Result.isFailure(Rational.fromDecimal("1".repeat(Rational.decimalLengthMax + 1)))).toBe(true)
    expect(Result.isSuccess(Rational.fromDecimal("1".repeat(Rational.decimalLengthMax)))).toBe(true)
  })

  it("is exact for any digits.digits", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.integer({ min: 0, max: 30 }), (digits, places) => {
        const text = digits.toString().padStart(places + 1, "0")
        const decimal = places === 0 ? text : `${text.slice(0, -places)}.${text.slice(-places)}`
        const parsed = ok(Rational.fromDecimal(decimal))
        expect(isNormalised(parsed)).toBe(true)
        expect(parsed.num * 10n ** BigInt(places)).toBe(digits * parsed.den)
      })
    )
  })
})

describe("Rational.fromNumber", () => {
  it("takes the shortest round-trip decimal, not the binary double", () => {
    expect(ok(Rational.fromNumber(0.1))).toEqual({ num: 1n, den: 10n })
    expect(ok(Rational.fromNumber(0.9))).toEqual({ num: 9n, den: 10n })
    expect(ok(Rational.fromNumber(1e-7))).toEqual({ num: 1n, den: 10_000_000n })
    expect(ok(Rational.fromNumber(1.5e300))).toEqual({ num: 15n * 10n ** 299n, den: 1n })
    expect(ok(Rational.fromNumber(-0))).toEqual(Rational.zero)
    // 0.1 * 3 is 0.30000000000000004 in floats; exactly 3/10 here
    expect(Rational.multiply(ok(Rational.fromNumber(0.1)), r(3n, 1n))).toEqual({ num: 3n, den: 10n })
  })

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, -1e-7, -Number.MIN_VALUE])(
    "rejects %s",
    (value) => {
      expect(Result.isFailure(Rational.fromNumber(value))).toBe(true)
    }
  )

  it("agrees with the decimal of String(x), normalised, for every finite non-negative double", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), (x) => {
        const parsed = ok(Rational.fromNumber(x))
        expect(isNormalised(parsed)).toBe(true)
        expect(parsed).toEqual(ok(Rational.fromDecimal(String(Math.abs(x)))))
      })
    )
  })

  it("parse accepts both forms", () => {
    expect(ok(Rational.parse("0.25"))).toEqual(ok(Rational.parse(0.25)))
  })
})

describe("Rational.multiply", () => {
  it("is exact and normalised", () => {
    fc.assert(
      fc.property(rationalArb, rationalArb, (a, b) => {
        const product = Rational.multiply(a, b)
        expect(isNormalised(product)).toBe(true)
        expect(product.num * a.den * b.den).toBe(a.num * b.num * product.den)
      })
    )
  })
})

describe("Rational.convertAmount", () => {
  it("floor <= exact <= ceil, and they differ by less than 1", () => {
    fc.assert(
      fc.property(amountArb, scaleArb, scaleArb, rationalArb, (amount, sourceScale, destinationScale, rate) => {
        const floor = Rational.convertAmount(amount, sourceScale, destinationScale, rate, "floor")
        const ceil = Rational.convertAmount(amount, sourceScale, destinationScale, rate, "ceil")
        // exact = num / den
        const num = amount * rate.num * 10n ** BigInt(Math.max(0, destinationScale - sourceScale))
        const den = rate.den * 10n ** BigInt(Math.max(0, sourceScale - destinationScale))
        expect(floor * den <= num).toBe(true)
        expect(ceil * den >= num).toBe(true)
        expect(ceil - floor).toBe(num % den === 0n ? 0n : 1n)
      })
    )
  })

  it("identity rate at equal scales is the identity", () => {
    fc.assert(
      fc.property(amountArb, scaleArb, (amount, scale) => {
        expect(Rational.convertAmount(amount, scale, scale, Rational.one, "floor")).toBe(amount)
        expect(Rational.convertAmount(amount, scale, scale, Rational.one, "ceil")).toBe(amount)
      })
    )
  })

  it("applies scales", () => {
    const rate = ok(Rational.parse("0.9"))
    // 1.00 USD (scale 2) → 0.900000000 EUR (scale 9)
    expect(Rational.convertAmount(100n, 2, 9, rate, "floor")).toBe(900_000_000n)
    // 1.000000001 USD (scale 9) → EUR scale 2: 0.9000000009 → 90 floor, 91 ceil
    expect(Rational.convertAmount(1_000_000_001n, 9, 2, rate, "floor")).toBe(90n)
    expect(Rational.convertAmount(1_000_000_001n, 9, 2, rate, "ceil")).toBe(91n)
    expect(Rational.convertAmount(1n, 0, 0, rate, "floor")).toBe(0n)
    expect(Rational.convertAmount(1n, 0, 0, rate, "ceil")).toBe(1n)
    expect(Rational.convertAmount(0n, 0, 0, rate, "ceil")).toBe(0n)
  })

  it("stays exact beyond float precision (u64 amounts, 18-digit rates)", () => {
    const rate = ok(Rational.parse("1.000000000000000001"))
    expect(Rational.convertAmount(u64Max, 0, 0, rate, "floor")).toBe(u64Max + 18n)
    expect(Rational.convertAmount(u64Max, 0, 0, rate, "ceil")).toBe(u64Max + 19n)
  })

  it("asserts its preconditions (programmer errors throw)", () => {
    expect(() => Rational.convertAmount(-1n, 0, 0, Rational.one, "floor")).toThrow(RangeError)
    expect(() => Rational.convertAmount(1n, -1, 0, Rational.one, "floor")).toThrow(RangeError)
    expect(() => Rational.convertAmount(1n, 0, 256, Rational.one, "floor")).toThrow(RangeError)
    expect(() => Rational.convertAmount(1n, 0.5, 0, Rational.one, "floor")).toThrow(RangeError)
    expect(Rational.convertAmount(1n, 0, 255, Rational.one, "floor")).toBe(10n ** 255n)
  })
})
