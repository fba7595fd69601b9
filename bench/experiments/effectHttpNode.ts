/**
 * EXPERIMENT (not the node under test of `npm run bench`): the same node as `src/main.ts`, plus a
 * second ILP-over-HTTP listener on `EXTRA_PORT` served by Effect's HTTP server (`NodeHttpServer`)
 * with the handler the node used before it moved to a plain `node:http` handler (commit d1d6a40,
 * `src/Http/IlpOverHttp.ts`). Both listeners run the SAME `Pipeline.process` in the same process,
 * so `npm run bench -- --modes raw,forward,forward-effect,local,local-effect` measures what
 * Effect's HTTP server costs per packet, side by side.
 *
 * Usage: EXTRA_PORT=<port> node bench/experiments/effectHttpNode.ts --config <file>
 */
import { NodeHttpServer } from "@effect/platform-node"
import { ByteSize, Cause, Context, Effect, Exit, Layer, Scope } from "effect"
import { HttpIncomingMessage, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import { loadConfig } from "../../src/Config.ts"
import { Peers, type PeersShape } from "../../src/Connector/Peers.ts"
import { Pipeline, type PipelineShape } from "../../src/Connector/Pipeline.ts"
import { encodeReply } from "../../src/Connector/Packet.ts"
import { bodyBytesMax } from "../../src/Http/IlpOverHttp.ts"
import { start } from "../../src/Node.ts"

const contentTypes = new Set(["application/octet-stream", "application/ilp+octet-stream"])
const bearer = /^bearer[ \t]+([^\s]+)[ \t]*$/i

const status = (code: number, text: string, headers?: Record<string, string>) =>
  HttpServerResponse.text(text, { status: code, ...(headers === undefined ? {} : { headers }) })

const readBody = (request: HttpServerRequest.HttpServerRequest) =>
  request.arrayBuffer.pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(BigInt(bodyBytesMax))),
    Effect.map((buffer) => new Uint8Array(buffer))
  )

const isTooLarge = (cause: Cause.Cause<unknown>): boolean => /maxBytes|too large|exceed/i.test(Cause.pretty(cause))

/** The Effect HTTP app of commit d1d6a40. */
const makeApp = (peers: PeersShape, pipeline: PipelineShape) => Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const path = request.url.split("?", 1)[0]
  if (path !== "/" && path !== "/ilp") return status(404, "not found")
  if (request.method !== "POST") return status(405, "method not allowed", { allow: "POST" })
  const authorization = request.headers["authorization"]
  const token = authorization === undefined ? undefined : bearer.exec(authorization)?.[1]
  if (token === undefined) return status(401, "missing or malformed bearer token")
  const peer = peers.byToken(token)
  if (peer === undefined) return status(401, "unknown token")
  const contentType = (request.headers["content-type"] ?? "").split(";", 1)[0]!.trim().toLowerCase()
  if (!contentTypes.has(contentType)) return status(400, "content type must be application/octet-stream")
  const declaredLength = Number(request.headers["content-length"] ?? "0")
  if (declaredLength > bodyBytesMax) return status(413, "body too large")
  const body = yield* Effect.result(readBody(request))
  if (body._tag === "Failure") {
    return isTooLarge(Cause.fail(body.failure)) ? status(413, "body too large") : status(400, "unreadable body")
  }
  const reply = yield* pipeline.process({ bytes: body.success, source: peer.account, unfulfillable: false })
  return HttpServerResponse.uint8Array(encodeReply(reply), { status: 200, contentType: "application/octet-stream" })
})

const configPath = process.argv[process.argv.indexOf("--config") + 1]
const scope = Scope.makeUnsafe()
const program = Effect.gen(function*() {
  const config = yield* loadConfig(configPath)
  const node = yield* start(config)
  const server = yield* Effect.map(
    Layer.build(NodeHttpServer.layer(() => createServer(), { port: Number(process.env.EXTRA_PORT ?? 0), host: config.host })),
    (context) => Context.get(context, HttpServer.HttpServer)
  )
  yield* server.serve(makeApp(Context.get(node.services, Peers), Context.get(node.services, Pipeline)))
})
await Effect.runPromise(Scope.provide(scope)(program))
process.on("SIGTERM", () => {
  void Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
})
