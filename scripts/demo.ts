/**
 * `npm run demo`: two embedded nodes, peered over ILP-over-HTTP, paying across.
 *
 * - "test.usbank" holds USD wallets, "test.eubank" EUR wallets. The link between them is in EUR and
 *   the US bank converts USD → EUR at 0.9 (its configured rate); the EU bank takes packets of at most
 *   20.00 EUR from it, so Pay splits larger payments.
 * - Everything goes through each node's operator API over HTTP, as an operator would: wallet
 *   addresses on each side, a deposit into Alice's wallet, then two payments from Alice to Bob:
 *   1. by receive amount, to an incoming payment on the EU bank (its STREAM credentials);
 *   2. by debit amount, to Bob's wallet address URL (SPSP).
 * - Prints the balances on both sides, each with where it comes from (deposits, the two payments,
 *   the conversion), stops both nodes and removes their data directories.
 *
 * Nothing to install beyond `npm install`: the embedded profile (SQLite files in a temporary
 * directory) needs no other service. All servers listen on 127.0.0.1, on free ports.
 */
import { Effect, Exit, References, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeConfig } from "../src/Config.ts"
import { type RunningNode, start } from "../src/Node.ts"

// The STREAM libraries trip a Node deprecation warning (short AES-GCM tags) that is noise here.
process.noDeprecation = true

const adminToken = "demo-admin-token-not-a-secret-0001"
const usToEuToken = "demo-token-usbank-to-eubank-0001"
const euToUsToken = "demo-token-eubank-to-usbank-0001"
const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }
/** Longest wait for a payment to finish. */
const paymentWaitMsMax = 30_000

interface DemoNode {
  readonly name: string
  readonly node: RunningNode
  readonly admin: string
  readonly close: () => Promise<void>
}

