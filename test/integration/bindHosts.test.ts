/**
 * Issue 11: the admin API listens on its own bind host (`adminHost`), separate from the public
 * ILP-over-HTTP and SPSP listeners (`host`). A node whose public listeners are on 127.0.0.2 and
 * admin API on 127.0.0.1 (both loopback addresses) answers each only where it was told to.
 */
import { request } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startNode, type TestNode } from "../support/node.ts"

let node: TestNode

/** The HTTP status of a GET, or the socket error code (e.g. ECONNREFUSED) when nothing listens. */
const probe = (host: string, port: number, path: string): Promise<number | string> =>
  new Promise((resolve) => {
    const req = request({ host, port, path, method: "GET", timeout: 5_000 }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.end()
  })

beforeAll(async () => {
  node = await startNode({ ilpAddress: "test.hosts", host: "127.0.0.2", adminHost: "127.0.0.1" })
})

afterAll(async () => {
  await node?.close()
})

describe("bind hosts", () => {
  it("serves the admin API only on adminHost, and the public listeners only on host", async () => {
    expect(await probe("127.0.0.1", node.adminPort, "/healthz")).toBe(200)
    expect(await probe("127.0.0.2", node.adminPort, "/healthz")).toBe("ECONNREFUSED")
    expect(await probe("127.0.0.2", node.connectorPort, "/ilp")).toBe(405) // ILP is POST only: but it is there
    expect(await probe("127.0.0.1", node.connectorPort, "/ilp")).toBe("ECONNREFUSED")
    expect(typeof await probe("127.0.0.2", node.openPaymentsPort, "/nobody")).toBe("number") // an HTTP answer
    expect(await probe("127.0.0.1", node.openPaymentsPort, "/nobody")).toBe("ECONNREFUSED")
  })
})
