/**
 * The console's amount conversion (asset units ↔ the API's integer amounts), exact: strings and
 * BigInt only. Boundaries: the scale's last decimal place, zero, u64 max, scale 0 and large scales.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { formatAmount, formatIn, formatUnits, parseUnits, u64Max } from "../../../src/Http/Console/static/amounts.js"

describe("parseUnits", () => {
  it("converts units to base units exactly", () => {
    expect(parseUnits("12.34", 2)).toEqual({ ok: true, value: "1234" })
    expect(parseUnits("12.3", 2)).toEqual({ ok: true, value: "1230" })
    expect(parseUnits("12", 2)).toEqual({ ok: true, value: "1200" })
    expect(parseUnits("12.", 2)).toEqual({ ok: true, value: "1200" })
    expect(parseUnits(" 0.01 ", 2)).toEqual({ ok: true, value: "1" })
    expect(parseUnits("0.000000001", 9)).toEqual({ ok: true, value: "1" })
    expect(parseUnits("7", 0)).toEqual({ ok: true, value: "7" })
    // Floats would get these wrong: 0.1 + 0.2, 1.005 * 100, 2^53 + 1.
    expect(parseUnits("0.3", 1)).toEqual({ ok: true, value: "3" })
    expect(parseUnits("1.005", 3)).toEqual({ ok: true, value: "1005" })
    expect(parseUnits("9007199254740993", 0)).toEqual({ ok: true, value: "9007199254740993" })
  })

  it("refuses more decimal places than the scale, naming the asset and scale", () => {
    expect(parseUnits("1.234", 2, "USD")).toEqual({ ok: false, error: "at most 2 decimal places for USD (scale 2)" })
    expect(parseUnits("1.23", 1)).toEqual({ ok: false, error: "at most 1 decimal place (scale 1)" })
    expect(parseUnits("1.0", 0, "JPY")).toEqual({ ok: false, error: "no decimal places for JPY (scale 0)" })
    // Trailing zeros past the scale are still too many places: the operator typed more than the asset has.
    expect(parseUnits("1.230", 2).ok).toBe(false)
  })

  it("refuses zero, signs, exponents, separators and empty input", () => {
    for (const text of ["", "  ", "0", "0.00", "-1", "+1", "1e3", "1,000", "1 000", ".5", "0x10", "1.2.3", "NaN", "١٢"]) {
      expect(parseUnits(text, 2).ok, text).toBe(false)
    }
  })

  it("takes u64 max and refuses one more", () => {
    expect(parseUnits("184467440737095516.15", 2)).toEqual({ ok: true, value: u64Max.toString() })
    expect(parseUnits("184467440737095516.16", 2)).toEqual({ ok: false, error: "amount too large" })
    expect(parseUnits("1".repeat(60), 0)).toEqual({ ok: false, error: "amount too large" })
  })
})

describe("formatUnits", () => {
  it("places the decimal point by the scale, keeping every digit", () => {
    expect(formatUnits("1234", 2)).toBe("12.34")
    expect(formatUnits("5", 2)).toBe("0.05")
    expect(formatUnits("0", 2)).toBe("0.00")
    expect(formatUnits("1200", 2)).toBe("12.00")
    expect(formatUnits("7", 0)).toBe("7")
    expect(formatUnits(12345n, 9)).toBe("0.000012345")
    // u128 balances, negative balances.
    expect(formatUnits("340282366920938463463374607431768211455", 2)).toBe("3402823669209384634633746074317682114.55")
    expect(formatUnits("-5", 2)).toBe("-0.05")
    expect(formatUnits("-1234", 2)).toBe("-12.34")
    expect(formatUnits("-0", 2)).toBe("0.00")
    expect(formatUnits("007", 1)).toBe("0.7")
  })

  it("leaves text that is not an integer as it is", () => {
    expect(formatUnits("n/a", 2)).toBe("n/a")
  })

  it("formats API amounts and balances with their asset", () => {
    expect(formatAmount({ value: "4500", assetCode: "EUR", assetScale: 2 })).toBe("45.00 EUR")
    expect(formatAmount(undefined)).toBe("—")
    expect(formatIn("100000", { code: "USD", scale: 2 })).toBe("1000.00 USD")
  })
})

describe("round trip", () => {
  test.prop([fc.bigInt({ min: 1n, max: u64Max }), fc.integer({ min: 0, max: 30 })])(
    "parseUnits(formatUnits(v, s), s) is v for every positive u64 and scale",
    (value, scale) => {
      expect(parseUnits(formatUnits(value, scale), scale)).toEqual({ ok: true, value: value.toString() })
    }
  )
})
