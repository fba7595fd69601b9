/**
 * Longest-prefix routing over ILP addresses. A prefix matches an address when it is equal to it or
 * followed by a `.` segment boundary. Among routes with the same longest prefix, the highest
 * configured weight wins, then the smallest peer id (deterministic). The source peer is never
 * chosen: a packet is not sent back where it came from.
 */
import type { PeerConfig } from "../Config.ts"

export interface Route {
  readonly prefix: string
  readonly peerId: string
  readonly weight: number
}

export interface RouteTable {
  /** The best next hop for `destination`, excluding `sourcePeerId`; undefined when none. */
  readonly lookup: (destination: string, sourcePeerId: string | undefined) => Route | undefined
  readonly size: number
}

const byPreference = (a: Route, b: Route): number =>
  b.weight - a.weight || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)

export const makeRouteTable = (peers: ReadonlyArray<PeerConfig>): RouteTable => {
  const table = new Map<string, Array<Route>>()
  let size = 0
  for (const peer of peers) {
    const prefixes = new Set([peer.staticIlpAddress, ...peer.routes])
    for (const prefix of prefixes) {
      const routes = table.get(prefix) ?? []
      routes.push({ prefix, peerId: peer.id, weight: peer.routeWeight })
      routes.sort(byPreference)
      table.set(prefix, routes)
      size++
    }
  }
  const lookup = (destination: string, sourcePeerId: string | undefined): Route | undefined => {
    // Walk the prefixes of the destination from the longest to the shortest.
    let prefix = destination
    for (;;) {
      const routes = table.get(prefix)
      if (routes !== undefined) {
        // The longest matching prefix decides: we never fall back to a shorter prefix to avoid
        // the source, since that would route around the source's own more specific claim.
        for (const route of routes) {
          if (route.peerId !== sourcePeerId) return route
        }
        return undefined
      }
      const dot = prefix.lastIndexOf(".")
      if (dot <= 0) return undefined
      prefix = prefix.slice(0, dot)
    }
  }
  return { lookup, size }
}
