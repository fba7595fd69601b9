/**
 * The reference: ilp-connector 23.0.2 (the JavaScript reference connector) with ilp-plugin-http
 * 1.6.1, configured like the node under test: one asset (USD, scale 2), the load generator as an
 * incoming peer with an in-memory balance (ilp-connector's `balance` middleware, bounds out of the
 * way), the fulfilling peer reached at `test.sink`, rate limits out of the way, no route
 * exchange with either account, everything on 127.0.0.1.
 *
 * ilp-plugin-http listens with Koa's `app.listen(port)`, which binds every interface; the benchmark
 * binds loopback only, so `net.Server#listen` is wrapped here to default the host to 127.0.0.1.
 *
 * Usage: node bench/referenceConnector.ts <peer url> <incoming token>   (prints {"port":N}; SIGTERM stops it)
 */
import { createRequire } from "node:module"
import { Server } from "node:net"
import { freePort } from "./common.ts"
import { asset, nodeAddress, sinkAddress } from "./nodeProcess.ts"

const peerUrl = process.argv[2] ?? ""
const incomingToken = process.argv[3] ?? ""

const listen = Server.prototype.listen as (this: Server, ...args: Array<unknown>) => Server
Server.prototype.listen = function(this: Server, ...args: Array<unknown>) {
  const loopback = typeof args[0] === "number" && (args.length === 1 || typeof args[1] === "function")
  return listen.apply(this, loopback ? [args[0], "127.0.0.1", ...args.slice(1)] : args)
} as typeof Server.prototype.listen

const require = createRequire(import.meta.url)
const { createApp } = require("ilp-connector") as {
  createApp: (options: Record<string, unknown>) => { listen: () => Promise<void>; shutdown: () => Promise<void> }
}

const port = await freePort()
const limitsOff = { refillPeriod: 1_000, refillCount: 1_000_000_000, capacity: 1_000_000_000 }
const app = createApp({
  ilpAddress: nodeAddress,
  backend: "one-to-one",
  spread: 0,
  store: "memory",
  // Route broadcasting must stay on: it is what loads the configured routes. No account sends or
  // receives routes, so no CCP traffic flows.
  accounts: {
    loadgen: {
      relation: "peer",
      assetCode: asset.code,
      assetScale: asset.scale,
      plugin: "ilp-plugin-http",
      balance: { minimum: "-Infinity", maximum: "Infinity" },
      rateLimit: limitsOff,
      sendRoutes: false,
      receiveRoutes: false,
      options: {
        incoming: { port, staticToken: incomingToken },
        // ilp-connector never sends to the load generator; the plugin still wants a URL.
        outgoing: { url: "http://127.0.0.1:9/", staticToken: "unused" }
      }
    },
    sink: {
      relation: "peer",
      assetCode: asset.code,
      assetScale: asset.scale,
      plugin: "ilp-plugin-http",
      rateLimit: limitsOff,
      sendRoutes: false,
      receiveRoutes: false,
      options: {
        incoming: { port: await freePort(), staticToken: "sink-token-unused" },
        outgoing: { url: peerUrl, staticToken: "sink-outgoing-token" }
      }
    }
  },
  routes: [{ targetPrefix: sinkAddress, peerId: "sink" }]
})
await app.listen()
process.stdout.write(`${JSON.stringify({ port })}\n`)
process.on("SIGTERM", () => {
  void app.shutdown().finally(() => process.exit(0))
})
