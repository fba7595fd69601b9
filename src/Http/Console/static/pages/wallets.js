// Wallet addresses: list with balances, create, deposit; one wallet's incoming payments: create,
// watch them fill, hand out receiver details (to pay it from another node), complete or cancel.
import { useEffect, useState } from "preact/hooks"
import { formatAmount, formatIn, parseUnits } from "../amounts.js"
import { LiquidityForm } from "./liquidity.js"
import {
  assetKey,
  assetOptions,
  Badge,
  Field,
  FieldError,
  FormError,
  html,
  LoadError,
  parseAssetKey,
  Select,
  Table,
  useConfirm,
  useForm,
  usePoll
} from "../ui.js"

const pageSize = 100

const CreateWallet = ({ app, assets, onDone }) => {
  const form = useForm(
    { url: "", asset: assets[0] === undefined ? "" : assetKey(assets[0]), publicName: "" },
    { url: "url", asset: "asset", publicName: "publicName" }
  )
  // The assets arrive after the form is on screen: pick the first one then, keeping what was typed.
  useEffect(() => {
    if (assets[0] !== undefined) form.setValues((v) => (v.asset === "" ? { ...v, asset: assetKey(assets[0]) } : v))
  }, [assets.length])
  const submit = form.submit(async (values) => {
    if (values.url.trim() === "") throw new FieldError({ url: "enter the wallet address URL" })
    if (values.asset === "") throw new FieldError({ asset: "the node has no asset yet" })
    const body = { url: values.url.trim(), asset: parseAssetKey(values.asset) }
    if (values.publicName.trim() !== "") body.publicName = values.publicName.trim()
    const wallet = await app.api.post("/wallet-addresses", body)
    form.setValues({ ...values, url: "", publicName: "" })
    onDone(wallet)
  })
  return html`
    <form class="card form-grid" onSubmit=${submit} aria-label="Create a wallet address">
      <h2>Create a wallet address</h2>
      <${Field} label="URL" name="url" type="url" form=${form} error=${form.errors.url} autocomplete="off"
        placeholder="https://wallet.example/alice" />
      <${Select} label="Asset" name="asset" form=${form} error=${form.errors.asset} options=${assetOptions(assets)} />
      <${Field} label="Public name (optional)" name="publicName" form=${form} error=${form.errors.publicName} autocomplete="off" />
      <${FormError} errors=${form.errors} />
      <div class="actions"><button type="submit" disabled=${form.busy}>Create</button></div>
    </form>`
}

const CreateIncoming = ({ app, wallet, onDone }) => {
  const form = useForm({ amount: "", expiresInMinutes: "" }, { incomingAmount: "amount", expiresAt: "expiresInMinutes" })
  const submit = form.submit(async (values) => {
    const body = { walletAddressId: wallet.id }
    const errors = {}
    if (values.amount.trim() !== "") {
      const parsed = parseUnits(values.amount, wallet.asset.scale, wallet.asset.code)
      if (parsed.ok) body.incomingAmount = parsed.value
      else errors.amount = parsed.error
    }
    if (values.expiresInMinutes.trim() !== "") {
      const minutes = Number(values.expiresInMinutes)
      if (!/^[0-9]{1,6}$/.test(values.expiresInMinutes.trim()) || minutes < 1) errors.expiresInMinutes = "whole minutes, at least 1"
      else body.expiresAt = new Date(Date.now() + minutes * 60_000).toISOString()
    }
    if (Object.keys(errors).length > 0) throw new FieldError(errors)
    await app.api.post("/incoming-payments", body)
    form.setValues({ amount: "", expiresInMinutes: "" })
    onDone()
  })
  return html`
    <form class="card form-grid" onSubmit=${submit} aria-label="Create an incoming payment">
      <h3>New incoming payment</h3>
      <${Field} label=${`Amount to receive (${wallet.asset.code}, optional)`} name="amount" form=${form}
        error=${form.errors.amount} inputmode="decimal" autocomplete="off" />
      <${Field} label="Expires in (minutes, optional)" name="expiresInMinutes" form=${form}
        error=${form.errors.expiresInMinutes} inputmode="numeric" autocomplete="off" />
      <${FormError} errors=${form.errors} />
      <div class="actions"><button type="submit" disabled=${form.busy}>Create incoming payment</button></div>
    </form>`
}

