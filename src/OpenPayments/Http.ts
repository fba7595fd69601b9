/**
 * The framework-free request/answer the Open Payments handlers work on (the server adapts Effect's
 * HTTP request to it), and Open Payments error bodies: `{ error: { code, description } }`.
 */
export interface OpRequest {
  readonly method: string
  /** Path without the query. */
  readonly path: string
  readonly query: URLSearchParams
  /** The full URL as this server is reached at (its public URL + path and query): the signed `@target-uri`. */
  readonly url: string
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string | undefined
}

export interface OpResponse {
  readonly status: number
  readonly body?: unknown
}

export const json = (status: number, body: unknown): OpResponse => ({ status, body })

export const opError = (status: number, code: string, description: string): OpResponse => ({
  status,
  body: { error: { code, description } }
})

/** The request body as JSON, or undefined when absent or not JSON. Pure. */
export const jsonBody = (request: OpRequest): unknown => {
  if (request.body === undefined || request.body === "") return undefined
  try {
    return JSON.parse(request.body) as unknown
  } catch {
    return undefined
  }
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A URL without trailing slashes (how wallet address URLs are compared). Pure. */
export const trimSlash = (url: string): string => url.replace(/\/+$/, "")
