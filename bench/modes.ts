/**
 * The bench's modes: what each one measures, and how modes relate (yardsticks, TigerBeetle,
 * baseline, and the embedded mode each one is compared with). See `run.ts` for the processes.
 */

export const allModes = [
  "raw-socket",
  "raw",
  "reference",
  "forward",
  "local",
  "local-capped",
  "forward-tb",
  "local-tb",
  "forward-tb2",
  "forward-scale",
  "forward-effect",
  "local-effect",
  "forward-base",
  "local-base",
  "local-capped-base",
  "forward-tb-base",
  "forward-scale-base"
] as const
export type Mode = typeof allModes[number]

/** The yardsticks: processes other than our node, fed the same forward packets. */
export const yardsticks: ReadonlyArray<Mode> = ["raw-socket", "raw", "reference"]
export const isNodeMode = (mode: Mode): boolean => !yardsticks.includes(mode)

export const isTigerBeetleMode = (mode: Mode): boolean => mode.endsWith("-tb") || mode === "forward-tb2"
/** Modes run against the node of another checkout (`--baseline DIR`), for before/after in one sitting. */
export const isBaselineMode = (mode: Mode): boolean => mode.endsWith("-base")
/** Local modes paying the capped incoming payment (`BenchNode.cappedStream`). */
export const isCappedMode = (mode: Mode): boolean => mode.startsWith("local-capped")
/** The embedded mode a TigerBeetle or baseline mode is compared with. */
export const embeddedTwin = (mode: Mode): Mode | undefined =>
  mode === "forward-tb-base" ? "forward-tb" : mode === "forward-scale-base" ? "forward-scale" : mode === "forward-tb" || mode === "forward-tb2" || mode === "forward-base" ? "forward" : mode === "local-tb" || mode === "local-base" ? "local" : mode === "local-capped-base" ? "local-capped" : undefined

export const describeMode: Record<Mode, string> = {
  "raw-socket": "null forwarder, raw-socket HTTP/1.1 client → peer (the limit)",
  raw: "null forwarder, node:http server + undici client → peer",
  reference: "ilp-connector 23.0.2 + ilp-plugin-http 1.6.1 → peer",
  forward: "node → peer (pipeline + ledger)",
  local: "node → local STREAM payment",
  "local-capped": "local, to an incoming payment with an incomingAmount (never reached in the sitting)",
  "forward-tb": "forward, ledger on TigerBeetle (1 replica)",
  "local-tb": "local, ledger on TigerBeetle (1 replica)",
  "forward-tb2": "forward-tb split over two node instances on the same cluster and accounts",
  "forward-scale": "forward, node with --scale-peers more peers, --scale-wallets wallet addresses",
  "forward-effect": "EXPERIMENT: forward via Effect's HTTP server",
  "local-effect": "EXPERIMENT: local via Effect's HTTP server",
  "forward-base": "forward through the --baseline checkout's node (before/after)",
  "local-base": "local through the --baseline checkout's node (before/after)",
  "local-capped-base": "local-capped through the --baseline checkout's node (before/after)",
  "forward-tb-base": "forward-tb through the --baseline checkout's node on the same cluster and accounts",
  "forward-scale-base": "forward-scale through the --baseline checkout's node, scaled the same way (before/after)"
}
