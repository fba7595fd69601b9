/**
 * The peers resource: `/peers` (list, create), `/peers/:id` (read, update, delete).
 *
 * A peer is written as in the config file (`POST` takes exactly a config file peer); incoming
 * tokens are kept only as SHA-256 digests and never shown again (the answer gives their count);
 * the outgoing token is never shown (the answer gives the URL without user info). A change takes
 * effect at once (see `Settings/NodeSettings.ts`): a new peer carries packets as soon as the answer
 * is sent; replaced incoming tokens are refused from then on; a deleted peer's packets in flight
 * still settle.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { defaults, hashToken, type PeerConfig, PeerFile, resolvePeer } from "../../Config.ts"
import { NodeSettings } from "../../Settings/NodeSettings.ts"
import type { AdminApi } from "./Api.ts"
import { AdminAuth, AssetJson, BadRequest, Conflict, doc, idParam, NotFound, settingsError, Unavailable } from "./Common.ts"

const LimitJson = Schema.Struct({ packetsPerSecond: Schema.Finite, burst: Schema.Int })

const PeerJson = Schema.Struct({
  id: Schema.String,
  asset: AssetJson,
  staticIlpAddress: Schema.String,
  routes: Schema.Array(Schema.String),
  routeWeight: Schema.optionalKey(Schema.Int),
  maxPacketAmount: Schema.optionalKey(Schema.String),
  outgoing: Schema.optionalKey(Schema.Struct({ url: Schema.String })),
  incomingTokens: Schema.optionalKey(Schema.Int.annotate({ description: "How many incoming tokens the peer has (never the tokens)" })),
  rateLimit: Schema.optionalKey(LimitJson.annotate({
    description: `Packets per second and burst; absent: the default, ${defaults.peerRateLimit.packetsPerSecond}/s with a burst of ${defaults.peerRateLimit.burst}`
  })),
  throughputLimit: Schema.optionalKey(Schema.Struct({ amount: Schema.String, periodMs: Schema.Int })),
  creditLimit: Schema.optionalKey(Schema.String)
})
type PeerJson = typeof PeerJson.Type

/** `PATCH /peers/:id`: the fields to change; `null` clears an optional one. */
const PeerPatch = Schema.Struct({
  incomingTokens: Schema.optionalKey(PeerFile.fields.incomingTokens.annotate({
    description: "Replaces every incoming token: the old ones are refused from the answer on"
  })),
  outgoing: Schema.optionalKey(Schema.NullOr(PeerFile.fields.outgoing.schema)),
  staticIlpAddress: Schema.optionalKey(PeerFile.fields.staticIlpAddress),
  routes: Schema.optionalKey(PeerFile.fields.routes.schema),
  routeWeight: Schema.optionalKey(PeerFile.fields.routeWeight.schema),
  maxPacketAmount: Schema.optionalKey(Schema.NullOr(PeerFile.fields.maxPacketAmount.schema)),
  rateLimit: Schema.optionalKey(Schema.NullOr(PeerFile.fields.rateLimit.schema)),
  throughputLimit: Schema.optionalKey(Schema.NullOr(PeerFile.fields.throughputLimit.schema)),
  creditLimit: Schema.optionalKey(PeerFile.fields.creditLimit.schema)
})
type PeerPatch = typeof PeerPatch.Type

const DeletedJson = Schema.Struct({ id: Schema.String, deleted: Schema.Literal(true) })

const changeErrors = [BadRequest, NotFound, Conflict, Unavailable] as const

