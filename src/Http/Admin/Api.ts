/**
 * The operator API's contract: one `HttpApiGroup` per resource, each declared in the file named for
 * it (`Peers.ts`, `Liquidity.ts`, ...) with its handlers. To add a resource, declare its group in its
 * own file, `.add` it here (before `.middleware(RequestValidation)`, so bad input is answered 400
 * with a message) and provide its handler layer in `Server.ts`'s `routesLayer`.
 */
import * as HttpApi from "effect/http-api/HttpApi"
import * as OpenApi from "effect/http-api/OpenApi"
import { AssetsGroup } from "./Assets.ts"
import { BalancesGroup } from "./Balances.ts"
import { EventsGroup } from "./Events.ts"
import { RequestValidation } from "./Common.ts"
import { IncomingPaymentsGroup } from "./IncomingPayments.ts"
import { LiquidityGroup } from "./Liquidity.ts"
import { OutgoingPaymentsGroup, QuotesGroup } from "./Payments.ts"
import { PeersGroup } from "./Peers.ts"
import { RatesGroup } from "./Rates.ts"
import { SystemGroup } from "./System.ts"
import { WalletAddressesGroup } from "./WalletAddresses.ts"
import { DepositsGroup, WithdrawalsGroup } from "./Withdrawals.ts"

export class AdminApi extends HttpApi.make("admin")
  .add(SystemGroup, PeersGroup, AssetsGroup, RatesGroup, BalancesGroup, LiquidityGroup)
  .add(WalletAddressesGroup, IncomingPaymentsGroup, QuotesGroup, OutgoingPaymentsGroup)
  .add(DepositsGroup, WithdrawalsGroup)
  .add(EventsGroup)
  .middleware(RequestValidation)
  .annotate(HttpApi.PayloadParseOptions, { onExcessProperty: "error", errors: "all" })
  .annotateMerge(OpenApi.annotations({ title: "Connector operator API", version: "1" }))
{}

export const openapiPath = "/openapi.json"
