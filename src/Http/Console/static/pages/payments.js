// Outgoing payments and quotes: quote a payment from a wallet address to a receiver, accept the
// quote into a payment, watch it progress (sent and delivered amounts, state) until it settles.
import { useState } from "preact/hooks"
import { formatAmount, parseUnits } from "../amounts.js"
import {
  Badge,
  Field,
  FieldError,
  FormError,
  html,
  LoadError,
  Select,
  Table,
  useConfirm,
  useForm,
  usePoll
} from "../ui.js"

/** Payments this tab created or looked up, newest first, so they can be watched; at most this many. */
const trackedMax = 50
const trackedKey = "console.outgoingPayments"
const tracked = () => {
  try {
    const ids = JSON.parse(sessionStorage.getItem(trackedKey) ?? "[]")
    return Array.isArray(ids) ? ids.filter((id) => typeof id === "string").slice(0, trackedMax) : []
  } catch {
    return []
  }
}
const track = (id) =>
  sessionStorage.setItem(trackedKey, JSON.stringify([id, ...tracked().filter((other) => other !== id)].slice(0, trackedMax)))

const quoteFields = {
  walletAddressId: "wallet",
  receiver: "receiver",
  "receiver.incomingPaymentId": "incomingPaymentId",
  "receiver.ilpAddress": "ilpAddress",
  "receiver.sharedSecret": "sharedSecret",
  "receiver.spspUrl": "spspUrl",
  debitAmount: "amount",
  receiveAmount: "amount"
}

const receiverKinds = [
  ["stream", "ILP address + shared secret"],
  ["spsp", "SPSP URL"],
  ["incoming", "Incoming payment on this node"]
]

const amountModes = [
  ["send", "Send exactly"],
  ["deliver", "Deliver exactly"],
  ["none", "The incoming payment's amount"]
]

const receiverOf = (values, errors) => {
  const need = (name, text) => {
    const value = values[name].trim()
    if (value === "") errors[name] = text
    return value
  }
  switch (values.receiverKind) {
    case "incoming":
      return { incomingPaymentId: need("incomingPaymentId", "enter the incoming payment's id") }
    case "spsp":
      return { spspUrl: need("spspUrl", "enter the SPSP URL") }
    default:
      return {
        ilpAddress: need("ilpAddress", "enter the receiver's ILP address"),
        sharedSecret: need("sharedSecret", "enter the shared secret (base64)")
      }
  }
}

const QuoteForm = ({ app, wallets, onQuote }) => {
  const form = useForm({
    wallet: wallets[0]?.id ?? "",
    receiverKind: "stream",
    ilpAddress: "",
    sharedSecret: "",
    spspUrl: "",
    incomingPaymentId: "",
    amountMode: "send",
    amount: "",
    receiveScale: ""
  }, quoteFields)
  const v = form.values
  const wallet = wallets.find((candidate) => candidate.id === v.wallet)
  const submit = form.submit(async (values) => {
    const errors = {}
    if (wallet === undefined) errors.wallet = "choose the wallet address to pay from"
    const body = { walletAddressId: values.wallet, receiver: receiverOf(values, errors) }
    if (values.amountMode !== "none") {
      const scale = values.amountMode === "send" ? wallet?.asset.scale : Number(values.receiveScale)
      if (values.amountMode === "deliver" && !/^[0-9]{1,3}$/.test(values.receiveScale.trim())) {
        errors.receiveScale = "the receiver's asset scale (decimal places), e.g. 2"
      } else if (scale !== undefined) {
        const parsed = parseUnits(values.amount, scale, values.amountMode === "send" ? wallet?.asset.code : undefined)
        if (!parsed.ok) errors.amount = parsed.error
        else body[values.amountMode === "send" ? "debitAmount" : "receiveAmount"] = parsed.value
      }
    }
    if (Object.keys(errors).length > 0) throw new FieldError(errors)
    onQuote(await app.api.post("/quotes", body))
  })
  const field = (name, label, extra = {}) =>
    html`<${Field} label=${label} name=${name} form=${form} error=${form.errors[name]} autocomplete="off" ...${extra} />`
  return html`
    <form class="card form-grid" onSubmit=${submit} aria-label="Create a quote">
      <h2>Quote a payment</h2>
      <${Select} label="From wallet address" name="wallet" form=${form} error=${form.errors.wallet}
        options=${wallets.map((w) => [w.id, `${w.publicName ?? w.url} (${w.asset.code})`])} />
      <${Select} label="Receiver" name="receiverKind" form=${form} error=${form.errors.receiver} options=${receiverKinds} />
      ${v.receiverKind === "stream" ? html`
        ${field("ilpAddress", "Receiver ILP address")}
        ${field("sharedSecret", "Shared secret (base64)", { type: "password" })}` : null}
      ${v.receiverKind === "spsp" ? field("spspUrl", "SPSP URL", { type: "url" }) : null}
      ${v.receiverKind === "incoming" ? field("incomingPaymentId", "Incoming payment id") : null}
      <${Select} label="Amount" name="amountMode" form=${form} options=${amountModes} />
      ${v.amountMode === "none" ? null : field(
        "amount",
        v.amountMode === "send" ? `Amount to send (${wallet?.asset.code ?? "wallet's asset"})` : "Amount to deliver",
        { inputmode: "decimal" }
      )}
      ${v.amountMode === "deliver" ? field("receiveScale", "Receiver's asset scale", { inputmode: "numeric" }) : null}
      <${FormError} errors=${form.errors} />
      <div class="actions"><button type="submit" disabled=${form.busy}>Get quote</button></div>
    </form>`
}

