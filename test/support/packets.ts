/** Test packets whose data carries their own fulfillment, so a test peer can fulfil them. */
import { randomBytes } from "node:crypto"
import { encodePrepare, type Prepare, sha256 } from "../../src/Connector/Packet.ts"

export interface TestPrepare {
  readonly prepare: Prepare
  readonly bytes: Uint8Array
  readonly fulfillment: Uint8Array
}

export const makePrepare = (fields: Partial<Prepare> & { readonly destination: string }): TestPrepare => {
  const fulfillment = randomBytes(32)
  const prepare: Prepare = {
    amount: 100n,
    expiresAt: Date.now() + 10_000,
    executionCondition: sha256(fulfillment),
    data: fulfillment,
    ...fields
  }
  return { prepare, bytes: encodePrepare(prepare), fulfillment }
}
