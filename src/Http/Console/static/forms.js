// Pure helpers for forms: which field an API error concerns, idempotency ids.

/**
 * Splits an API error message ("amount: exceeds the available balance; asset.code: ...") into
 * messages per form field. `fields` maps API paths (or their first segment) to the form's field
 * names; a part naming no known field goes to `_form`, shown with the form's buttons.
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
  // Parts are "path: problem"; a part without a path continues the one before it (a message may
  // itself contain "; "), or belongs to the form when it comes first.
  let previous = "_form"
  for (const part of String(message).split("; ")) {
    const match = /^([A-Za-z0-9_.[\]-]+): (.+)$/s.exec(part)
    if (match === null) {
      add(previous, part)
      continue
    }
    const segments = match[1].split(".")
    let field
    for (let n = segments.length; n > 0 && field === undefined; n--) field = fields[segments.slice(0, n).join(".")]
    previous = field ?? "_form"
    add(previous, field === undefined ? part : match[2])
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
