// Deposit into or withdraw from a liquidity account (a peer's or an asset's), amounts in asset units.
// Each submission carries a transfer id chosen here: a retry after a lost answer reuses it, so the
// node applies the movement once; a new id is drawn after success or when the input changes.
import { useState } from "preact/hooks"
import { formatIn, parseUnits } from "../amounts.js"
import { newTransferId } from "../forms.js"
import { Field, FieldError, FormError, html, useForm } from "../ui.js"

const randomBytes = (bytes) => crypto.getRandomValues(bytes)

/**
 * @param {{ app, target: { peerId?: string, asset?: { code: string, scale: number } }, asset: { code: string, scale: number },
 *   label: string, confirm: (text: string, action: string) => Promise<boolean>, onDone: () => void }} props
 */
export const LiquidityForm = ({ app, target, asset, label, confirm, onDone }) => {
  const form = useForm({ amount: "" }, { amount: "amount", transferId: "amount" })
  const [transferId, setTransferId] = useState(undefined)
  const [result, setResult] = useState(undefined)
  const move = (direction) =>
    form.submit(async ({ amount }) => {
      setResult(undefined)
      const parsed = parseUnits(amount, asset.scale, asset.code)
      if (!parsed.ok) throw new FieldError({ amount: parsed.error })
      if (direction === "withdraw") {
        const sure = await confirm(`Withdraw ${formatIn(parsed.value, asset)} from ${label}?`, "Withdraw")
        if (!sure) return
      }
      const id = transferId ?? newTransferId(randomBytes)
      setTransferId(id)
      const answer = await app.api.post(`/liquidity/${direction}`, { ...target, amount: parsed.value, transferId: id })
      setTransferId(undefined)
      form.setValues({ amount: "" })
      setResult(`${direction === "deposit" ? "Deposited" : "Withdrew"} ${formatIn(parsed.value, asset)}; available now ${
        formatIn(answer.balance.available, asset)
      }`)
      onDone()
    })
  const onInput = (event) => {
    setTransferId(undefined)
    form.set("amount")(event)
  }
  return html`
    <form class="inline-form" onSubmit=${move("deposit")} aria-label=${`Liquidity of ${label}`}>
      <${Field} label=${`Amount (${asset.code})`} name="amount" form=${form} error=${form.errors.amount}
        inputmode="decimal" autocomplete="off" onInput=${onInput}
        hint=${`up to ${asset.scale} decimal place${asset.scale === 1 ? "" : "s"}`} />
      <div class="actions">
        <button type="submit" disabled=${form.busy}>Deposit</button>
        <button type="button" class="danger" disabled=${form.busy} onClick=${move("withdraw")}>Withdraw</button>
      </div>
      <${FormError} errors=${form.errors} />
      ${result ? html`<p class="ok" role="status">${result}</p>` : null}
    </form>`
}
