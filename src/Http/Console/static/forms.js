// Pure helpers for forms: which field an API error concerns, idempotency ids.

/**
 * Splits an API error message ("amount: exceeds the available balance; asset.code: ...") into
 * messages per form field. `fields` maps API paths (or their first segment) to the form's field
 * names; a part naming no known field goes to `_form`, shown at the top of the form.
 * @param {string} message
 * @param {Record<string, string>} fields API path → form field
 * @returns {Record<string, string>}
 */
export const fieldErrors = (message, fields) => {
  /** @type {Record<string, string>} */
  const out = {}
  const add = (key, text) => {
    out[key] = out[key] === undefined ? text : `${out[key]}; ${text}`
  }
  for (const part of String(message).split("; ")) {
    const match = /^([A-Za-z0-9_.[\]-]+): (.+)$/s.exec(part)
    if (match === null) {
      add("_form", part)
      continue
    }
    const path = match[1]
    const segments = path.split(".")
    let field
    for (let n = segments.length; n > 0 && field === undefined; n--) field = fields[segments.slice(0, n).join(".")]
    if (field === undefined) add("_form", part)
    else add(field, match[2])
  }
  return out
}

/**
 * A fresh transfer id for an idempotent deposit or withdrawal: 128 random bits as decimal text,
 * never 0 nor 2^128-1 (the ledger's reserved values).
 * @param {(bytes: Uint8Array) => Uint8Array} random e.g. `(b) => crypto.getRandomValues(b)`
 */
export const newTransferId = (random) => {
  for (;;) {
    const bytes = random(new Uint8Array(16))
    let value = 0n
    for (const byte of bytes) value = (value << 8n) | BigInt(byte)
    if (value !== 0n && value !== (1n << 128n) - 1n) return value.toString()
  }
}
