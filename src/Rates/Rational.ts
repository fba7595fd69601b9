/**
 * Exact non-negative rationals over `bigint`, for exchange rates.
 *
 * A `Rational` is always normalised: `den > 0n`, `num >= 0n`, `gcd(num, den) === 1n`, and zero is
 * `0/1`, so two equal rationals have equal fields. No float takes part in any arithmetic here: a JS
 * number enters only through its shortest round-trip decimal (`String(x)`), which is the decimal a
 * human or a JSON document wrote.
 *
 * Parsing is an operating concern (rates come from config and from the network), so it returns a
 * `Result`. Arithmetic on amounts asserts its preconditions: a negative amount or a scale outside
 * 0..255 is a programmer error and throws (a defect), never a handled result.
 */
import * as Result from "effect/Result"

export interface Rational {
  readonly num: bigint
  readonly den: bigint
}

export interface InvalidRational {
  readonly _tag: "InvalidRational"
  readonly reason: string
}

/** How a conversion rounds a non-integral result; always stated at the call. */
export type Rounding = "floor" | "ceil"

/** Longest decimal text accepted, in characters (bounds the bigint work an input can cause). */
export const decimalLengthMax = 1_000
/** Largest accepted decimal exponent magnitude (`1e-7` has magnitude 7; doubles need at most 324). */
export const exponentMagnitudeMax = 1_000
/** Largest asset scale (RFC 38 / ILDCP: a u8). */
export const scaleMax = 255

export const zero: Rational = { num: 0n, den: 1n }
export const one: Rational = { num: 1n, den: 1n }

const invalid = (reason: string): Result.Result<Rational, InvalidRational> =>
  Result.fail({ _tag: "InvalidRational", reason })

const gcd = (a: bigint, b: bigint): bigint => {
  let x = a
  let y = b
  while (y !== 0n) {
    const t = x % y
    x = y
    y = t
  }
  return x
}

/** Reduces a fraction whose parts are already known valid (`num >= 0n`, `den > 0n`). */
const normalise = (num: bigint, den: bigint): Rational => {
  if (num === 0n) return zero
  const divisor = gcd(num, den)
  return divisor === 1n ? { num, den } : { num: num / divisor, den: den / divisor }
}

/** `num/den`, rejecting a zero denominator and negative parts. */
export const make = (num: bigint, den: bigint): Result.Result<Rational, InvalidRational> => {
  if (den === 0n) return invalid("zero denominator")
  if (num < 0n || den < 0n) return invalid("negative")
  return Result.succeed(normalise(num, den))
}

const pow10 = (exponent: number): bigint => 10n ** BigInt(exponent)

// integer digits, optional fraction, optional exponent; at least one digit is checked separately.
const decimalPattern = /^(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/

/**
 * Parses a plain or scientific decimal (`"0.9"`, `"12"`, `".5"`, `"1e-7"`, `"2.5E+3"`). Signs are
 * rejected except in the exponent (`"-1"` is negative, `"+1"` is not a decimal we accept), as are
 * whitespace, `NaN` and `Infinity`.
 */
export const fromDecimal = (text: string): Result.Result<Rational, InvalidRational> => {
  if (text.length > decimalLengthMax) return invalid(`decimal longer than ${decimalLengthMax} characters`)
  if (text.startsWith("-")) return invalid("negative")
  const match = decimalPattern.exec(text)
  if (match === null) return invalid(`not a decimal: ${JSON.stringify(text)}`)
  const integer = match[1] ?? ""
  const fraction = match[2] ?? ""
  if (integer.length + fraction.length === 0) return invalid(`not a decimal: ${JSON.stringify(text)}`)
  const exponent = Number(match[3] ?? "0") - fraction.length
  if (Math.abs(exponent) > exponentMagnitudeMax) return invalid("exponent out of range")
  const digits = BigInt(integer + fraction)
  return Result.succeed(
    exponent >= 0 ? normalise(digits * pow10(exponent), 1n) : normalise(digits, pow10(-exponent))
  )
}

/**
 * The exact value of the shortest decimal that round-trips to `value` (so `0.1` is `1/10`, not the
 * binary double nearest to it). Rejects NaN, ±Infinity and negatives; `-0` is zero.
 */
export const fromNumber = (value: number): Result.Result<Rational, InvalidRational> => {
  if (!Number.isFinite(value)) return invalid(`not finite: ${value}`)
  if (value < 0) return invalid("negative")
  return fromDecimal(String(Math.abs(value)))
}

/** A rate as written in config or JSON: a decimal string or a number. */
export const parse = (value: string | number): Result.Result<Rational, InvalidRational> =>
  typeof value === "number" ? fromNumber(value) : fromDecimal(value)

export const multiply = (a: Rational, b: Rational): Rational => normalise(a.num * b.num, a.den * b.den)

export const isZero = (r: Rational): boolean => r.num === 0n

export const equals = (a: Rational, b: Rational): boolean => a.num === b.num && a.den === b.den

/** `"num/den"`, for logs and messages. */
export const format = (r: Rational): string => `${r.num}/${r.den}`

/** Floor of `num / den` for `num >= 0n`, `den > 0n` (bigint division truncates, which is floor here). */
export const floorDiv = (num: bigint, den: bigint): bigint => num / den

/** Ceiling of `num / den` for `num >= 0n`, `den > 0n`. */
export const ceilDiv = (num: bigint, den: bigint): bigint => (num + den - 1n) / den

const assertScale = (name: string, scale: number): void => {
  if (!Number.isInteger(scale) || scale < 0 || scale > scaleMax) {
    throw new RangeError(`${name} must be an integer in 0..${scaleMax}, got ${scale}`)
  }
}

/**
 * `amount * rate * 10^(destinationScale - sourceScale)`, rounded as the caller states: `"floor"`
 * where we must not promise more than we hold (the amount we forward), `"ceil"` where we must not
 * ask for less than we need.
 */
export const convertAmount = (
  amount: bigint,
  sourceScale: number,
  destinationScale: number,
  rate: Rational,
  rounding: Rounding
): bigint => {
  if (amount < 0n) throw new RangeError(`amount must be non-negative, got ${amount}`)
  assertScale("sourceScale", sourceScale)
  assertScale("destinationScale", destinationScale)
  const shift = destinationScale - sourceScale
  const num = amount * rate.num * (shift > 0 ? pow10(shift) : 1n)
  const den = rate.den * (shift < 0 ? pow10(-shift) : 1n)
  return rounding === "floor" ? floorDiv(num, den) : ceilDiv(num, den)
}
