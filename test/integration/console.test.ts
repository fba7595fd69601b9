/**
 * The operator console end to end, in a real headless Chromium against two running nodes over real
 * sockets. Node A (USD wallets) is peered with node B (EUR wallets) over ILP-over-HTTP; A converts
 * USD → EUR at 0.9. Everything the operator does here goes through the console's pages: sign in,
 * deposit liquidity, create wallet addresses and an incoming payment on B, quote and pay it from A,
 * watch both nodes show it completed and the balances moved by the exact amounts; bad input shows
 * its error next to its field. Screenshots of every page (1280 px and phone width) go to
 * test-artifacts/console/ (git-ignored).
 *
 * Skipped, with one loud line, only where no Chromium is installed (`.ci/run` installs Debian's).
 *
 * Over 400 lines on purpose: it is one operator's session across two nodes, each test building on
 * the state the previous left (money deposited, the wallet funded, the payment made), so splitting
 * it would mean starting the nodes and the browser again for each part.
 */
import { join } from "node:path"
import type { Locator, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { formatUnits } from "../../src/Http/Console/static/amounts.js"
import { artifactsDir, type Browser, chromiumPath, launchBrowser, phone } from "../support/browser.ts"
import { startNode, type TestNode } from "../support/node.ts"

const executable = chromiumPath()
if (executable === undefined) {
  console.warn("!!!!! SKIPPING the console browser tests: no Chromium found (install Debian `chromium` or set CHROMIUM_PATH) !!!!!")
}

const usd = { code: "USD", scale: 2 }
const eur = { code: "EUR", scale: 2 }
const tokenA = "console-admin-token-node-a-0001"
const tokenB = "console-admin-token-node-b-0001"
const aToB = "token-node-a-sends-to-node-b-01"
const bToA = "token-node-b-sends-to-node-a-01"

let nodeA: TestNode
let nodeB: TestNode
let browser: Browser
let pageA: Page
let pageB: Page
const shots = artifactsDir("console")
/** Every URL the browser asked for: the admin token must never be in one. */
const requestedUrls: Array<string> = []

const consoleUrl = (node: TestNode, route = "") => `http://127.0.0.1:${node.adminPort}/console${route}`

/** Polls until the locator's text matches; fails with the last text seen. Generous: the machine is shared. */
const waitText = async (locator: Locator, expected: string | RegExp, timeoutMs = 30_000): Promise<string> => {
  const deadline = Date.now() + timeoutMs
  let last = "(not found)"
  for (;;) {
    last = await locator.first().innerText({ timeout: 2_000 }).catch(() => "(not found)")
    if (typeof expected === "string" ? last.includes(expected) : expected.test(last)) return last
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${String(expected)}; last text: ${last}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * Opens `route` in `page`, brought to the front first: the two pages share one window, and the one
 * behind has its timers throttled and animation frames paused, which playwright's clicks wait on
 * (this file took 72 s instead of ~20 without it).
 */
const go = async (page: Page, node: TestNode, route: string, heading: string) => {
  await page.bringToFront()
  await page.goto(consoleUrl(node, route))
  await waitText(page.getByRole("heading", { level: 1 }), heading)
}

const shoot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })

const signIn = async (page: Page, node: TestNode, token: string) => {
  await page.goto(consoleUrl(node))
  await page.getByLabel("Admin token").fill(token)
  await page.getByRole("button", { name: "Sign in" }).click()
  await waitText(page.getByTestId("node-address"), node.ilpAddress)
}

const api = async (node: TestNode, token: string, path: string) => {
  const response = await fetch(`http://127.0.0.1:${node.adminPort}${path}`, { headers: { authorization: `Bearer ${token}` } })
  expect(response.status, path).toBe(200)
  return response.json() as Promise<any>
}

const confirmDialog = async (page: Page, action: string | RegExp) => {
  const dialog = page.getByRole("dialog")
  await dialog.waitFor()
  await dialog.getByRole("button", { name: action, exact: true }).click()
  await dialog.waitFor({ state: "hidden" })
}

describe.skipIf(executable === undefined)("operator console in Chromium", () => {
  beforeAll(async () => {
    nodeB = await startNode({
      ilpAddress: "test.b",
      adminToken: tokenB,
      assets: [eur],
      peers: [{ id: "a", asset: eur, incomingTokens: [aToB], staticIlpAddress: "test.a", maxPacketAmount: "2000" }]
    })
    nodeA = await startNode({
      ilpAddress: "test.a",
      adminToken: tokenA,
      assets: [usd, eur],
      rates: { static: { USD: { EUR: "0.9" } } },
      peers: [{
        id: "b",
        asset: eur,
        incomingTokens: [bToA],
        outgoing: { url: nodeB.url, token: aToB },
        staticIlpAddress: "test.b",
        routes: ["test.b"]
      }]
    })
    browser = await launchBrowser(executable!)
    browser.context.on("request", (request) => requestedUrls.push(request.url()))
    pageA = await browser.newPage()
    pageB = await browser.newPage()
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await nodeA?.close()
    await nodeB?.close()
  })

  it("signs in with the admin token only, and never puts it in a URL", async () => {
    await pageA.goto(consoleUrl(nodeA))
    await shoot(pageA, "sign-in")
    await pageA.getByLabel("Admin token").fill("not-the-admin-token-000000")
    await pageA.getByRole("button", { name: "Sign in" }).click()
    await waitText(pageA.getByRole("alert"), "the node refused this token")
    expect(await pageA.getByLabel("Admin token").getAttribute("aria-invalid")).toBe("true")

    await signIn(pageA, nodeA, tokenA)
    // Keyboard only: the token field has the focus, Enter signs in.
    await pageB.goto(consoleUrl(nodeB))
    await pageB.getByLabel("Admin token").waitFor()
    await pageB.keyboard.type(tokenB)
    await pageB.keyboard.press("Enter")
    await waitText(pageB.getByTestId("node-address"), "test.b")
    await waitText(pageA.locator("tr[data-asset=USD]"), "0.00 USD")
    await shoot(pageA, "a-overview")
    // A reload keeps the session (this tab's sessionStorage), no second sign-in.
    await pageA.reload()
    await waitText(pageA.getByTestId("node-address"), "test.a")
    expect(requestedUrls.some((url) => url.includes(tokenA) || url.includes(tokenB))).toBe(false)
  })

  it("deposits peer liquidity on B; too many decimals and an over-withdrawal show their errors at the field", async () => {
    await go(pageB, nodeB, "#/peers", "Peers")
    const row = pageB.locator('tr[data-peer="a"]')
    await waitText(row, "0.00 EUR")
    await row.getByRole("button", { name: "Liquidity" }).click()
    const form = pageB.getByRole("form", { name: "Liquidity of peer a" })
    const amount = form.getByLabel("Amount (EUR)")

    await amount.fill("1.234")
    await form.getByRole("button", { name: "Deposit" }).click()
    await waitText(form.locator(".field .error"), "at most 2 decimal places for EUR (scale 2)")
    expect(await amount.getAttribute("aria-invalid")).toBe("true")

    await amount.fill("100000")
    await form.getByRole("button", { name: "Deposit" }).click()
    await waitText(form.getByRole("status"), "Deposited 100000.00 EUR; available now 100000.00 EUR")
    await waitText(row.getByTestId("peer-liquidity"), "100000.00 EUR")

    // The API refuses: its message lands next to the amount field. A withdrawal asks first (a
    // one-step withdrawal, or a hold where the node has two-phase withdrawals).
    // Escape cancels a confirmation: nothing moves.
    await amount.fill("1.00")
    await form.getByRole("button", { name: "Withdraw" }).click()
    await pageB.getByRole("dialog").waitFor()
    await pageB.keyboard.press("Escape")
    await pageB.getByRole("dialog").waitFor({ state: "hidden" })
    expect((await api(nodeB, tokenB, "/balances")).peers[0].liquidity.available).toBe("10000000")

    await amount.fill("100000.01")
    await form.getByRole("button", { name: "Withdraw" }).click()
    await shoot(pageB, "b-peers-confirm-withdraw")
    await confirmDialog(pageB, /^(Withdraw|Hold for withdrawal)$/)
    await waitText(form.locator(".field .error"), /^exceeds (the available balance|what the account holds)/)
    await shoot(pageB, "b-peers")
    const balances = await api(nodeB, tokenB, "/balances")
    expect(balances.peers[0].liquidity.available).toBe("10000000")
  })

  it("adds a peer, and refuses a duplicate peer id at its field (where the API can add peers)", async () => {
    const operations = await api(nodeA, tokenA, "/openapi.json")
    await go(pageA, nodeA, "#/peers", "Peers")
    await waitText(pageA.locator('tr[data-peer="b"]'), "test.b")
    if (operations.paths["/peers"]?.post === undefined) {
      // Today's API: peers come only from the configuration file; the page says so instead of a form.
      console.warn("!!!!! console: this node's API has no POST /peers yet; adding a peer is checked only as the page's notice !!!!!")
      await waitText(pageA.locator(".notice"), "no POST /peers")
      await shoot(pageA, "a-peers")
      return
    }
    const form = pageA.getByRole("form", { name: "Add a peer" })
    const fill = async (id: string) => {
      await form.getByLabel("Peer id").fill(id)
      await form.getByLabel("Asset", { exact: true }).selectOption("EUR:2")
      await form.getByLabel("Peer's ILP address").fill("test.c")
      await form.getByLabel(/^Incoming token/).fill("token-peer-c-sends-to-a-0001")
      await form.getByLabel(/^Max packet amount/).fill("20.00")
      await form.getByRole("button", { name: "Add peer" }).click()
    }
    await form.getByLabel("Peer id").fill("c")
    await form.getByLabel(/^Max packet amount/).fill("20.001")
    await form.getByRole("button", { name: "Add peer" }).click()
    await waitText(form.locator(".field .error").first(), /./)
    expect(await form.getByLabel(/^Max packet amount/).getAttribute("aria-invalid")).toBe("true")
    await waitText(form, "at most 2 decimal places for EUR")
    await fill("c")
    const row = pageA.locator('tr[data-peer="c"]')
    await waitText(row, "max packet 20.00 EUR")
    await fill("c")
    await waitText(form.locator(".field .error"), 'a peer "c" exists')
    expect(await form.getByLabel("Peer id").getAttribute("aria-invalid")).toBe("true")
    await shoot(pageA, "a-peers")

    // Edit: a lower max packet amount; then remove, after confirming.
    await row.getByRole("button", { name: "Edit" }).click()
    const edit = pageA.getByRole("form", { name: "Edit peer c" })
    await edit.getByLabel(/^Max packet amount/).fill("12.50")
    await edit.getByRole("button", { name: "Save" }).click()
    await waitText(row, "max packet 12.50 EUR")
    const peerC = (await api(nodeA, tokenA, "/peers")).find((peer: { id: string }) => peer.id === "c")
    expect(peerC.maxPacketAmount).toBe("1250")
    await row.getByRole("button", { name: "Remove" }).click()
    await confirmDialog(pageA, "Remove peer")
    await row.waitFor({ state: "detached" })
    expect((await api(nodeA, tokenA, "/peers")).map((peer: { id: string }) => peer.id)).toEqual(["b"])
  })

  it("deposits EUR asset liquidity on A", async () => {
    await go(pageA, nodeA, "#/assets", "Assets")
    const row = pageA.locator("tr[data-asset=EUR]")
    await row.getByRole("button", { name: "Liquidity" }).click()
    const form = pageA.getByRole("form", { name: "Liquidity of the EUR liquidity account" })
    await form.getByLabel("Amount (EUR)").fill("100000.00")
    await form.getByRole("button", { name: "Deposit" }).click()
    await waitText(form.getByRole("status"), "available now 100000.00 EUR")
    await waitText(row.getByTestId("asset-liquidity"), "100000.00 EUR")
    await shoot(pageA, "a-assets")
  })

  let receiverAddress = ""
  let receiverSecret = ""

  it("creates a wallet address and an incoming payment on B, and shows its receiver details", async () => {
    await go(pageB, nodeB, "#/wallets", "Wallet addresses")
    const create = pageB.getByRole("form", { name: "Create a wallet address" })
    await create.getByLabel("URL").fill(`http://127.0.0.1:${nodeB.openPaymentsPort}/bob`)
    await create.getByLabel("Asset").selectOption("EUR:2")
    await create.getByLabel("Public name (optional)").fill("Bob")
    await create.getByRole("button", { name: "Create" }).click()
    await waitText(pageB.getByRole("heading", { level: 2, name: "Bob" }), "Bob")
    await waitText(pageB.getByTestId("wallet-balance"), "0.00 EUR")

    const incoming = pageB.getByRole("form", { name: "Create an incoming payment" })
    await incoming.getByLabel(/^Amount to receive/).fill("45.001")
    await incoming.getByRole("button", { name: "Create incoming payment" }).click()
    await waitText(incoming.locator(".field .error"), "at most 2 decimal places for EUR")
    await incoming.getByLabel(/^Amount to receive/).fill("45")
    await incoming.getByRole("button", { name: "Create incoming payment" }).click()
    const row = pageB.locator("tr[data-incoming]")
    await waitText(row, "45.00 EUR")
    await waitText(row.getByTestId("incoming-state"), "pending")
    await waitText(row.getByTestId("incoming-received"), "0.00 EUR")
    await row.getByRole("button", { name: "Receiver details" }).click()
    receiverAddress = await waitText(pageB.getByTestId("receiver-address"), /^test\.b\./)
    receiverSecret = await waitText(pageB.getByTestId("receiver-secret"), /^[A-Za-z0-9+/]{43}=$/)
    await shoot(pageB, "b-wallet")
  })

  let walletAId = ""

  it("creates and funds a wallet address on A", async () => {
    await go(pageA, nodeA, "#/wallets", "Wallet addresses")
    const create = pageA.getByRole("form", { name: "Create a wallet address" })
    await create.getByLabel("URL").fill(`http://127.0.0.1:${nodeA.openPaymentsPort}/alice`)
    await create.getByLabel("Asset").selectOption("USD:2")
    await create.getByRole("button", { name: "Create" }).click()
    await waitText(pageA.getByTestId("wallet-balance"), "0.00 USD")
    walletAId = decodeURIComponent(new URL(pageA.url()).hash.split("/")[2] ?? "")
    expect(walletAId).not.toBe("")

    const deposit = pageA.getByRole("form", { name: "Money in and out of the wallet address" })
    await deposit.getByLabel("Amount (USD)").fill("1000.005")
    await deposit.getByRole("button", { name: "Deposit" }).click()
    await waitText(deposit.locator(".field .error"), "at most 2 decimal places for USD (scale 2)")
    await deposit.getByLabel("Amount (USD)").fill("1000")
    await deposit.getByRole("button", { name: "Deposit" }).click()
    await waitText(pageA.getByTestId("wallet-balance"), "1000.00 USD")

    await go(pageA, nodeA, "#/wallets", "Wallet addresses")
    await waitText(pageA.locator("tr[data-wallet]").getByTestId("wallet-balance"), "1000.00 USD")
    await shoot(pageA, "a-wallets")
  })

  it("quotes B's incoming payment from A, pays it, and both nodes show it completed with exact balances", async () => {
    // B's page stays open on the wallet address, untouched: it must show the payment arrive by itself.
    const bUrl = pageB.url()
    await pageB.evaluate("window.__notReloaded = true")
    await go(pageA, nodeA, "#/payments", "Payments")
    const form = pageA.getByRole("form", { name: "Create a quote" })
    await form.getByLabel("Receiver", { exact: true }).selectOption("stream")
    await form.getByLabel("Receiver ILP address").fill(receiverAddress)
    await form.getByLabel("Shared secret (base64)").fill(receiverSecret)
    await form.getByLabel("Amount", { exact: true }).selectOption("deliver")
    await form.getByLabel("Amount to deliver").fill("45")
    await form.getByLabel("Receiver's asset scale").fill("2")
    await form.getByRole("button", { name: "Get quote" }).click()

    const quote = pageA.locator("section.quote")
    await waitText(quote.getByTestId("quote-receive"), "45.00 EUR")
    // 4500 / (0.9 × 0.99) + 1 = 5051 cents: the 1 % slippage bound, rounded up.
    await waitText(quote.getByTestId("quote-debit"), "50.51 USD")
    await shoot(pageA, "a-payments-quote")
    await quote.getByRole("button", { name: "Pay" }).click()
    await confirmDialog(pageA, "Pay")

    const row = pageA.locator("tr[data-payment]")
    await waitText(row.getByTestId("payment-state"), "completed", 90_000)
    await waitText(row.getByTestId("payment-delivered"), "45.00 EUR")
    const paymentId = (await row.getAttribute("data-payment"))!
    const payment = await api(nodeA, tokenA, `/outgoing-payments/${paymentId}`)
    expect(payment.state).toBe("completed")
    expect(payment.deliveredAmount.value).toBe("4500")
    const sent = BigInt(payment.sentAmount.value)
    expect(sent).toBeGreaterThan(0n)
    expect(sent).toBeLessThanOrEqual(5_051n)
    await waitText(row.getByTestId("payment-sent"), `${formatUnits(sent, 2)} USD`)
    await shoot(pageA, "a-payments")

    // A: the wallet address paid exactly what was sent; peer b's liquidity grew by what B received.
    await go(pageA, nodeA, `#/wallets/${encodeURIComponent(walletAId)}`, "Wallet addresses")
    await waitText(pageA.getByTestId("wallet-balance"), `${formatUnits(100_000n - sent, 2)} USD`)
    await go(pageA, nodeA, "#/peers", "Peers")
    await waitText(pageA.locator('tr[data-peer="b"]').getByTestId("peer-liquidity"), "45.00 EUR")
    await shoot(pageA, "a-peers-after")
    await go(pageA, nodeA, "#/overview", "Overview")
    await waitText(pageA.locator("tr[data-asset=USD]"), `${formatUnits(sent, 2)} USD`)
    await waitText(pageA.locator("tr[data-asset=EUR]"), `${formatUnits(10_000_000n - 4_500n, 2)} EUR`)
    // The packet counters moved: the outcome table has the fulfilled packets, and the chart a
    // fulfilled bar (packets since the previous scrape, taken on the first visit to this page).
    await waitText(pageA.locator("section[aria-labelledby=packets-title] table"), "fulfill")
    await pageA.waitForFunction(
      `[...document.querySelectorAll(".chart rect.series-fulfilled")].some((bar) => Number(bar.getAttribute("height")) > 0)`,
      undefined,
      { timeout: 30_000 }
    )
    expect(await pageA.locator(".chart svg").getAttribute("aria-label")).toMatch(/fulfilled\/s/)
    await shoot(pageA, "a-overview-after")

    // B: the incoming payment is completed with exactly 45.00 EUR, shown live (same document, no
    // navigation); peer a's liquidity fell by exactly that. In front, so its polls are not throttled.
    await pageB.bringToFront()
    const incoming = pageB.locator("tr[data-incoming]")
    await waitText(incoming.getByTestId("incoming-state"), "completed")
    await waitText(incoming.getByTestId("incoming-received"), "45.00 EUR")
    expect(pageB.url()).toBe(bUrl)
    expect(await pageB.evaluate("window.__notReloaded")).toBe(true)
    await shoot(pageB, "b-wallet-after")
    if ((await api(nodeB, tokenB, "/openapi.json")).paths["/withdrawals"]?.post !== undefined) {
      // The money received can leave the incoming payment: a hold, then paid out; one cent more is refused.
      await incoming.getByRole("button", { name: "Move out" }).click()
      const out = pageB.getByRole("form", { name: "Move money out of the incoming payment" })
      expect(await out.getByRole("button", { name: "Deposit" }).count()).toBe(0)
      await out.getByLabel("Amount (EUR)").fill("45.01")
      await out.getByRole("button", { name: "Withdraw" }).click()
      await confirmDialog(pageB, "Hold for withdrawal")
      await waitText(out.locator(".field .error"), "exceeds what the account holds")
      await out.getByLabel("Amount (EUR)").fill("45.00")
      await out.getByRole("button", { name: "Withdraw" }).click()
      await confirmDialog(pageB, "Hold for withdrawal")
      const hold = pageB.locator("li[data-withdrawal]").first()
      await hold.getByRole("button", { name: "Pay out" }).click()
      await confirmDialog(pageB, "Pay out")
      await waitText(hold, "posted")
      await waitText(pageB.getByRole("status").filter({ hasText: "Withdrawal posted" }), "available now 0.00 EUR")
      await shoot(pageB, "b-incoming-moved-out")
    }
    await go(pageB, nodeB, "#/peers", "Peers")
    await waitText(pageB.locator('tr[data-peer="a"]').getByTestId("peer-liquidity"), "99955.00 EUR")
    await go(pageB, nodeB, "#/overview", "Overview")
    await waitText(pageB.locator("section[aria-labelledby=packets-title] table"), "fulfill")
    await shoot(pageB, "b-overview")
  }, 180_000)

  it("withdraws from a wallet address in two phases: hold, release, hold, pay out (where the API has /withdrawals)", async () => {
    const operations = await api(nodeA, tokenA, "/openapi.json")
    await go(pageA, nodeA, `#/wallets/${encodeURIComponent(walletAId)}`, "Wallet addresses")
    const form = pageA.getByRole("form", { name: "Money in and out of the wallet address" })
    const start = BigInt((await api(nodeA, tokenA, `/wallet-addresses/${walletAId}`)).balance.available)
    await waitText(pageA.getByTestId("wallet-balance"), `${formatUnits(start, 2)} USD`)
    if (operations.paths["/withdrawals"]?.post === undefined) {
      console.warn("!!!!! console: this node's API has no POST /withdrawals yet; a wallet address offers deposits only !!!!!")
      expect(await form.getByRole("button", { name: "Withdraw" }).count()).toBe(0)
      return
    }
    const hold = async (amount: string) => {
      await form.getByLabel("Amount (USD)").fill(amount)
      await form.getByRole("button", { name: "Withdraw" }).click()
      await confirmDialog(pageA, "Hold for withdrawal")
    }
    await hold("10.00")
    const held = pageA.locator("li[data-withdrawal]").first()
    await waitText(held, "pending")
    await waitText(pageA.getByTestId("wallet-balance"), `${formatUnits(start - 1_000n, 2)} USD`)
    await shoot(pageA, "a-wallet-withdrawal-pending")
    await held.getByRole("button", { name: "Release" }).click()
    await confirmDialog(pageA, "Release")
    await waitText(held, "voided")
    await waitText(pageA.getByTestId("wallet-balance"), `${formatUnits(start, 2)} USD`)

    await hold("5.00")
    const second = pageA.locator("li[data-withdrawal]").first()
    await waitText(second, "pending")
    await second.getByRole("button", { name: "Pay out" }).click()
    await confirmDialog(pageA, "Pay out")
    await waitText(second, "posted")
    await waitText(pageA.getByTestId("wallet-balance"), `${formatUnits(start - 500n, 2)} USD`)
    expect((await api(nodeA, tokenA, `/wallet-addresses/${walletAId}`)).balance.available).toBe((start - 500n).toString())
    await shoot(pageA, "a-wallet-withdrawals")
  })

  it("adds an asset, sets and removes a static rate, removes the asset (where the API has them)", async () => {
    const operations = await api(nodeA, tokenA, "/openapi.json")
    await go(pageA, nodeA, "#/assets", "Assets")
    if (operations.paths["/assets"]?.post === undefined || operations.paths["/rates/{base}/{quote}"]?.put === undefined) {
      console.warn("!!!!! console: this node's API has no POST /assets or PUT /rates yet; assets and rates are read-only !!!!!")
      expect(await pageA.getByRole("form", { name: "Add an asset" }).count()).toBe(0)
      return
    }
    const add = pageA.getByRole("form", { name: "Add an asset" })
    await add.getByLabel("Code").fill("gbp")
    await add.getByRole("button", { name: "Add asset" }).click()
    await waitText(add.locator(".field .error"), "capital letters")
    await add.getByLabel("Code").fill("GBP")
    await add.getByRole("button", { name: "Add asset" }).click()
    await waitText(pageA.locator("tr[data-asset=GBP]"), "0.00 GBP")

    const rate = pageA.getByRole("form", { name: "Set a rate" })
    await rate.getByLabel(/^From/).fill("USD")
    await rate.getByLabel(/^To/).fill("GBP")
    await rate.getByLabel(/^Rate/).fill("0.8")
    await rate.getByLabel(/^Spread/).fill("0.01")
    await rate.getByRole("button", { name: "Set rate" }).click()
    const row = pageA.locator('tr[data-rate="USD-GBP"]')
    // 0.8 × (1 − 0.01) = 0.792, exactly.
    await waitText(row, "99/125")
    await shoot(pageA, "a-assets-rates")
    await row.getByRole("button", { name: "Remove" }).click()
    await confirmDialog(pageA, "Remove rate")
    await row.waitFor({ state: "detached" })

    await pageA.locator("tr[data-asset=GBP]").getByRole("button", { name: "Remove" }).click()
    await confirmDialog(pageA, "Remove asset")
    await pageA.locator("tr[data-asset=GBP]").waitFor({ state: "detached" })
    expect((await api(nodeA, tokenA, "/rates")).some((r: { quote: string }) => r.quote === "GBP")).toBe(false)
  })

  it("shows every page at phone width without sideways scrolling of the page", async () => {
    const small = await browser.newPage(phone)
    await signIn(small, nodeA, tokenA)
    const routes: ReadonlyArray<readonly [string, string]> = [
      ["#/overview", "Overview"],
      ["#/peers", "Peers"],
      ["#/assets", "Assets"],
      ["#/wallets", "Wallet addresses"],
      [`#/wallets/${encodeURIComponent(walletAId)}`, "Wallet addresses"],
      ["#/payments", "Payments"],
      ["#/events", "Events"]
    ]
    for (const [route, heading] of routes) {
      await go(small, nodeA, route, heading)
      await small.waitForLoadState("networkidle").catch(() => undefined)
      const name = route.slice(2).replace(/\/.*/, "-detail")
      await shoot(small, `phone-a-${name}`)
      // Wide tables scroll inside their own box; the page itself never scrolls sideways.
      const overflow = await small.evaluate<number>(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
      )
      expect(overflow, route).toBeLessThanOrEqual(0)
    }
    await go(pageA, nodeA, "#/events", "Events")
    await shoot(pageA, "a-events")
    await small.close()
  }, 120_000)

  it("raised no script errors in any page", () => {
    // The browser logs every non-2xx answer as a failed resource: those are the refusals tested above.
    const errors = browser.pageErrors.filter((text) => !text.includes("Failed to load resource"))
    expect(errors).toEqual([])
    expect(requestedUrls.every((url) => url.startsWith("http://127.0.0.1:"))).toBe(true)
    expect(requestedUrls.some((url) => url.includes(tokenA) || url.includes(tokenB))).toBe(false)
  })
})

