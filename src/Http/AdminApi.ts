/**
 * The operator API, split by resource under `Admin/` (a newcomer finds the peers endpoints in
 * `Admin/Peers.ts`, liquidity in `Admin/Liquidity.ts`, ...). This module re-exports what the node
 * and the tests use, so callers need not know the layout.
 */
export { AdminApi, openapiPath } from "./Admin/Api.ts"
export { balanceJson, parseAmount, parseTransferId, adminBodyBytesMax } from "./Admin/Common.ts"
export { peerJson } from "./Admin/Peers.ts"
export {
  type AdminServices,
  authLayer,
  describeSchemaError,
  requestValidationLayer,
  routesLayer,
  type RunningAdminApi,
  serve,
  tokenMatches
} from "./Admin/Server.ts"
