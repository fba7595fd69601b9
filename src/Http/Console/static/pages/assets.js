// Assets and rates: each asset's liquidity (deposit, withdraw), adding and removing assets, and
// static exchange rates (set, remove), where the node's API has those operations.
import { useState } from "preact/hooks"
import { formatIn } from "../amounts.js"
import { assetKey, Field, FieldError, FormError, html, LoadError, Table, useConfirm, useForm, usePoll } from "../ui.js"
import { LiquidityForm } from "./liquidity.js"

const AddAsset = ({ app, onDone }) => {
  const form = useForm({ code: "", scale: "2" }, { code: "code", scale: "scale", asset: "code" })
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

const SetRate = ({ app, onDone }) => {
  const form = useForm({ base: "", quote: "", rate: "", spread: "" }, { base: "base", quote: "quote", rate: "rate", spread: "spread" })
  const submit = form.submit(async (values) => {
    const errors = {}
    for (const name of ["base", "quote"]) {
      if (!/^[A-Z0-9]{1,12}$/.test(values[name])) errors[name] = "an asset code: 1 to 12 capital letters or digits"
    }
    if (!/^[0-9]+(\.[0-9]+)?$/.test(values.rate.trim())) errors.rate = "a positive decimal, e.g. 0.9"
    if (values.spread.trim() !== "" && !/^0?(\.[0-9]+)?$/.test(values.spread.trim())) errors.spread = "a decimal from 0 up to 1, e.g. 0.005"
    if (Object.keys(errors).length > 0) throw new FieldError(errors)
    const body = { rate: values.rate.trim() }
    if (values.spread.trim() !== "") body.spread = values.spread.trim()
    await app.api.put(`/rates/${encodeURIComponent(values.base)}/${encodeURIComponent(values.quote)}`, body)
    form.setValues({ base: "", quote: "", rate: "", spread: "" })
    onDone()
  })
  return html`
    <form class="card form-grid" onSubmit=${submit} aria-label="Set a rate">
      <h3>Set a static rate</h3>
      <${Field} label="From (base asset code)" name="base" form=${form} error=${form.errors.base} autocomplete="off" placeholder="USD" />
      <${Field} label="To (quote asset code)" name="quote" form=${form} error=${form.errors.quote} autocomplete="off" placeholder="EUR" />
      <${Field} label="Rate (quote units per base unit)" name="rate" form=${form} error=${form.errors.rate}
        inputmode="decimal" autocomplete="off" placeholder="0.9" />
      <${Field} label="Spread (fraction kept, optional)" name="spread" form=${form} error=${form.errors.spread}
        inputmode="decimal" autocomplete="off" placeholder="0.005" />
      <${FormError} errors=${form.errors} />
      <div class="actions"><button type="submit" disabled=${form.busy}>Set rate</button></div>
    </form>`
}

const Rates = ({ app, confirm }) => {
  const canList = app.has("GET", "/rates")
  const rates = usePoll(() => (canList ? app.api.get("/rates") : Promise.resolve([])), 10_000, [canList])
  const [error, setError] = useState(undefined)
  if (!canList) {
    return app.operationsKnown ?
      html`<p class="notice">This node's API has no <code>GET /rates</code> yet: rates come from the configuration file.</p>` :
      null
  }
  const canDelete = app.has("DELETE", "/rates/{base}/{quote}")
  const remove = async (rate) => {
    setError(undefined)
    if (!(await confirm(`Remove the rate ${rate.base} → ${rate.quote}? Packets needing it are rejected until it is set again.`, "Remove rate"))) return
    try {
      await app.api.del(`/rates/${encodeURIComponent(rate.base)}/${encodeURIComponent(rate.quote)}`)
      rates.refresh()
    } catch (failure) {
      setError(failure.message)
    }
  }
  return html`
    <${LoadError} error=${rates.error} />
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <${Table} label="Rates" head=${["From", "To", "Rate", "Spread", "Packets convert at", ""]}
      empty=${rates.loading ? "loading…" : "no static rates"}
      rows=${(rates.data ?? []).map((rate) => html`
        <tr data-rate=${`${rate.base}-${rate.quote}`}>
          <td>${rate.base}</td><td>${rate.quote}</td><td class="num">${rate.rate}</td>
          <td class="num">${rate.spread ?? "—"}</td><td><code>${rate.effectiveRate ?? "—"}</code></td>
          <td class="row-actions">${canDelete ? html`<button type="button" class="danger" onClick=${() => remove(rate)}>Remove</button>` : null}</td>
        </tr>`)} />
    ${app.has("PUT", "/rates/{base}/{quote}") ? html`<${SetRate} app=${app} onDone=${rates.refresh} />` : null}`
}

export const Assets = ({ app }) => {
  const balances = usePoll(() => app.api.get("/balances"))
  const canList = app.has("GET", "/assets")
  const entries = usePoll(() => (canList ? app.api.get("/assets") : Promise.resolve([])), 10_000, [canList])
  const [selected, setSelected] = useState(undefined)
  const [error, setError] = useState(undefined)
  const [dialog, confirm] = useConfirm()
  const rows = balances.data?.assets ?? []
  const entryOf = (asset) => (entries.data ?? []).find((entry) => assetKey(entry.asset) === assetKey(asset))
  const canRemove = app.has("DELETE", "/assets/{code}/{scale}")
  const remove = async (asset) => {
    setError(undefined)
    if (!(await confirm(`Remove the asset ${asset.code} (scale ${asset.scale})?`, "Remove asset"))) return
    try {
      await app.api.del(`/assets/${encodeURIComponent(asset.code)}/${asset.scale}`)
      if (selected === assetKey(asset)) setSelected(undefined)
      balances.refresh()
      entries.refresh()
    } catch (failure) {
      setError(`${asset.code}: ${failure.message}`)
    }
  }
  const selectedRow = rows.find((row) => assetKey(row.asset) === selected)
  return html`
    ${dialog}
    <section aria-labelledby="assets-title">
      <h2 id="assets-title">Assets</h2>
      <${LoadError} error=${balances.error} />
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <${Table} label="Assets" head=${["Asset", "Scale", "Available liquidity", "Settlement account", "Peers", ""]}
        empty=${balances.loading ? "loading…" : "no assets"}
        rows=${rows.map((row) => {
          const entry = entryOf(row.asset)
          return html`
          <tr data-asset=${row.asset.code}>
            <th scope="row">${row.asset.code}</th>
            <td class="num">${row.asset.scale}</td>
            <td class="num" data-testid="asset-liquidity">${formatIn(row.liquidity.available, row.asset)}</td>
            <td class="num">${formatIn(row.settlement.available, row.asset)}</td>
            <td>${entry === undefined || entry.peers.length === 0 ? "—" : entry.peers.join(", ")}</td>
            <td class="row-actions"><button type="button" class="secondary"
              aria-expanded=${selected === assetKey(row.asset) ? "true" : "false"}
              onClick=${() => setSelected(selected === assetKey(row.asset) ? undefined : assetKey(row.asset))}>Liquidity</button>
              ${canRemove && entry?.added && entry.peers.length === 0 ?
                html`<button type="button" class="danger" onClick=${() => remove(row.asset)}>Remove</button>` : null}</td>
          </tr>`
        })} />
    </section>
    ${selectedRow ? html`
      <section class="card" aria-labelledby="asset-liquidity-title">
        <h2 id="asset-liquidity-title">Liquidity of ${selectedRow.asset.code}</h2>
        <p>Available: <strong>${formatIn(selectedRow.liquidity.available, selectedRow.asset)}</strong></p>
        <${LiquidityForm} app=${app} target=${{ asset: selectedRow.asset }} asset=${selectedRow.asset}
          label=${`the ${selectedRow.asset.code} liquidity account`} confirm=${confirm} onDone=${balances.refresh} key=${selected} />
      </section>` : null}
    ${app.has("POST", "/assets") ? html`<${AddAsset} app=${app} onDone=${() => { balances.refresh(); entries.refresh() }} />` : null}
    <section aria-labelledby="rates-title">
      <h2 id="rates-title">Rates</h2>
      <${Rates} app=${app} confirm=${confirm} />
    </section>`
}
