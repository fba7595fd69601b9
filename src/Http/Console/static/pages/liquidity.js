// Money in and out of one account (a peer's or an asset's liquidity, a wallet address), amounts in
// asset units. Two APIs, whichever the node has:
// - movements (`POST /deposits`, `POST /withdrawals` + `/post` or `/void`): a withdrawal first holds
//   the amount; the operator then pays it out or releases it. Holds made in this tab are listed
//   (the API has no list of them), at most `holdsMax`.
// - the older one-step endpoints (`/liquidity/deposit|withdraw`, `/wallet-addresses/:id/deposit`).
// Each submission carries an id chosen here: a retry after a lost answer reuses it, so the node
// applies the movement once; a new id is drawn after success or when the amount changes.
import { useState } from "preact/hooks"
import { formatIn, parseUnits } from "../amounts.js"
import { newTransferId } from "../forms.js"
import { Badge, Field, FieldError, FormError, html, useForm } from "../ui.js"

const randomBytes = (bytes) => crypto.getRandomValues(bytes)
const holdsMax = 20
const holdsKey = "console.withdrawals"

const storedHolds = () => {
  try {
    const holds = JSON.parse(sessionStorage.getItem(holdsKey) ?? "[]")
    return Array.isArray(holds) ? holds.slice(0, 200) : []
  } catch {
    return []
  }
}
const saveHolds = (holds) => sessionStorage.setItem(holdsKey, JSON.stringify(holds.slice(0, 200)))
const accountKey = (target) => JSON.stringify(target)

/** Which API moves money for this target, or undefined when the node has none for it. */
const routesFor = (app, target) => {
  if (app.has("POST", "/withdrawals") && app.has("POST", "/deposits")) return { kind: "movements" }
  if (target.incomingPaymentId !== undefined) return undefined
  if (target.walletAddressId !== undefined) {
    return app.has("POST", "/wallet-addresses/{id}/deposit") ?
      { kind: "legacy", deposit: `/wallet-addresses/${encodeURIComponent(target.walletAddressId)}/deposit` } :
      undefined
  }
  return { kind: "legacy", deposit: "/liquidity/deposit", withdraw: "/liquidity/withdraw" }
}

const Holds = ({ app, holds, asset, label, confirm, onChange }) => {
  const [error, setError] = useState(undefined)
  const settle = async (hold, action) => {
    setError(undefined)
    const text = action === "post" ?
      `Pay out ${formatIn(hold.amount, asset)} from ${label}? The money leaves the node's books.` :
      `Release the hold of ${formatIn(hold.amount, asset)} back to ${label}?`
    if (!(await confirm(text, action === "post" ? "Pay out" : "Release"))) return
    try {
      const answer = await app.api.post(`/withdrawals/${encodeURIComponent(hold.id)}/${action}`)
      onChange(hold.id, answer)
    } catch (failure) {
      setError(`${hold.id}: ${failure.message}`)
    }
  }
  if (holds.length === 0) return null
  return html`
    <div class="holds">
      <h3>Withdrawals from this tab</h3>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <ul class="plain">${holds.map((hold) => html`
        <li data-withdrawal=${hold.id}>
          <strong>${formatIn(hold.amount, asset)}</strong> <${Badge} state=${hold.state} />
          ${hold.state === "pending" ? html`
            <span class="muted"> held until ${new Date(hold.expiresAt).toLocaleString()}</span>
            <span class="actions inline">
              <button type="button" onClick=${() => settle(hold, "post")}>Pay out</button>
              <button type="button" class="secondary" onClick=${() => settle(hold, "void")}>Release</button>
            </span>` : null}
        </li>`)}
      </ul>
    </div>`
}

/**
 * @param {{ app, target: { peerId?: string, asset?: { code: string, scale: number }, walletAddressId?: string,
 *   incomingPaymentId?: string }, asset: { code: string, scale: number }, label: string, title?: string,
 *   confirm: (text: string, action: string) => Promise<boolean>, onDone: () => void }} props
 */