/** The receiver details another node needs to pay this incoming payment: shown only on request. */
const ReceiverDetails = ({ app, payment }) => {
  const [details, setDetails] = useState(undefined)
  const [error, setError] = useState(undefined)
  if (details === undefined) {
    return html`
      <button type="button" class="secondary" onClick=${() =>
        app.api.get(`/incoming-payments/${encodeURIComponent(payment.id)}/credentials`).then(setDetails, setError)}>
        Receiver details</button>
      ${error ? html`<small class="error" role="alert">${error.message}</small>` : null}`
  }
  return html`
    <dl class="facts receiver-details" aria-label=${`Receiver details of ${payment.id}`}>
      <dt>ILP address</dt><dd><code data-testid="receiver-address">${details.ilpAddress}</code></dd>
      <dt>Shared secret</dt><dd><code data-testid="receiver-secret">${details.sharedSecret}</code></dd>
    </dl>
    <button type="button" class="secondary" onClick=${() => setDetails(undefined)}>Hide</button>`
}

const IncomingPayments = ({ app, wallet, confirm }) => {
  const path = `/wallet-addresses/${encodeURIComponent(wallet.id)}/incoming-payments?limit=${pageSize}`
  const payments = usePoll(() => app.api.get(path), undefined, [wallet.id])
  const [actionError, setActionError] = useState(undefined)
  const act = async (payment, action, text) => {
    setActionError(undefined)
    if (!(await confirm(text, action === "cancel" ? "Cancel payment" : "Complete payment"))) return
    try {
      await app.api.post(`/incoming-payments/${encodeURIComponent(payment.id)}/${action}`)
      payments.refresh()
    } catch (error) {
      setActionError(`${payment.id}: ${error.message}`)
    }
  }
  const [movingOut, setMovingOut] = useState(undefined)
  const canMoveOut = app.has("POST", "/withdrawals")
  const canComplete = app.has("POST", "/incoming-payments/{id}/complete")
  const canCancel = app.has("POST", "/incoming-payments/{id}/cancel")
  const open = (payment) => payment.state === "pending" || payment.state === "processing"
  return html`
    <section aria-labelledby="incoming-title">
      <h3 id="incoming-title">Incoming payments</h3>
      <${LoadError} error=${payments.error} />
      ${actionError ? html`<p class="error" role="alert">${actionError}</p>` : null}
      <${Table} label="Incoming payments" head=${["Id", "State", "Received", "Of", "Expires", ""]}
        empty=${payments.loading ? "loading…" : "no incoming payments"}
        rows=${(payments.data ?? []).map((payment) => html`
          <tr data-incoming=${payment.id}>
            <td><code>${payment.id}</code><br /><small class="muted">${new Date(payment.createdAt).toLocaleString()}</small></td>
            <td data-testid="incoming-state"><${Badge} state=${payment.state} /></td>
            <td class="num" data-testid="incoming-received">${formatAmount(payment.receivedAmount)}</td>
            <td class="num">${payment.incomingAmount === undefined ? "any" : formatAmount(payment.incomingAmount)}</td>
            <td>${payment.expiresAt === undefined ? "—" : new Date(payment.expiresAt).toLocaleString()}</td>
            <td class="row-actions">
              ${open(payment) ? html`<${ReceiverDetails} app=${app} payment=${payment} />` : null}
              ${open(payment) && canComplete ? html`<button type="button" class="secondary" onClick=${() =>
                act(payment, "complete", `Complete incoming payment ${payment.id}? It stops accepting money.`)}>Complete</button>` : null}
              ${open(payment) && canCancel ? html`<button type="button" class="danger" onClick=${() =>
                act(payment, "cancel", `Cancel incoming payment ${payment.id}?`)}>Cancel</button>` : null}
              ${canMoveOut && payment.receivedAmount.value !== "0" ? html`<button type="button" class="secondary"
                aria-expanded=${movingOut === payment.id ? "true" : "false"}
                onClick=${() => setMovingOut(movingOut === payment.id ? undefined : payment.id)}>Move out</button>` : null}
            </td>
          </tr>`)} />
      ${movingOut === undefined ? null : html`
        <section class="card" aria-labelledby="move-out-title">
          <h3 id="move-out-title">Move money out of incoming payment ${movingOut}</h3>
          <${LiquidityForm} app=${app} target=${{ incomingPaymentId: movingOut }} asset=${wallet.asset}
            label=${`incoming payment ${movingOut}`} title="Move money out of the incoming payment" confirm=${confirm}
            onDone=${payments.refresh} key=${movingOut} />
        </section>`}
      <${CreateIncoming} app=${app} wallet=${wallet} onDone=${payments.refresh} />
    </section>`
}

