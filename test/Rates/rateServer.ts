/**
 * A real `node:http` rates server on 127.0.0.1 (ephemeral port), scoped: closing the scope drops
 * every connection (including hung ones) and closes the listener.
 */
import { Effect, type Scope } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface RateServer {
  /** `http://127.0.0.1:<port>/rates` */
  readonly url: string
  /** The `base` query parameter of every request received, in arrival order. */
  readonly bases: ReadonlyArray<string>
  /** Stops listening now (later connections are refused). */
  readonly close: Effect.Effect<void>
}

export type Handler = (base: string, response: http.ServerResponse) => void

export const json = (response: http.ServerResponse, body: unknown, status = 200): void => {
  response.writeHead(status, { "content-type": "application/json" })
  response.end(typeof body === "string" ? body : JSON.stringify(body))
}

/** Answers `{ base, rates }` for the asked base from a fixed table; unknown bases get `{}` rates. */
export const fromTable = (table: Record<string, Record<string, unknown>>): Handler => (base, response) =>
  json(response, { base, rates: table[base] ?? {} })

/** Wraps a handler so it answers after `delayMs` of real time. */
export const delayed = (delayMs: number, handler: Handler): Handler => (base, response) => {
  setTimeout(() => handler(base, response), delayMs)
}

const closeServer = (server: http.Server): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    server.closeAllConnections()
    if (!server.listening) return resume(Effect.void)
    server.close(() => resume(Effect.void))
  })

export const startRateServer = (handler: Handler): Effect.Effect<RateServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; bases: Array<string> }>((resume) => {
      const bases: Array<string> = []
      const server = http.createServer((request, response) => {
        const base = new URL(request.url ?? "/", "http://127.0.0.1").searchParams.get("base") ?? ""
        bases.push(base)
        handler(base, response)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, bases })))
    }),
    ({ server }) => closeServer(server)
  ).pipe(
    Effect.map(({ server, bases }) => ({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rates`,
      bases,
      close: closeServer(server)
    }))
  )