export const LiquidityForm = ({ app, target, asset, label, title, confirm, onDone }) => {
  const form = useForm({ amount: "" }, { amount: "amount", transferId: "amount", id: "amount" })
  const [pendingId, setPendingId] = useState(undefined)
  const [result, setResult] = useState(undefined)
  const [holds, setHolds] = useState(() => storedHolds().filter((hold) => hold.account === accountKey(target)))
  const routes = routesFor(app, target)
  if (routes === undefined) return null
  const movements = routes.kind === "movements"
  const remember = (hold) => {
    const all = [hold, ...storedHolds().filter((other) => other.id !== hold.id)]
    const mine = all.filter((other) => other.account === accountKey(target))
    // Keep at most `holdsMax` per account, pending ones first.
    const kept = [...mine.filter((h) => h.state === "pending"), ...mine.filter((h) => h.state !== "pending")].slice(0, holdsMax)
    saveHolds([...kept, ...all.filter((other) => other.account !== accountKey(target))])
    setHolds(kept)
  }
  const move = (direction) =>
    form.submit(async ({ amount }) => {
      setResult(undefined)
      const parsed = parseUnits(amount, asset.scale, asset.code)
      if (!parsed.ok) throw new FieldError({ amount: parsed.error })
      if (direction === "withdraw") {
        const text = movements ?
          `Hold ${formatIn(parsed.value, asset)} of ${label} for a withdrawal? You pay it out or release it next.` :
          `Withdraw ${formatIn(parsed.value, asset)} from ${label}?`
        if (!(await confirm(text, movements ? "Hold for withdrawal" : "Withdraw"))) return
      }
      const id = pendingId ?? (movements ? crypto.randomUUID() : newTransferId(randomBytes))
      setPendingId(id)
      let answer
      if (movements) {
        answer = await app.api.post(direction === "deposit" ? "/deposits" : "/withdrawals", { id, amount: parsed.value, ...target })
        if (direction === "withdraw") {
          remember({ id, account: accountKey(target), amount: parsed.value, state: answer.state, expiresAt: answer.expiresAt })
        }
      } else {
        const path = direction === "deposit" ? routes.deposit : routes.withdraw
        const body = target.walletAddressId !== undefined ? {} : target
        answer = await app.api.post(path, { ...body, amount: parsed.value, transferId: id })
      }
      setPendingId(undefined)
      form.setValues({ amount: "" })
      const verb = direction === "deposit" ? "Deposited" : movements ? "Holding" : "Withdrew"
      const withdrawable = answer.balance.withdrawable === undefined ? "" : `, withdrawable ${formatIn(answer.balance.withdrawable, asset)}`
      setResult(`${verb} ${formatIn(parsed.value, asset)}; available now ${formatIn(answer.balance.available, asset)}${withdrawable}`)
      onDone()
    })
  const onInput = (event) => {
    setPendingId(undefined)
    form.set("amount")(event)
  }
  const canWithdraw = movements || routes.withdraw !== undefined
  // Money comes into an incoming payment only by payments; it can only be moved out.
  const canDeposit = target.incomingPaymentId === undefined
  return html`
    <form class="inline-form" onSubmit=${move(canDeposit ? "deposit" : "withdraw")} aria-label=${title ?? `Liquidity of ${label}`}>
      <${Field} label=${`Amount (${asset.code})`} name="amount" form=${form} error=${form.errors.amount}
        inputmode="decimal" autocomplete="off" onInput=${onInput}
        hint=${`up to ${asset.scale} decimal place${asset.scale === 1 ? "" : "s"}`} />
      <div class="actions">
        ${canDeposit ? html`<button type="submit" disabled=${form.busy}>Deposit</button>` : null}
        ${canWithdraw ? html`<button type="button" class="danger" disabled=${form.busy} onClick=${move("withdraw")}>Withdraw</button>` : null}
      </div>
      <${FormError} errors=${form.errors} />
      ${result ? html`<p class="ok" role="status">${result}</p>` : null}
    </form>
    ${movements ? html`<${Holds} app=${app} holds=${holds} asset=${asset} label=${label} confirm=${confirm}
      onChange=${(id, answer) => {
        remember({ ...holds.find((hold) => hold.id === id), state: answer.state })
        setResult(`Withdrawal ${answer.state}; available now ${formatIn(answer.balance.available, asset)}`)
        onDone()
      }} />` : null}`
}