const WalletDetail = ({ app, id }) => {
  const wallet = usePoll(() => app.api.get(`/wallet-addresses/${encodeURIComponent(id)}`), undefined, [id])
  const [dialog, confirm] = useConfirm()
  if (wallet.data === undefined) return html`<${LoadError} error=${wallet.error} />${wallet.error ? null : html`<p>loading…</p>`}`
  const w = wallet.data
  return html`
    ${dialog}
    <p><a href="#/wallets">← All wallet addresses</a></p>
    <section class="card" aria-labelledby="wallet-title">
      <h2 id="wallet-title">${w.publicName ?? w.url}</h2>
      <dl class="facts">
        <dt>URL</dt><dd><code>${w.url}</code></dd>
        <dt>Id</dt><dd><code>${w.id}</code></dd>
        <dt>Asset</dt><dd>${w.asset.code} (scale ${w.asset.scale})</dd>
        <dt>Status</dt><dd><${Badge} state=${w.active ? "active" : "inactive"} /></dd>
        <dt>Balance</dt><dd><strong data-testid="wallet-balance">${formatIn(w.balance.available, w.asset)}</strong></dd>
      </dl>
      <${LiquidityForm} app=${app} target=${{ walletAddressId: w.id }} asset=${w.asset} label=${`wallet address ${w.url}`}
        title="Money in and out of the wallet address" confirm=${confirm} onDone=${wallet.refresh} key=${w.id} />
    </section>
    <${IncomingPayments} app=${app} wallet=${w} confirm=${confirm} />`
}

const WalletList = ({ app }) => {
  const [after, setAfter] = useState([])
  const cursor = after[after.length - 1]
  const query = `?limit=${pageSize}${cursor === undefined ? "" : `&after=${encodeURIComponent(cursor)}`}`
  const wallets = usePoll(() => app.api.get(`/wallet-addresses${query}`), undefined, [query])
  const balances = usePoll(() => app.api.get("/balances"), 30_000)
  const rows = wallets.data ?? []
  return html`
    <${LoadError} error=${wallets.error} />
    <${Table} label="Wallet addresses" head=${["Wallet address", "Asset", "Balance", "Status"]}
      empty=${wallets.loading ? "loading…" : "no wallet addresses"}
      rows=${rows.map((wallet) => html`
        <tr data-wallet=${wallet.url}>
          <td><a href=${`#/wallets/${encodeURIComponent(wallet.id)}`}>${wallet.publicName ?? wallet.url}</a>
            ${wallet.publicName ? html`<br /><small class="muted">${wallet.url}</small>` : null}</td>
          <td>${wallet.asset.code}</td>
          <td class="num" data-testid="wallet-balance">${formatIn(wallet.balance.available, wallet.asset)}</td>
          <td><${Badge} state=${wallet.active ? "active" : "inactive"} /></td>
        </tr>`)} />
    <div class="actions pager">
      ${after.length > 0 ? html`<button type="button" class="secondary" onClick=${() => setAfter(after.slice(0, -1))}>Previous page</button>` : null}
      ${rows.length === pageSize ? html`<button type="button" class="secondary" onClick=${() => setAfter([...after, rows[rows.length - 1].id])}>Next page</button>` : null}
    </div>
    <${CreateWallet} app=${app} assets=${(balances.data?.assets ?? []).map((row) => row.asset)}
      onDone=${(wallet) => { location.hash = `#/wallets/${encodeURIComponent(wallet.id)}` }} />`
}

export const Wallets = ({ app, args }) =>
  args[0] === undefined ? html`<${WalletList} app=${app} />` : html`<${WalletDetail} app=${app} id=${args[0]} key=${args[0]} />`