const QuoteCard = ({ app, quote, confirm, onPaid, onDiscard }) => {
  const [error, setError] = useState(undefined)
  const [busy, setBusy] = useState(false)
  const expired = Date.parse(quote.expiresAt) <= Date.now()
  const pay = async () => {
    setError(undefined)
    const sure = await confirm(
      `Pay up to ${formatAmount(quote.debitAmount)} to deliver at least ${formatAmount(quote.receiveAmount)}? A payment cannot be undone.`,
      "Pay"
    )
    if (!sure) return
    setBusy(true)
    try {
      const payment = await app.api.post("/outgoing-payments", { quoteId: quote.id })
      track(payment.id)
      onPaid(payment)
    } catch (failure) {
      setError(failure.message)
    } finally {
      setBusy(false)
    }
  }
  return html`
    <section class="card quote" aria-labelledby="quote-title" data-quote=${quote.id}>
      <h2 id="quote-title">Quote</h2>
      <dl class="facts">
        <dt>Debit</dt><dd data-testid="quote-debit">${formatAmount(quote.debitAmount)}</dd>
        <dt>Receive</dt><dd data-testid="quote-receive">${formatAmount(quote.receiveAmount)}</dd>
        <dt>Type</dt><dd>${quote.paymentType === "FixedSend" ? "send exactly" : "deliver exactly"}</dd>
        <dt>Minimum rate</dt><dd><code>${quote.minExchangeRate}</code></dd>
        <dt>Expires</dt><dd>${new Date(quote.expiresAt).toLocaleTimeString()}</dd>
      </dl>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <div class="actions">
        <button type="button" disabled=${busy || expired} onClick=${pay}>${expired ? "Quote expired" : "Pay"}</button>
        <button type="button" class="secondary" onClick=${onDiscard}>Discard</button>
      </div>
    </section>`
}

const progress = (done, of) => {
  const total = BigInt(of.value)
  if (total === 0n) return 0
  return Number((BigInt(done.value) * 100n) / total)
}

