/**
 * The ILP-over-HTTP endpoint (SPEC §2.1): `POST /` or `POST /ilp` with a peer's bearer token and an
 * ILP Prepare body; answers 200 with the Fulfill or Reject.
 *
 * HTTP-level answers: unknown path 404; other method 405; missing, malformed or unknown token 401;
 * wrong content type 400; body over `bodyBytesMax` 413 (refused from Content-Length before reading,
 * or as soon as a chunked body passes the limit). Everything else, including bytes that are not a
 * Prepare, is an ILP answer with status 200: this endpoint never answers 500.
 */
import { ByteSize, Cause, Effect } from "effect"
import { HttpIncomingMessage, HttpServerRequest, HttpServerResponse } from "effect/http"
import type { PeersShape } from "../Connector/Peers.ts"
import { encodeFulfill, encodeReject, PacketType, type Reply } from "../Connector/Packet.ts"
import type { PipelineShape } from "../Connector/Pipeline.ts"

/** An ILP Prepare is at most ~33 KiB; anything past 64 KiB is refused. */
export const bodyBytesMax = 64 * 1024

const contentTypes = new Set(["application/octet-stream", "application/ilp+octet-stream"])
const bearer = /^bearer[ \t]+([^\s]+)[ \t]*$/i

const status = (code: number, text: string, headers?: Record<string, string>) =>
  HttpServerResponse.text(text, { status: code, ...(headers === undefined ? {} : { headers }) })

export const encodeReply = (reply: Reply): Uint8Array =>
  reply.type === PacketType.Fulfill ? encodeFulfill(reply.fulfill) : encodeReject(reply.reject)

const readBody = (request: HttpServerRequest.HttpServerRequest) =>
  request.arrayBuffer.pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(BigInt(bodyBytesMax))),
    Effect.map((buffer) => new Uint8Array(buffer))
  )

const isTooLarge = (cause: Cause.Cause<unknown>): boolean => /maxBytes|too large|exceed/i.test(Cause.pretty(cause))

/**
 * The request handler, built once with its services resolved (no per-request service lookup).
 * While `draining()` (shutdown has begun) every answer carries `Connection: close`, so keep-alive
 * peers move off this instance and the server can close once in-flight packets are answered.
 */
export const makeApp = (peers: PeersShape, pipeline: PipelineShape, draining: () => boolean = () => false) =>
  Effect.map(answer(peers, pipeline), (response) =>
    draining() ? HttpServerResponse.setHeader(response, "connection", "close") : response)

const answer = (peers: PeersShape, pipeline: PipelineShape) => Effect.gen(function*() {
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
