/**
 * Byte-level readers of an HTTP/1.1 response head for `Http1Response.ts` (the field-name table and
 * `sameName` also serve the request reader, `Http1Request.ts`): the status line, where a line
 * ends, a field's name and value. Each follows exactly the rules of the patterns the parser
 * used before (named in each comment) without making a string per line; property tests compare
 * them with those patterns on hostile heads (test/Http/Http1Response.test.ts).
 */
/** `tchar` (RFC 9110): the bytes of a field name. */
export const tokenBytes = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") tokenBytes[c.charCodeAt(0)] = 1

/** The bytes `controlCharacter` matches: C0 controls but tab, and DEL. */
export const isControl = (byte: number): boolean => byte <= 0x08 || (byte >= 0x0a && byte <= 0x1f) || byte === 0x7f

/** Where the line starting at `start` ends: its CRLF, or the end of the head. */
export const lineEnd = (b: Buffer, start: number, end: number): number => {
  for (let i = start; i < end; i++) {
    if (b[i] === 13 && b[i + 1] === 10) return i
  }
  return end
}

/** `^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\x00-\x08\x0a-\x1f\x7f]*)?$` on bytes [start, stop). */
export const isStatusLine = (b: Buffer, start: number, stop: number): boolean => {
  if (stop - start < 12) return false
  for (let i = 0; i < 7; i++) {
    if (b[start + i] !== httpPrefix[i]) return false
  }
  const minor = b[start + 7]!
  const d0 = b[start + 9]!
  const d1 = b[start + 10]!
  const d2 = b[start + 11]!
  if ((minor !== 48 && minor !== 49) || b[start + 8] !== 32) return false
  if (d0 < 49 || d0 > 57 || d1 < 48 || d1 > 57 || d2 < 48 || d2 > 57) return false
  if (stop - start === 12) return true
  if (b[start + 12] !== 32) return false
  for (let i = start + 13; i < stop; i++) {
    if (isControl(b[i]!)) return false
  }
  return true
}
const httpPrefix = Buffer.from("HTTP/1.", "latin1")

/** `fieldLine` and `controlCharacter` on bytes [start, stop): the colon's index, or -1 if malformed. */
export const fieldColon = (b: Buffer, start: number, stop: number): number => {
  let colon = start
  while (colon < stop && tokenBytes[b[colon]!] === 1) colon++
  if (colon === start || colon === stop || b[colon] !== 58) return -1
  for (let i = colon + 1; i < stop; i++) {
    if (isControl(b[i]!)) return -1
  }
  return colon
}

/** Whether the field name at [start, start + length) is `name` (lower case), ignoring ASCII case. */
export const sameName = (b: Buffer, start: number, length: number, name: string): boolean => {
  if (length !== name.length) return false
  for (let i = 0; i < length; i++) {
    const byte = b[start + i]!
    if ((byte >= 65 && byte <= 90 ? byte + 32 : byte) !== name.charCodeAt(i)) return false
  }
  return true
}

/** The field's value, trimmed as before (`String.prototype.trim` of its latin1 text). */
export const fieldValue = (b: Buffer, colon: number, stop: number): string => b.toString("latin1", colon + 1, stop).trim()