export class PeersGroup extends HttpApiGroup.make("peers").add(
  HttpApiEndpoint.get("list", "/peers", { success: Schema.Array(PeerJson) }).annotateMerge(doc(
    "List peers",
    "Every peer the node has now, without secrets: incoming tokens are given as a count, the outgoing URL without user info."
  )),
  HttpApiEndpoint.get("get", "/peers/:id", { params: idParam, success: PeerJson, error: NotFound }).annotateMerge(doc(
    "Read a peer",
    "One peer, without secrets. 404 when there is no peer with this id."
  )),
  HttpApiEndpoint.post("create", "/peers", { payload: PeerFile, success: PeerJson, error: changeErrors }).annotateMerge(doc(
    "Add a peer",
    "Adds a peer, written exactly as a peer in the config file. Its ledger accounts are created and it carries " +
      "packets as soon as the answer is sent. Incoming tokens are stored only as SHA-256 digests. 409 when the id " +
      "exists (the message says when with the same settings: a retry that had succeeded), a token is used by " +
      "another peer, or the id belonged to a deleted peer with another asset."
  )),
  HttpApiEndpoint.patch("update", "/peers/:id", { params: idParam, payload: PeerPatch, success: PeerJson, error: changeErrors })
    .annotateMerge(doc(
      "Change a peer",
      "Changes the given fields (null clears maxPacketAmount, outgoing, rateLimit or throughputLimit); id and asset " +
        "cannot change. Takes effect at once: new incoming tokens replace the old ones, which are refused from then " +
        "on. 409 when lowering creditLimit below what the peer owes, or a token is used by another peer."
    )),
  HttpApiEndpoint.delete("delete", "/peers/:id", { params: idParam, success: DeletedJson, error: changeErrors }).annotateMerge(doc(
    "Delete a peer",
    "Removes the peer at once: its tokens are refused and no route leads to it. Packets already in flight finish and " +
      "their reservations settle. Its ledger accounts and balance stay; the id may be reused only with the same asset."
  ))
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
  ...(peer.routeWeight === 0 ? {} : { routeWeight: peer.routeWeight }),
  ...(peer.maxPacketAmount === undefined ? {} : { maxPacketAmount: peer.maxPacketAmount.toString() }),
  ...(peer.outgoing === undefined ? {} : { outgoing: { url: publicUrl(peer.outgoing.url) } }),
  ...(peer.rateLimit === undefined ? {} : { rateLimit: peer.rateLimit }),
  ...(peer.throughputLimit === undefined ?
    {} :
    { throughputLimit: { amount: peer.throughputLimit.amount.toString(), periodMs: peer.throughputLimit.periodMs } }),
  ...(peer.creditLimit === 0n ? {} : { creditLimit: peer.creditLimit.toString() })
})

/** The full view: `peerJson` plus the incoming token count. */
const peerDetailJson = (peer: PeerConfig): PeerJson => ({ ...peerJson(peer), incomingTokens: peer.incomingTokenHashes.length })

const amountOf = (input: string | number): bigint => BigInt(String(input))

/** `current` with `patch` applied (the schema has checked every field). Pure. */
export const applyPatch = (current: PeerConfig, patch: PeerPatch): PeerConfig => ({
  ...current,
  ...(patch.incomingTokens === undefined ? {} : { incomingTokenHashes: patch.incomingTokens.map(hashToken) }),
  ...(patch.outgoing === undefined ? {} : {
    outgoing: patch.outgoing === null ?
      undefined :
      { url: patch.outgoing.url, token: Redacted.make(patch.outgoing.token, { label: `peer ${current.id} token` }) }
  }),
  ...(patch.staticIlpAddress === undefined ? {} : { staticIlpAddress: patch.staticIlpAddress }),
  ...(patch.routes === undefined ? {} : { routes: patch.routes }),
  ...(patch.routeWeight === undefined ? {} : { routeWeight: patch.routeWeight }),
  ...(patch.maxPacketAmount === undefined ? {} : {
    maxPacketAmount: patch.maxPacketAmount === null ? undefined : amountOf(patch.maxPacketAmount)
  }),
  ...(patch.rateLimit === undefined ? {} : { rateLimit: patch.rateLimit ?? undefined }),
  ...(patch.throughputLimit === undefined ? {} : {
    throughputLimit: patch.throughputLimit === null ?
      undefined :
      { amount: amountOf(patch.throughputLimit.amount), periodMs: patch.throughputLimit.periodMs }
  }),
  ...(patch.creditLimit === undefined ? {} : { creditLimit: amountOf(patch.creditLimit) })
})

export const peersHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(api, "peers", (handlers) =>
    Effect.gen(function*() {
      const settings = yield* NodeSettings
      const find = (id: string) => {
        const peer = settings.current().peers.find((candidate) => candidate.id === id)
        return peer === undefined ? Effect.fail(new NotFound({ message: `peer "${id}": not found` })) : Effect.succeed(peer)
      }
      return handlers
        .handle("list", () => Effect.sync(() => settings.current().peers.map(peerDetailJson)))
        .handle("get", ({ params }) => Effect.map(find(params.id), peerDetailJson))
        .handle("create", ({ payload }) =>
          settings.createPeer(resolvePeer(payload)).pipe(Effect.map(peerDetailJson), Effect.mapError(settingsError)))
        .handle("update", ({ params, payload }) =>
          settings.updatePeer(params.id, (current) => applyPatch(current, payload)).pipe(
            Effect.map(peerDetailJson),
            Effect.mapError(settingsError)
          ))
        .handle("delete", ({ params }) =>
          settings.deletePeer(params.id).pipe(
            Effect.as({ id: params.id, deleted: true as const }),
            Effect.mapError(settingsError)
          ))
    }))
