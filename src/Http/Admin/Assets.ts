/**
 * The assets resource: `/assets` (list, add) and `/assets/:code/:scale` (delete). An asset is a
 * ledger (one per code and scale) with the node's liquidity and settlement accounts in it; adding
 * one creates those accounts, so liquidity can be deposited to it at once. A peer's asset is an
 * asset of the node without being added here.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { NodeSettings } from "../../Settings/NodeSettings.ts"
import type { AdminApi } from "./Api.ts"
import { AdminAuth, AssetJson, BadRequest, Conflict, doc, NotFound, settingsError, Unavailable } from "./Common.ts"

const AssetEntryJson = Schema.Struct({
  asset: AssetJson,
  added: Schema.Boolean.annotate({ description: "Added as an asset (else only a peer's asset)" }),
  peers: Schema.Array(Schema.String).annotate({ description: "Ids of the peers in this asset" })
})

const assetParams = {
  code: AssetJson.fields.code,
  scale: Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 255 }))
}

const changeErrors = [BadRequest, NotFound, Conflict, Unavailable] as const

export class AssetsGroup extends HttpApiGroup.make("assets").add(
  HttpApiEndpoint.get("list", "/assets", { success: Schema.Array(AssetEntryJson) }).annotateMerge(doc(
    "List assets",
    "Every asset of the node: those added here and those of its peers, with the peers in each."
  )),
  HttpApiEndpoint.post("create", "/assets", { payload: AssetJson, success: AssetEntryJson, error: changeErrors })
    .annotateMerge(doc(
      "Add an asset",
      "Adds an asset (code and scale) and creates its liquidity and settlement accounts, so liquidity can be " +
        "deposited to it at once. Adding an asset that exists answers it unchanged."
    )),
  HttpApiEndpoint.delete("delete", "/assets/:code/:scale", { params: assetParams, success: AssetEntryJson, error: changeErrors })
    .annotateMerge(doc(
      "Remove an asset",
      "Removes an added asset. 409 while a peer uses it. Its ledger accounts and balances stay (add it again to " +
        "reach them)."
    ))
).middleware(AdminAuth) {}

export const assetsHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "assets", (handlers) =>
    Effect.gen(function*() {
      const settings = yield* NodeSettings
      const entry = (asset: typeof AssetJson.Type) => {
        const current = settings.current()
        const same = (other: typeof AssetJson.Type) => other.code === asset.code && other.scale === asset.scale
        return {
          asset,
          added: current.storedAssets.some(same),
          peers: current.peers.filter((peer) => same(peer.asset)).map((peer) => peer.id)
        }
      }
      return handlers
        .handle("list", () => Effect.sync(() => settings.current().assets.map(entry)))
        .handle("create", ({ payload }) =>
          settings.putAsset(payload).pipe(Effect.map(() => entry(payload)), Effect.mapError(settingsError)))
        .handle("delete", ({ params }) =>
          settings.deleteAsset(params).pipe(Effect.map(() => entry(params)), Effect.mapError(settingsError)))
    }))
