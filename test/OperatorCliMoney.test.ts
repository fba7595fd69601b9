/**
 * The money commands (`deposit`, `withdraw create|post|void|get`, `balances`) against a real admin
 * API on 127.0.0.1 (in-memory ledger): text by default, the API's JSON with `--json`, `--help` per
 * command, a repeated `--id` moving nothing twice, and the pure parsing at its boundaries.
 */
import { describe, expect, it } from "vitest"
import { moneyRequest } from "../src/OperatorCliMoney.ts"
import { cliAgainstAdminServer } from "./support/cli.ts"

const adminToken = "admin-token-for-cli-money-00001"
const usd = { code: "USD", scale: 2 }
const run = cliAgainstAdminServer(adminToken, {
  peers: [{ id: "bob", asset: usd, incomingTokens: ["bob-incoming-token-0000000001"], staticIlpAddress: "test.bob", creditLimit: "500" }]
})

describe("money commands against a running admin API", () => {
  it("deposit, withdraw create / void / create / post, get, balances: once per id", async () => {
    const deposit = await run("deposit", ["--peer", "bob", "--amount", "1000", "--id", "cli-dep-1", "--json"])
    expect(deposit).toMatchObject({ code: 0, json: { id: "cli-dep-1", kind: "deposit", state: "posted", amount: "1000" } })
    expect((await run("deposit", ["--peer", "bob", "--amount", "1000", "--id", "cli-dep-1", "--json"])).json).toEqual(deposit.json)
    expect((await run("deposit", ["get", "cli-dep-1", "--json"])).json).toEqual(deposit.json)

    // The credit line (500) is not withdrawable: 1001 is refused, 1000 is held.
    expect((await run("withdraw", ["create", "--peer", "bob", "--amount", "1001"])).code).toBe(1)
    const held = await run("withdraw", ["create", "--peer", "bob", "--amount", "1000", "--id", "cli-w-1", "--timeout-seconds", "600"])
    expect(held.code).toBe(0)
    expect(held.out).toMatch(/^withdrawal cli-w-1: pending 1000, expires \S+\naccount \d+: available 500, withdrawable 0, credit limit 500$/)
    const voided = await run("withdraw", ["void", "cli-w-1", "--json"])
    expect(voided.json).toMatchObject({ state: "voided", balance: { withdrawable: "1000" } })

    expect((await run("withdraw", ["create", "--peer", "bob", "--amount", "400", "--id", "cli-w-2"])).code).toBe(0)
    const posted = await run("withdraw", ["post", "cli-w-2", "--json"])
    expect(posted.json).toMatchObject({ state: "posted", balance: { available: "1100", withdrawable: "600" } })
    expect((await run("withdraw", ["post", "cli-w-2", "--json"])).json).toEqual(posted.json)
    expect((await run("withdraw", ["get", "cli-w-2", "--json"])).json).toEqual(posted.json)
    const refused = await run("withdraw", ["void", "cli-w-2"])
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(/409 withdrawal "cli-w-2" is already posted/)

    const balances = await run("balances", [])
    expect(balances.code).toBe(0)
    expect(balances.out).toMatch(/^ACCOUNT\s+ASSET\s+AVAILABLE\s+HELD$/m)
    expect(balances.out).toMatch(/^peer bob\s+USD:2\s+1100\s+0$/m)
    expect(balances.out).toMatch(/^settlement\s+USD:2\s+-600\s+0$/m) // 1000 in, 400 out
    expect((await run("balances", ["--json"])).json.peers[0].liquidity.available).toBe("1100")
  })

  it("unknown ids exit 1 with the node's 404", async () => {
    const result = await run("withdraw", ["get", "no-such-withdrawal"])
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/404/)
  })
})

describe("money command parsing", () => {
  it("builds the requests", () => {
    const newId = () => "fixed-id"
    expect(moneyRequest("deposit", ["--wallet", "w1", "--amount", "5"], newId)).toMatchObject({
      method: "POST",
      path: "/deposits",
      body: { id: "fixed-id", walletAddressId: "w1", amount: "5" }
    })
    expect(moneyRequest("withdraw", ["create", "--incoming-payment", "p1", "--amount", "5", "--timeout-seconds", "60"], newId))
      .toMatchObject({ path: "/withdrawals", body: { incomingPaymentId: "p1", timeoutSeconds: 60 } })
    expect(moneyRequest("withdraw", ["post", "a/b"]).path).toBe("/withdrawals/a%2Fb/post")
    expect(moneyRequest("withdraw", ["void", "x", "--json"]).path).toBe("/withdrawals/x/void")
  })

  it("refuses bad usage", () => {
    expect(() => moneyRequest("deposit", ["--incoming-payment", "p", "--amount", "1"])).toThrow(/exactly one of --peer, --asset, --wallet/)
    expect(() => moneyRequest("deposit", ["--peer", "p", "--amount", "1", "--timeout-seconds", "5"])).toThrow(/only for withdraw/)
    expect(() => moneyRequest("withdraw", ["create", "--peer", "p", "--amount", "1", "--timeout-seconds", "1.5"]))
      .toThrow(/whole number/)
    expect(() => moneyRequest("withdraw", ["get"])).toThrow(/takes one ID/)
    expect(() => moneyRequest("withdraw", ["get", "a", "b"])).toThrow(/takes one ID/)
    expect(() => moneyRequest("withdraw", ["refund", "a"])).toThrow(/unknown action "refund"/)
    expect(() => moneyRequest("deposit", ["--peer", "p", "--amount", "1", "extra"])).toThrow(/unexpected argument/)
  })
})
