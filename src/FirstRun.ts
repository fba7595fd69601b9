/**
 * What a new operator sees on the first start: the generated admin token (shown this once; it is
 * kept in the data directory, mode 0600) and the next steps: add a peer, fund it, create a wallet
 * address, where the API reference is. Later starts only say where the token is kept.
 */
import type { NodeConfig } from "./Config.ts"
import type { RunningNode } from "./Node.ts"
import { defaultAdminUrl } from "./OperatorCli.ts"

export const welcome = (config: NodeConfig, node: RunningNode, token: string, tokenFile: string): string => {
  const admin = `http://${config.host}:${node.adminPort}`
  const spsp = `http://${config.host}:${node.openPaymentsPort}`
  // What the operator commands need to find this node and its token, when not the defaults.
  const env = [
    admin === defaultAdminUrl ? "" : `ADMIN_URL=${admin}`,
    config.dataDir === "./data" || config.dataDir === "data" ? "" : `DATA_DIR=${config.dataDir}`
  ].filter((part) => part !== "").join(" ")
  const cli = `${env === "" ? "" : `${env} `}npm run cli --`
  return `
First start: an admin token for the operator API was generated and kept in ${tokenFile}
(mode 0600). It is shown only this once:

    ADMIN_TOKEN=${token}

Next steps (operator commands run on Node 24 through npm and read the token from the data
directory themselves; elsewhere set ADMIN_TOKEN and ADMIN_URL=${admin}):

  1. Is it up?             ${cli} health
  2. Add a peer:           ${cli} peers add --file peer.json  (one peer written as in the config
                           file: see "peers" in examples/config.annotated.jsonc; tokens may be
                           sha256:<hex> digests: npm run hash-token); no restart needed
  3. Fund the peer:        ${cli} deposit --peer <peer id> --amount 100000
                           (and see the books: ${cli} balances)
  4. A wallet address:     curl -H "authorization: Bearer $ADMIN_TOKEN" -H "content-type: application/json" \\
                             -d '{"url":"${spsp}/alice","asset":{"code":"USD","scale":2}}' ${admin}/wallet-addresses
                           (SPSP then answers at ${spsp}/alice)
  5. The console:          ${admin}/console  (sign in with the token above)
     API reference:        ${admin}/docs, ${admin}/openapi.json  (every endpoint; /healthz, /metrics)
     Every option and environment variable: npm start -- --help

`
}
