/**
 * Free loopback ports for servers a test (or the bench) starts. A port is free "a moment ago": bind
 * 127.0.0.1:0, read the port, close. `freePorts(n)` holds all n sockets open until each has its
 * port, so the n ports differ (calling `freePort` n times may give the same port twice).
 */
import { createServer, type Server } from "node:net"

const bind = (): Promise<{ readonly server: Server; readonly port: number }> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      if (port > 0) resolve({ server, port })
      else server.close(() => reject(new Error("no free port")))
    })
  })

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()))

/** `count` distinct ports that were free a moment ago. */
export const freePorts = async (count: number): Promise<Array<number>> => {
  const bound: Array<{ readonly server: Server; readonly port: number }> = []
  try {
    for (let i = 0; i < count; i++) bound.push(await bind())
    return bound.map((b) => b.port)
  } finally {
    await Promise.all(bound.map((b) => close(b.server)))
  }
}

/** A port that was free a moment ago. */
export const freePort = async (): Promise<number> => (await freePorts(1))[0]!
