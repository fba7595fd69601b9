// Exact conversion between amounts as an operator reads them ("12.34 USD") and the API's integer
// amounts in the asset's scale ("1234"). Strings and BigInt only: a float never touches money.
// Pure functions, shared by the page and the unit tests (test/Http/Console/amounts.test.ts).

/** Largest amount the API takes (u64). */
export const u64Max = 18446744073709551615n

const unitsPattern = /^([0-9]+)(?:\.([0-9]*))?$/

/**
 * "12.34" at scale 2 → { ok: true, value: "1234" }. Refuses (with a message for the field) signs,
 * exponents, separators, more decimal places than the scale, zero, and anything above u64.
 * @param {string} text
 * @param {number} scale
 * @param {string} [assetCode]
 * @returns {{ ok: true, value: string } | { ok: false, error: string }}
 */
export const parseUnits = (text, scale, assetCode) => {
  const trimmed = String(text).trim()
  if (trimmed === "") return { ok: false, error: "enter an amount" }
  const match = unitsPattern.exec(trimmed)
  if (match === null) return { ok: false, error: "digits with an optional decimal point, e.g. 12.50" }
  const whole = match[1]
  const fraction = match[2] ?? ""
  if (fraction.length > scale) {
    const unit = assetCode === undefined ? "" : ` for ${assetCode}`
    return {
      ok: false,
      error: scale === 0 ?
        `no decimal places${unit} (scale 0)` :
        `at most ${scale} decimal place${scale === 1 ? "" : "s"}${unit} (scale ${scale})`
    }
  }
  if (whole.length > 40) return { ok: false, error: "amount too large" }
  const value = BigInt(whole + fraction.padEnd(scale, "0"))
  if (value === 0n) return { ok: false, error: "must be more than zero" }
  if (value > u64Max) return { ok: false, error: "amount too large" }
  return { ok: true, value: value.toString() }
}

/**
 * "1234" at scale 2 → "12.34"; "-5" at scale 2 → "-0.05"; any length (balances are u128, signed).
 * Text that is not an integer is returned as it is.
 * @param {string | bigint} base
 * @param {number} scale
 * @returns {string}
 */
export const formatUnits = (base, scale) => {
  const text = String(base)
  if (!/^-?[0-9]+$/.test(text)) return text
  const negative = text.startsWith("-")
  const digits = (negative ? text.slice(1) : text).replace(/^0+(?=[0-9])/, "")
  if (scale === 0) return (negative && digits !== "0" ? "-" : "") + digits
  const padded = digits.padStart(scale + 1, "0")
  const whole = padded.slice(0, padded.length - scale)
  const fraction = padded.slice(padded.length - scale)
  const zero = /^0+$/.test(whole + fraction)
  return `${negative && !zero ? "-" : ""}${whole}.${fraction}`
}

/**
 * An API amount `{ value, assetCode, assetScale }` as "12.34 USD".
 * @param {{ value: string, assetCode: string, assetScale: number } | undefined} amount
 */
export const formatAmount = (amount) =>
  amount === undefined ? "—" : `${formatUnits(amount.value, amount.assetScale)} ${amount.assetCode}`

/**
 * A balance in an asset `{ code, scale }` as "12.34 USD".
 * @param {string | bigint | undefined} base
 * @param {{ code: string, scale: number }} asset
 */
export const formatIn = (base, asset) => base === undefined ? "—" : `${formatUnits(base, asset.scale)} ${asset.code}`

/**
 * Base-unit difference of two integer strings, as a string (for "changed by" displays).
 * @param {string} after
 * @param {string} before
 */
export const subtract = (after, before) => (BigInt(after) - BigInt(before)).toString()
