/** The peers resource: `/peers`. */
import { Effect, Schema } from "effect"
import { HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import type { PeerConfig } from "../../Config.ts"
import { Peers } from "../../Connector/Peers.ts"
import type { AdminApi } from "./Api.ts"
import { AdminAuth, AssetJson } from "./Common.ts"

const PeerJson = Schema.Struct({
  id: Schema.String,
  asset: AssetJson,
  staticIlpAddress: Schema.String,
  routes: Schema.Array(Schema.String),
  maxPacketAmount: Schema.optionalKey(Schema.String),
  outgoing: Schema.optionalKey(Schema.Struct({ url: Schema.String }))
})
type PeerJson = typeof PeerJson.Type

export class PeersGroup extends HttpApiGroup.make("peers").add(
  HttpApiEndpoint.get("list", "/peers", { success: Schema.Array(PeerJson) })
).middleware(AdminAuth) {}

/** The URL without user info, so credentials written into it never leave the node. */
const publicUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    parsed.username = ""
    parsed.password = ""
    return parsed.toString()
  } catch {
    return "(unparseable)"
  }
}

export const peerJson = (peer: PeerConfig): PeerJson => ({
  id: peer.id,
  asset: peer.asset,
  staticIlpAddress: peer.staticIlpAddress,
  routes: peer.routes,
  ...(peer.maxPacketAmount === undefined ? {} : { maxPacketAmount: peer.maxPacketAmount.toString() }),
  ...(peer.outgoing === undefined ? {} : { outgoing: { url: publicUrl(peer.outgoing.url) } })
})

export const peersHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "peers", (handlers) =>
    Effect.gen(function*() {
      const peers = yield* Peers
      return handlers.handle("list", () => Effect.sync(() => peers.all().map((entry) => peerJson(entry.config))))
    }))