const PaymentList = ({ app, confirm, version }) => {
  const canList = app.has("GET", "/outgoing-payments")
  const payments = usePoll(async () => {
    if (canList) return app.api.get(`/outgoing-payments?limit=${trackedMax}`)
    const found = await Promise.all(tracked().map((id) =>
      app.api.get(`/outgoing-payments/${encodeURIComponent(id)}`).catch(() => undefined)))
    return found.filter((payment) => payment !== undefined)
  }, undefined, [canList, version])
  const [actionError, setActionError] = useState(undefined)
  const canCancel = app.has("POST", "/outgoing-payments/{id}/cancel")
  const cancel = async (payment) => {
    setActionError(undefined)
    if (!(await confirm(`Cancel outgoing payment ${payment.id}? What is not yet sent goes back to the wallet address.`, "Cancel payment"))) return
    try {
      await app.api.post(`/outgoing-payments/${encodeURIComponent(payment.id)}/cancel`)
      payments.refresh()
    } catch (error) {
      setActionError(`${payment.id}: ${error.message}`)
    }
  }
  return html`
    <section aria-labelledby="payments-title">
      <h2 id="payments-title">Outgoing payments</h2>
      ${canList ? null : html`<p class="muted">Payments created or looked up in this tab (this node's API cannot list them yet).</p>`}
      <${LoadError} error=${payments.error} />
      ${actionError ? html`<p class="error" role="alert">${actionError}</p>` : null}
      <${Table} label="Outgoing payments" head=${["Id", "State", "Sent", "Delivered", "Attempts", ""]}
        empty=${payments.loading ? "loading…" : "no payments yet"}
        rows=${(payments.data ?? []).map((payment) => html`
          <tr data-payment=${payment.id}>
            <td><code>${payment.id}</code><br /><small class="muted">updated ${new Date(payment.updatedAt).toLocaleTimeString()}</small></td>
            <td data-testid="payment-state"><${Badge} state=${payment.state} />${payment.error ? html`<br /><small class="error">${payment.error}</small>` : null}</td>
            <td class="num" data-testid="payment-sent">${formatAmount(payment.sentAmount)}<br /><small class="muted">of ${formatAmount(payment.debitAmount)}</small></td>
            <td class="num" data-testid="payment-delivered">${formatAmount(payment.deliveredAmount)}
              <progress max="100" value=${progress(payment.deliveredAmount, payment.receiveAmount)}
                aria-label="delivered share of the quoted amount"></progress></td>
            <td class="num">${payment.attempts}</td>
            <td class="row-actions">${canCancel && (payment.state === "funding" || payment.state === "sending") ?
              html`<button type="button" class="danger" onClick=${() => cancel(payment)}>Cancel</button>` : null}</td>
          </tr>`)} />
    </section>`
}

const Lookup = ({ app, onFound }) => {
  const form = useForm({ id: "" }, { id: "id" })
  const submit = form.submit(async ({ id }) => {
    if (id.trim() === "") throw new FieldError({ id: "enter a payment id" })
    const payment = await app.api.get(`/outgoing-payments/${encodeURIComponent(id.trim())}`).catch((error) => {
      throw error.status === 404 ? new FieldError({ id: "no outgoing payment with this id" }) : error
    })
    track(payment.id)
    form.setValues({ id: "" })
    onFound()
  })
  return html`
    <form class="inline-form" onSubmit=${submit} aria-label="Find an outgoing payment">
      <${Field} label="Find a payment by id" name="id" form=${form} error=${form.errors.id} autocomplete="off" />
      <div class="actions"><button type="submit" class="secondary" disabled=${form.busy}>Find</button></div>
      <${FormError} errors=${form.errors} />
    </form>`
}

export const Payments = ({ app }) => {
  const wallets = usePoll(() => app.api.get("/wallet-addresses?limit=500"), 30_000)
  const [quote, setQuote] = useState(undefined)
  const [version, setVersion] = useState(0)
  const [dialog, confirm] = useConfirm()
  const list = wallets.data ?? []
  return html`
    ${dialog}
    <${LoadError} error=${wallets.error} />
    <div class="grid">
      ${wallets.data === undefined ? html`<p>loading…</p>` : list.length === 0 ?
        html`<p class="notice">Create a wallet address first: payments are sent from one.</p>` :
        html`<${QuoteForm} app=${app} wallets=${list} onQuote=${setQuote} />`}
      ${quote ? html`<${QuoteCard} app=${app} quote=${quote} confirm=${confirm} key=${quote.id}
        onPaid=${() => { setQuote(undefined); setVersion(version + 1) }} onDiscard=${() => setQuote(undefined)} />` : null}
    </div>
    <${PaymentList} app=${app} confirm=${confirm} version=${version} />
    <${Lookup} app=${app} onFound=${() => setVersion(version + 1)} />`
}
