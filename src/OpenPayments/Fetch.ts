/**
 * Bounded JSON requests to other Open Payments servers: `fetchTimeoutMs`, `fetchBodyBytesMax`, no
 * redirects, http(s) only. A failure is a `FetchFailed` saying whether it is worth retrying (network
 * error, timeout, 5xx, 429) or not (4xx, bad JSON, too large); bodies and secrets never appear in it.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { isHttpUrl, readBounded } from "../Http/OutboundFetch.ts"
import { fetchBodyBytesMax, fetchTimeoutMs } from "./Limits.ts"

export class FetchFailed extends Data.TaggedError("FetchFailed")<{
  readonly reason: string
  readonly status: number | undefined
  readonly temporary: boolean
}> {}

export interface JsonRequest {
  readonly url: string
  readonly method?: "GET" | "POST" | "DELETE"
  readonly headers?: Record<string, string>
  readonly body?: string
}

/** Sends `request`, answers `{ status, json }` for 2xx (json undefined for an empty body). */
export const fetchJson = (request: JsonRequest): Effect.Effect<{ readonly status: number; readonly json: unknown }, FetchFailed> =>
  Effect.tryPromise({
    try: async (signal) => {
      if (!isHttpUrl(request.url)) throw new FetchFailed({ reason: "not an http(s) URL", status: undefined, temporary: false })
      const response = await fetch(request.url, {
        method: request.method ?? "GET",
        headers: { accept: "application/json", ...request.headers },
        ...(request.body === undefined ? {} : { body: request.body }),
        redirect: "error",
        signal: AbortSignal.any([signal, AbortSignal.timeout(fetchTimeoutMs)])
      })
      const text = await readBounded(response, fetchBodyBytesMax)
      if (response.status < 200 || response.status > 299) {
        const code = describeError(text)
        throw new FetchFailed({
          reason: `${request.method ?? "GET"} ${request.url} answered ${response.status}${code}`,
          status: response.status,
          temporary: response.status >= 500 || response.status === 429
        })
      }
      if (text === undefined) throw new FetchFailed({ reason: `${request.url}: answer too large`, status: response.status, temporary: false })
      try {
        return { status: response.status, json: text === "" ? undefined : JSON.parse(text) as unknown }
      } catch {
        throw new FetchFailed({ reason: `${request.url}: answer is not JSON`, status: response.status, temporary: false })
      }
    },
    catch: (error) =>
      error instanceof FetchFailed ? error : new FetchFailed({
        reason: `${request.method ?? "GET"} ${request.url}: ${
          error instanceof Error && error.name === "TimeoutError" ? "timed out" : "network error"
        }`,
        status: undefined,
        temporary: true
      })
  })

/** An Open Payments error body's code and description, shortened, for a failure reason. */
const describeError = (text: string | undefined): string => {
  if (text === undefined || text === "") return ""
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; description?: unknown } }).error
    const parts = [error?.code, error?.description].filter((part) => typeof part === "string") as Array<string>
    return parts.length === 0 ? "" : `: ${parts.join(" ").slice(0, 200)}`
  } catch {
    return ""
  }
}