const startNode = async (name: string, file: Record<string, unknown>): Promise<DemoNode> => {
  const dataDir = mkdtempSync(join(tmpdir(), `demo-${name}-`))
  const config = await Effect.runPromise(decodeConfig({
    host: "127.0.0.1",
    connectorPort: 0,
    adminPort: 0,
    openPaymentsPort: 0,
    adminToken,
    dataDir,
    ...file
  }, {}))
  const scope = Scope.makeUnsafe()
  const node = await Effect.runPromise(
    Scope.provide(scope)(start(config)).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))
  )
  return {
    name,
    node,
    admin: `http://127.0.0.1:${node.adminPort}`,
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

const api = async (node: DemoNode, method: "GET" | "POST", path: string, body?: unknown): Promise<any> => {
  const response = await fetch(`${node.admin}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000)
  })
  const json = await response.json()
  if (response.status !== 200) throw new Error(`${node.name} ${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
  return json
}

const money = (value: string | bigint, asset: { readonly code: string; readonly scale: number }): string => {
  const digits = BigInt(value).toString().padStart(asset.scale + 1, "0")
  const whole = digits.slice(0, digits.length - asset.scale)
  return `${whole}${asset.scale > 0 ? `.${digits.slice(-asset.scale)}` : ""} ${asset.code}`
}

const amount = (json: { value: string; assetCode: string; assetScale: number }) =>
  money(json.value, { code: json.assetCode, scale: json.assetScale })

const settle = async (node: DemoNode, paymentId: string) => {
  const deadline = Date.now() + paymentWaitMsMax
  for (;;) {
    const payment = await api(node, "GET", `/outgoing-payments/${paymentId}`)
    if (payment.state === "completed" || payment.state === "failed") return payment
    if (Date.now() > deadline) throw new Error(`payment ${paymentId} still ${payment.state}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const quoteAndPay = async (us: DemoNode, label: string, quoteRequest: Record<string, unknown>) => {
  const quote = await api(us, "POST", "/quotes", quoteRequest)
  console.log(`\n${label}`)
  console.log(`  quote ${quote.paymentType}: debit at most ${amount(quote.debitAmount)}, receive at least ` +
    `${amount(quote.receiveAmount)}, max packet ${money(quote.maxPacketAmount, usd)}, expires ${quote.expiresAt}`)
  const created = await api(us, "POST", "/outgoing-payments", { quoteId: quote.id })
  const done = await settle(us, created.id)
  console.log(`  payment ${done.state}: sent ${amount(done.sentAmount)}, delivered ${amount(done.deliveredAmount)}` +
    `${done.error === undefined ? "" : ` (${done.error})`}`)
  if (done.state !== "completed") throw new Error(`payment ${done.id} ${done.state}`)
  return done
}

const row = (label: string, value: string, why: string) =>
  console.log(`  ${label.padEnd(38)} ${value.padStart(14)}   ${why}`)

interface Paid {
  readonly sent: bigint
  readonly delivered: bigint
}

const paidOf = (payment: any): Paid => ({ sent: BigInt(payment.sentAmount.value), delivered: BigInt(payment.deliveredAmount.value) })

/** Deposits made by `main`, in each asset's smallest unit (the explanations below add up from them). */
const deposits = { aliceUsd: 50_000n, usbankEurFloat: 1_000_000n, usbankPrefundingAtEubank: 1_000_000n }

const printBalances = async (us: DemoNode, eu: DemoNode, alice: any, bob: any, incomingId: string, first: Paid, second: Paid) => {
  const usBalances = await api(us, "GET", "/balances")
  const euBalances = await api(eu, "GET", "/balances")
  const assetLiquidity = (balances: any, code: string) =>
    balances.assets.find((entry: any) => entry.asset.code === code).liquidity.available
  const peerLiquidity = (balances: any, peerId: string) =>
    balances.peers.find((entry: any) => entry.peerId === peerId).liquidity.available
  const incoming = await api(eu, "GET", `/incoming-payments/${incomingId}`)
  const $ = money
  const forwarded = first.delivered + second.delivered
  console.log("\nBalances, and where each comes from")
  console.log(`  ${us.name} (${us.node.ilpAddress})`)
  row("wallet alice", $((await api(us, "GET", `/wallet-addresses/${alice.id}`)).balance.available, usd),
    `${$(deposits.aliceUsd, usd)} deposited − ${$(first.sent, usd)} sent in 1 − ${$(second.sent, usd)} sent in 2`)
  row("USD liquidity (node's own)", $(assetLiquidity(usBalances, "USD"), usd),
    `the USD Alice's packets paid in (${$(first.sent, usd)} + ${$(second.sent, usd)}), exchanged here for EUR at 0.9`)
  row("EUR liquidity (node's own)", $(assetLiquidity(usBalances, "EUR"), eur),
    `${$(deposits.usbankEurFloat, eur)} float deposited − the EUR it paid out (${$(first.delivered, eur)} + ${$(second.delivered, eur)})`)
  row("peer eubank account", $(peerLiquidity(usBalances, "eubank"), eur),
    `EUR forwarded to eubank and fulfilled (${$(first.delivered, eur)} + ${$(second.delivered, eur)})`)
  console.log(`  ${eu.name} (${eu.node.ilpAddress})`)
  row("wallet bob", $((await api(eu, "GET", `/wallet-addresses/${bob.id}`)).balance.available, eur),
    `received over SPSP in 2 (${$(second.delivered, eur)}); payment 1 went to the incoming payment`)
  row(`incoming payment (${incoming.state})`, amount(incoming.receivedAmount),
    `received in 1; completed when it reached its incomingAmount (${$(first.delivered, eur)})`)
  row("peer usbank account (its prefunding)", $(peerLiquidity(euBalances, "usbank"), eur),
    `${$(deposits.usbankPrefundingAtEubank, eur)} usbank prefunded − ${$(forwarded, eur)} its packets delivered here`)
  console.log("  Per node and asset the balances add up to its deposits (wallet alice + USD liquidity = Alice's deposit;")
  console.log("  EUR liquidity + peer eubank = the float; bob + incoming payment + peer usbank = the prefunding): the")
  console.log("  ledger moved money between accounts, it made or lost none.")
}

const main = async () => {
  const eu = await startNode("eubank", {
    ilpAddress: "test.eubank",
    assets: [eur],
    peers: [{
      id: "usbank",
      asset: eur,
      incomingTokens: [usToEuToken],
      staticIlpAddress: "test.usbank",
      maxPacketAmount: "2000"
    }]
  })
  const us = await startNode("usbank", {
    ilpAddress: "test.usbank",
    assets: [usd, eur],
    rates: { static: { USD: { EUR: "0.9" } } },
    peers: [{
      id: "eubank",
      asset: eur,
      incomingTokens: [euToUsToken],
      outgoing: { url: `http://127.0.0.1:${eu.node.connectorPort}/ilp`, token: usToEuToken },
      staticIlpAddress: "test.eubank"
    }]
  })
  try {
    console.log(`Started ${us.name} (${us.node.ilpAddress}, USD) and ${eu.name} (${eu.node.ilpAddress}, EUR), ` +
      `peered over ILP-over-HTTP; the link is in EUR, USD → EUR at 0.9, packets of at most 20.00 EUR.`)
    // Float: the US bank pays out EUR from its own liquidity; the EU bank holds the US bank's prefunding.
    await api(us, "POST", "/liquidity/deposit", { asset: eur, amount: deposits.usbankEurFloat.toString() })
    await api(eu, "POST", "/liquidity/deposit", { peerId: "usbank", amount: deposits.usbankPrefundingAtEubank.toString() })
    const alice = await api(us, "POST", "/wallet-addresses", {
      url: `http://127.0.0.1:${us.node.openPaymentsPort}/alice`,
      asset: usd,
      publicName: "Alice"
    })
    const bob = await api(eu, "POST", "/wallet-addresses", {
      url: `http://127.0.0.1:${eu.node.openPaymentsPort}/bob`,
      asset: eur,
      publicName: "Bob"
    })
    await api(us, "POST", `/wallet-addresses/${alice.id}/deposit`, { amount: deposits.aliceUsd.toString() })
    console.log(`Wallet addresses: alice ${alice.url} (USD, 500.00 deposited), bob ${bob.url} (EUR)`)

    const incoming = await api(eu, "POST", "/incoming-payments", { walletAddressId: bob.id, incomingAmount: "4500" })
    const credentials = await api(eu, "GET", `/incoming-payments/${incoming.id}/credentials`)
    const first = await quoteAndPay(us, "1. Alice pays Bob's incoming payment of 45.00 EUR (quote by receive amount, STREAM credentials)", {
      walletAddressId: alice.id,
      receiver: credentials,
      receiveAmount: "4500"
    })
    const second = await quoteAndPay(us, "2. Alice sends 100.00 USD to Bob's wallet address (quote by debit amount, SPSP)", {
      walletAddressId: alice.id,
      receiver: { spspUrl: bob.url },
      debitAmount: "10000"
    })
    await printBalances(us, eu, alice, bob, incoming.id, paidOf(first), paidOf(second))
  } finally {
    await us.close()
    await eu.close()
    console.log("\nStopped both nodes.")
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
})
