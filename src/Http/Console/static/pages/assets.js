// Assets and rates: each asset's liquidity (deposit, withdraw), adding assets and static rates where
// the node's API has those operations.
import { useState } from "preact/hooks"
import { formatIn } from "../amounts.js"
import { assetKey, Field, FieldError, FormError, html, LoadError, Table, useConfirm, useForm, usePoll } from "../ui.js"
import { LiquidityForm } from "./liquidity.js"

const AddAsset = ({ app, onDone }) => {
  const form = useForm({ code: "", scale: "2" }, { code: "code", scale: "scale" })
  const submit = form.submit(async (values) => {
    const scale = Number(values.scale)
    const errors = {}
    if (!/^[A-Z0-9]{1,12}$/.test(values.code)) errors.code = "1 to 12 capital letters or digits"
    if (!/^[0-9]{1,3}$/.test(values.scale) || scale > 255) errors.scale = "a whole number from 0 to 255"
    if (Object.keys(errors).length > 0) throw new FieldError(errors)
    await app.api.post("/assets", { code: values.code, scale })
    form.setValues({ code: "", scale: "2" })
    onDone()
  })
  return html`
    <form class="card form-grid" onSubmit=${submit} aria-label="Add an asset">
      <h2>Add an asset</h2>
      <${Field} label="Code" name="code" form=${form} error=${form.errors.code} autocomplete="off" placeholder="USD" />
      <${Field} label="Scale (decimal places)" name="scale" form=${form} error=${form.errors.scale} inputmode="numeric" />
      <${FormError} errors=${form.errors} />
      <div class="actions"><button type="submit" disabled=${form.busy}>Add asset</button></div>
    </form>`
}

/** Rates as the node lists them: an array of rows, or `{ BASE: { QUOTE: rate } }`. */
const rateRows = (rates) => {
  if (Array.isArray(rates)) return rates
  return Object.entries(rates ?? {}).flatMap(([base, quotes]) =>
    Object.entries(quotes ?? {}).map(([quote, rate]) => ({ base, quote, rate: String(rate) })))
}

const Rates = ({ app }) => {
  const canList = app.has("GET", "/rates")
  const rates = usePoll(() => (canList ? app.api.get("/rates") : Promise.resolve(undefined)), 10_000, [canList])
  if (!canList) {
    return app.operationsKnown ?
      html`<p class="notice">This node's API has no <code>GET /rates</code> yet: rates come from the configuration file.</p>` :
      null
  }
  const rows = rateRows(rates.data)
  return html`
    <${LoadError} error=${rates.error} />
    <${Table} label="Rates" head=${["From", "To", "Rate", "Spread"]}
      rows=${rows.map((row) => html`<tr><td>${row.base ?? row.from}</td><td>${row.quote ?? row.to ?? row.counter}</td>
        <td class="num">${row.rate}</td><td class="num">${row.spread ?? "—"}</td></tr>`)} />`
}

export const Assets = ({ app }) => {
  const balances = usePoll(() => app.api.get("/balances"))
  const [selected, setSelected] = useState(undefined)
  const [dialog, confirm] = useConfirm()
  const rows = balances.data?.assets ?? []
  const selectedRow = rows.find((row) => assetKey(row.asset) === selected)
  return html`
    ${dialog}
    <section aria-labelledby="assets-title">
      <h2 id="assets-title">Assets</h2>
      <${LoadError} error=${balances.error} />
      <${Table} label="Assets" head=${["Asset", "Scale", "Available liquidity", "Settlement", ""]}
        empty=${balances.loading ? "loading…" : "no assets"}
        rows=${rows.map((row) => html`
          <tr data-asset=${row.asset.code}>
            <th scope="row">${row.asset.code}</th>
            <td class="num">${row.asset.scale}</td>
            <td class="num" data-testid="asset-liquidity">${formatIn(row.liquidity.available, row.asset)}</td>
            <td class="num">${formatIn(row.settlement.available, row.asset)}</td>
            <td class="row-actions"><button type="button" class="secondary"
              aria-expanded=${selected === assetKey(row.asset) ? "true" : "false"}
              onClick=${() => setSelected(selected === assetKey(row.asset) ? undefined : assetKey(row.asset))}>Liquidity</button></td>
          </tr>`)} />
    </section>
    ${selectedRow ? html`
      <section class="card" aria-labelledby="asset-liquidity-title">
        <h2 id="asset-liquidity-title">Liquidity of ${selectedRow.asset.code}</h2>
        <p>Available: <strong>${formatIn(selectedRow.liquidity.available, selectedRow.asset)}</strong></p>
        <${LiquidityForm} app=${app} target=${{ asset: selectedRow.asset }} asset=${selectedRow.asset}
          label=${`the ${selectedRow.asset.code} liquidity account`} confirm=${confirm} onDone=${balances.refresh} key=${selected} />
      </section>` : null}
    ${app.has("POST", "/assets") ? html`<${AddAsset} app=${app} onDone=${balances.refresh} />` : null}
    <section aria-labelledby="rates-title">
      <h2 id="rates-title">Rates</h2>
      <${Rates} app=${app} />
    </section>`
}
