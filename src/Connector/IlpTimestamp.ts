/**
 * ILP timestamps (RFC 27: `YYYYMMDDHHmmssfff`, UTC, the Prepare's expiry) to and from epoch
 * milliseconds. Parsing is strict: 17 digits naming a real instant (no 2021-02-30). The last whole
 * second parsed and formatted is remembered: the packets of one second share it, so most calls skip
 * the `Date` work (two per forwarded packet). Re-exported by `Packet.ts`.
 */
const digitsOnly = /^[0-9]{17}$/

/** The last whole second parsed and formatted (`YYYYMMDDHHmmss` ↔ epoch ms of that second). */
let parsedSecond = ""
let parsedSecondMs = 0
let formattedSecondMs = Number.NaN
let formattedSecond = ""

/** `YYYYMMDDHHmmssfff` in UTC; must name a real instant (no 2021-02-30). */
export const parseTimestamp = (text: string): number | undefined => {
  if (!digitsOnly.test(text)) return undefined
  // Same second as the last one: the milliseconds from the last three digits, without slices.
  if (parsedSecond !== "" && text.startsWith(parsedSecond)) {
    return parsedSecondMs + (text.charCodeAt(14) - 48) * 100 + (text.charCodeAt(15) - 48) * 10 + (text.charCodeAt(16) - 48)
  }
  const time = parseTimestampSlow(text)
  if (time !== undefined) {
    parsedSecond = text.slice(0, 14)
    parsedSecondMs = time - (time % 1000 + 1000) % 1000
  }
  return time
}

const parseTimestampSlow = (text: string): number | undefined => {
  const year = Number(text.slice(0, 4))
  const month = Number(text.slice(4, 6))
  const day = Number(text.slice(6, 8))
  const hour = Number(text.slice(8, 10))
  const minute = Number(text.slice(10, 12))
  const second = Number(text.slice(12, 14))
  const millis = Number(text.slice(14, 17))
  // Date.UTC maps years 0..99 to 1900..1999; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis))
  date.setUTCFullYear(year, month - 1, day)
  const time = date.getTime()
  const roundTrips = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day && date.getUTCHours() === hour && date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  return roundTrips ? time : undefined
}

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

export const formatTimestamp = (epochMs: number): string => {
  if (!Number.isInteger(epochMs)) return formatTimestampSlow(epochMs)
  const millis = (epochMs % 1000 + 1000) % 1000
  const secondMs = epochMs - millis
  if (secondMs === formattedSecondMs) return formattedSecond + pad(millis, 3)
  const formatted = formatTimestampSlow(epochMs)
  // Only the regular 17-character form is remembered (a year past 9999 formats longer).
  if (formatted.length === 17) {
    formattedSecondMs = secondMs
    formattedSecond = formatted.slice(0, 14)
  }
  return formatted
}

const formatTimestampSlow = (epochMs: number): string => {
  const d = new Date(epochMs)
  return pad(d.getUTCFullYear(), 4) + pad(d.getUTCMonth() + 1, 2) + pad(d.getUTCDate(), 2) +
    pad(d.getUTCHours(), 2) + pad(d.getUTCMinutes(), 2) + pad(d.getUTCSeconds(), 2) +
    pad(d.getUTCMilliseconds(), 3)
}
