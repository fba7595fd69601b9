/**
 * Where the configuration (`Config.ts`) comes from besides its schema: the file's JSON with
 * comments, and the environment overlay — which variable sets which field, how a variable's text
 * becomes a field's value (numbers, booleans and lists are kept as text when they do not parse, so
 * decoding names the problem), and naming the variable in a decoding error.
 */

/** A decimal integer from the environment; anything else is kept as text so decoding names it. */
const envNumber = (env: Record<string, string | undefined>, name: string): number | string | undefined => {
  const raw = env[name]
  if (raw === undefined || raw === "") return undefined
  return /^[0-9]{1,15}$/.test(raw.trim()) ? Number(raw) : raw
}

/** Which environment variable sets which field (for errors that name the variable). */
export const envVariables: ReadonlyArray<readonly [field: string, variable: string]> = [
  ["ilpAddress", "ILP_ADDRESS"],
  ["host", "HOST"],
  ["connectorPort", "CONNECTOR_PORT"],
  ["adminPort", "ADMIN_PORT"],
  ["adminHost", "ADMIN_HOST"],
  ["metricsOpen", "METRICS_OPEN"],
  ["openapiOpen", "OPENAPI_OPEN"],
  ["openPaymentsPort", "OPEN_PAYMENTS_PORT"],
  ["adminToken", "ADMIN_TOKEN"],
  ["dataDir", "DATA_DIR"],
  ["streamSecret", "STREAM_SECRET"],
  ["minMessageWindowMs", "MIN_MESSAGE_WINDOW_MS"],
  ["maxHoldTimeMs", "MAX_HOLD_TIME_MS"],
  ["redisUrl", "REDIS_URL"],
  ["webhooks", "WEBHOOK_URLS / WEBHOOK_SECRET"],
  ["tigerbeetle", "TIGERBEETLE_ADDRESSES / TIGERBEETLE_CLUSTER_ID / TIGERBEETLE_SESSIONS"]
]

/** `message` with the environment variable named when the field it is about came from one. */
export const nameVariables = (message: string, env: Record<string, string | undefined>, overlay: Record<string, unknown>): string => {
  const named = envVariables
    .filter(([field]) => overlay[field] !== undefined && (message.includes(`["${field}"]`) || crossCheckFields(message).includes(field)))
    .map(([field, variable]) => `${variable}=${JSON.stringify(field === "adminToken" || field === "streamSecret" || field === "redisUrl" || field === "webhooks" ? "<redacted>" : envText(env, variable))}`)
  return named.length === 0 ? message : `${message} (from environment variable ${named.join(", ")})`
}

/** The fields a cross-check message starts with: "a, b: problem" → ["a", "b"]. */
const crossCheckFields = (message: string): ReadonlyArray<string> => {
  const colon = message.indexOf(": ")
  return colon < 0 ? [] : message.slice(0, colon).split(", ").map((field) => field.split(/[.[]/, 1)[0]!)
}

const envText = (env: Record<string, string | undefined>, variable: string): string =>
  variable.split(" / ").map((name) => env[name] ?? "").join(" / ")

/** `true`/`false` (or 1/0) as a boolean; anything else is kept as text so decoding names it. */
const envBoolean = (env: Record<string, string | undefined>, name: string): unknown => {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === "true" || raw === "1") return true
  if (raw === "false" || raw === "0") return false
  return env[name]
}

/** Environment variables that overlay the file. */
export const overlayFromEnv = (env: Record<string, string | undefined>): Record<string, unknown> => {
  const overlay: Record<string, unknown> = {}
  const set = (key: string, value: unknown) => {
    if (value !== undefined && value !== "") overlay[key] = value
  }
  set("ilpAddress", env.ILP_ADDRESS)
  set("host", env.HOST)
  set("adminHost", env.ADMIN_HOST)
  set("metricsOpen", envBoolean(env, "METRICS_OPEN"))
  set("openapiOpen", envBoolean(env, "OPENAPI_OPEN"))
  set("connectorPort", envNumber(env, "CONNECTOR_PORT"))
  set("adminPort", envNumber(env, "ADMIN_PORT"))
  set("openPaymentsPort", envNumber(env, "OPEN_PAYMENTS_PORT"))
  set("adminToken", env.ADMIN_TOKEN)
  set("dataDir", env.DATA_DIR)
  set("streamSecret", env.STREAM_SECRET)
  set("minMessageWindowMs", envNumber(env, "MIN_MESSAGE_WINDOW_MS"))
  set("maxHoldTimeMs", envNumber(env, "MAX_HOLD_TIME_MS"))
  set("redisUrl", env.REDIS_URL)
  set("postgresUrl", env.DATABASE_URL)
  const openPayments = {
    ...(env.OPEN_PAYMENTS_URL ? { publicUrl: env.OPEN_PAYMENTS_URL } : {}),
    ...(env.OPEN_PAYMENTS_PRIVATE_KEY ? { privateKey: env.OPEN_PAYMENTS_PRIVATE_KEY } : {}),
    ...(env.OPEN_PAYMENTS_KEY_ID ? { keyId: env.OPEN_PAYMENTS_KEY_ID } : {})
  }
  if (Object.keys(openPayments).length > 0) overlay.openPayments = openPayments
  const webhooks = {
    ...(env.WEBHOOK_URLS ? { urls: env.WEBHOOK_URLS.split(",").map((url) => url.trim()).filter((url) => url !== "") } : {}),
    ...(env.WEBHOOK_SECRET ? { secret: env.WEBHOOK_SECRET } : {})
  }
  if (Object.keys(webhooks).length > 0) overlay.webhooks = webhooks
  if (env.TIGERBEETLE_ADDRESSES !== undefined && env.TIGERBEETLE_ADDRESSES !== "") {
    overlay.tigerbeetle = {
      clusterId: env.TIGERBEETLE_CLUSTER_ID ?? "0",
      replicaAddresses: env.TIGERBEETLE_ADDRESSES.split(",").map((a) => a.trim()).filter((a) => a !== ""),
      ...(env.TIGERBEETLE_SESSIONS ? { sessions: Number(env.TIGERBEETLE_SESSIONS) } : {})
    }
  }
  return overlay
}

/**
 * JSON with comments (`//` to the end of the line, `/* ... *\/`) to plain JSON: one linear pass that
 * leaves strings alone. Comments become spaces, so positions in parse errors stay meaningful.
 */
export const stripJsonComments = (text: string): string => {
  let out = ""
  let i = 0
  let start = 0
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      i++
      while (i < text.length && text.charCodeAt(i) !== 34) i += text.charCodeAt(i) === 92 /* \\ */ ? 2 : 1
      i++
    } else if (c === 47 /* / */ && (text[i + 1] === "/" || text[i + 1] === "*")) {
      const end = text[i + 1] === "/" ? text.indexOf("\n", i) : text.indexOf("*/", i + 2) + 2
      const stop = end <= 1 || end < 0 ? text.length : end
      out += text.slice(start, i) + text.slice(i, stop).replace(/[^\n]/g, " ")
      i = stop
      start = i
    } else i++
  }
  return out + text.slice(start)
}
