/**
 * A scriptable ILP-over-HTTP peer for tests: a real `node:http` server on 127.0.0.1 (free port)
 * that decodes each Prepare and answers as the test's `behaviour` says.
 */
import { once } from "node:events"
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import {
  decodePrepare,
  encodeFulfill,
  encodeReject,
  isDecodeFailure,
  type Prepare,
  type Reject
} from "../../src/Connector/Packet.ts"

export type PeerAnswer =
  | { readonly fulfill: Uint8Array; readonly data?: Uint8Array }
  | { readonly reject: Reject }
  | { readonly status: number }
  | { readonly raw: Uint8Array }
  | { readonly delayMs: number; readonly then: PeerAnswer }

export interface ReceivedPacket {
  readonly prepare: Prepare
  readonly authorization: string | undefined
  readonly contentType: string | undefined
}

export interface TestPeer {
  readonly url: string
  readonly port: number
  readonly received: Array<ReceivedPacket>
  behaviour: (prepare: Prepare) => PeerAnswer
  readonly close: () => Promise<void>
}

/** Fulfils every packet whose data is its own 32-byte preimage (see `packets.ts`). */
export const fulfillFromData = (prepare: Prepare): PeerAnswer => ({ fulfill: prepare.data.subarray(0, 32) })

const readAll = async (request: IncomingMessage): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const startTestPeer = async (behaviour: (prepare: Prepare) => PeerAnswer = fulfillFromData): Promise<TestPeer> => {
  const received: Array<ReceivedPacket> = []
  const peer = { behaviour } as { behaviour: (prepare: Prepare) => PeerAnswer }
  const server: Server = createServer(async (request, response) => {
    const body = await readAll(request)
    const prepare = decodePrepare(body)
    if (isDecodeFailure(prepare)) {
      response.writeHead(400).end(prepare.reason)
      return
    }
    received.push({
      prepare,
      authorization: request.headers.authorization,
      contentType: request.headers["content-type"]
    })
    let answer = peer.behaviour(prepare)
    while ("delayMs" in answer) {
      await sleep(answer.delayMs)
      answer = answer.then
    }
    if (response.destroyed) return
    if ("status" in answer) {
      response.writeHead(answer.status).end()
      return
    }
    const bytes = "raw" in answer ?
      answer.raw :
      "reject" in answer ?
      encodeReject(answer.reject) :
      encodeFulfill({ fulfillment: answer.fulfill, data: answer.data ?? new Uint8Array(0) })
    response.writeHead(200, { "content-type": "application/octet-stream" }).end(bytes)
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/ilp`,
    port,
    received,
    get behaviour() {
      return peer.behaviour
    },
    set behaviour(next) {
      peer.behaviour = next
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** A port with nothing listening on it (bound, then released). */
export const closedPort = async (): Promise<number> => {
  const server = createServer()
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
