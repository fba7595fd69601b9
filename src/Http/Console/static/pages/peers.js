// Peers: who this node exchanges packets with, their liquidity and traffic; add, edit, remove
// (where the node's API has those operations), deposit and withdraw.
import { useEffect, useState } from "preact/hooks"
import { formatIn, formatUnits, parseUnits } from "../amounts.js"
import { packetTotals, parseMetrics, peerAmounts } from "../metrics.js"
import {
  assetKey,
  assetOptions,
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
import { LiquidityForm } from "./liquidity.js"

const load = async (api) => {
  const [peers, balances, metrics] = await Promise.all([
    api.get("/peers"),
    api.get("/balances"),
    api.get("/metrics").then((text) => {
      const samples = parseMetrics(text)
      return { packets: packetTotals(samples).byPeer, amounts: peerAmounts(samples) }
    }, () => ({ packets: {}, amounts: {} }))
  ])
  const liquidity = new Map(balances.peers.map((row) => [row.peerId, row.liquidity]))
  return { peers, liquidity, metrics, assets: balances.assets.map((row) => row.asset) }
}

/** Packets received from the peer by outcome, and fulfilled amounts in from and out to it. */
const Traffic = ({ counts, amounts, asset }) => {
  if (counts === undefined && amounts === undefined) return html`<span class="muted">—</span>`
  const rejects = Object.entries(counts ?? {}).filter(([outcome]) => outcome !== "fulfill").sort(([a], [b]) => a.localeCompare(b))
  return html`<small>
    ${counts === undefined ? null : html`from peer: ${counts.fulfill ?? 0} fulfilled${
      rejects.length === 0 ? "" : `, rejected ${rejects.map(([code, count]) => `${code} ${count}`).join(", ")}`
    }`}
    ${counts !== undefined && amounts !== undefined ? html`<br />` : null}
    ${amounts === undefined ? null : html`in ${formatIn(amounts.in ?? "0", asset)} · out ${formatIn(amounts.out ?? "0", asset)}`}
  </small>`
}

/** Max packet amount, packet rate and throughput, as far as the peer has them. */
const Limits = ({ peer }) => {
  const lines = []
  if (peer.maxPacketAmount !== undefined) lines.push(`max packet ${formatIn(peer.maxPacketAmount, peer.asset)}`)
  if (peer.rateLimit !== undefined) lines.push(`${peer.rateLimit.packetsPerSecond} packets/s, burst ${peer.rateLimit.burst}`)
  if (peer.throughputLimit !== undefined) {
    lines.push(`${formatIn(peer.throughputLimit.amount, peer.asset)} per ${peer.throughputLimit.periodMs / 1000} s`)
  }
  return lines.length === 0 ? html`<span class="muted">—</span>` : html`<small>${lines.map((line, i) => html`${i > 0 ? html`<br />` : null}${line}`)}</small>`
}

const peerFields = {
  id: "id",
  asset: "asset",
  staticIlpAddress: "staticIlpAddress",
  routes: "routes",
  incomingTokens: "incomingToken",
  outgoing: "outgoingUrl",
  "outgoing.url": "outgoingUrl",
  "outgoing.token": "outgoingToken",
  maxPacketAmount: "maxPacketAmount",
  creditLimit: "creditLimit"
}

/**
 * The API body for a peer from the form; amounts converted from asset units, exactly. Adding sends
 * the peer as in the configuration file; editing sends only what changes (PATCH), `null` to clear
 * the outgoing link or the max packet amount.
 */
const peerBody = (values, asset, peer) => {
  const editing = peer !== undefined
  const errors = {}
  const body = {}
  if (!editing) {
    if (values.id.trim() === "") errors.id = "enter an id"
    body.id = values.id.trim()
    body.asset = asset
  }
  if (values.staticIlpAddress.trim() !== "") body.staticIlpAddress = values.staticIlpAddress.trim()
  else if (!editing) errors.staticIlpAddress = "enter the peer's ILP address"
  const routes = values.routes.split(/[\s,]+/).filter((route) => route !== "")
  if (routes.length > 0 || editing) body.routes = routes
  if (values.incomingToken !== "") body.incomingTokens = [values.incomingToken]
  else if (!editing) errors.incomingToken = "enter the token this peer will send"
  const url = values.outgoingUrl.trim()
  if (url !== "" || values.outgoingToken !== "") {
    if (url === "") errors.outgoingUrl = "enter the URL the token is for"
    else if (values.outgoingToken === "" && (!editing || url !== peer.outgoing?.url)) {
      errors.outgoingToken = "enter the token to send to this URL"
    } else if (values.outgoingToken !== "") body.outgoing = { url, token: values.outgoingToken }
  } else if (editing && peer.outgoing !== undefined) {
    body.outgoing = null
  }
  for (const name of ["maxPacketAmount", "creditLimit"]) {
    if (values[name].trim() === "") {
      if (editing && name === "maxPacketAmount" && peer.maxPacketAmount !== undefined) body.maxPacketAmount = null
      continue
    }
    const parsed = parseUnits(values[name], asset.scale, asset.code)
    if (parsed.ok) body[name] = parsed.value
    else errors[name] = parsed.error
  }
  if (Object.keys(errors).length > 0) throw new FieldError(errors)
  return body
}

const emptyPeer = (assets) => ({
  id: "",
  asset: assets[0] === undefined ? "" : assetKey(assets[0]),
  staticIlpAddress: "",
  routes: "",
  incomingToken: "",
  outgoingUrl: "",
  outgoingToken: "",
  maxPacketAmount: "",
  creditLimit: ""
})

const PeerForm = ({ app, assets, peer, onDone, onCancel }) => {
  const editing = peer !== undefined
  const initial = editing ?
    {
      ...emptyPeer(assets),
      id: peer.id,
      asset: assetKey(peer.asset),
      staticIlpAddress: peer.staticIlpAddress,
      routes: peer.routes.join(", "),
      outgoingUrl: peer.outgoing?.url ?? "",
      maxPacketAmount: peer.maxPacketAmount === undefined ? "" : formatUnits(peer.maxPacketAmount, peer.asset.scale),
      creditLimit: peer.creditLimit === undefined ? "" : formatUnits(peer.creditLimit, peer.asset.scale)
    } :
    emptyPeer(assets)
  const form = useForm(initial, peerFields)
  // The assets arrive after the form is on screen: pick the first one then, keeping what was typed.
  useEffect(() => {
    if (assets[0] !== undefined) form.setValues((v) => (v.asset === "" ? { ...v, asset: assetKey(assets[0]) } : v))
  }, [assets.length])
  const method = !editing ? "POST" : app.has("PATCH", "/peers/{id}") ? "PATCH" : "PUT"
  const submit = form.submit(async (values) => {
    const asset = editing ? peer.asset : parseAssetKey(values.asset)
    const body = peerBody(values, asset, peer)
    if (editing) await app.api[method === "PATCH" ? "patch" : "put"](`/peers/${encodeURIComponent(peer.id)}`, body)
    else {
      await app.api.post("/peers", body)
      form.setValues(emptyPeer(assets))
    }
    onDone()
  })
  const f = (name, label, extra = {}) =>
    html`<${Field} label=${label} name=${name} form=${form} error=${form.errors[name]} ...${extra} />`
  return html`
    <form class="card form-grid" onSubmit=${submit} aria-label=${editing ? `Edit peer ${peer.id}` : "Add a peer"}>
      <h2>${editing ? `Edit peer ${peer.id}` : "Add a peer"}</h2>
      ${editing ? null : f("id", "Peer id", { autocomplete: "off", required: true })}
      ${editing ? null : html`<${Select} label="Asset" name="asset" form=${form} error=${form.errors.asset} options=${assetOptions(assets)} />`}
      ${f("staticIlpAddress", "Peer's ILP address", { autocomplete: "off", placeholder: "g.example.peer" })}
      ${f("routes", "Routes (prefixes, comma separated)", { autocomplete: "off" })}
      ${f("incomingToken", editing ? "New incoming token (blank keeps it)" : "Incoming token (the peer sends it)", { type: "password", autocomplete: "new-password" })}
      ${f("outgoingUrl", editing ? "Outgoing URL (blank: no outgoing link)" : "Outgoing URL (the peer's ILP-over-HTTP endpoint)", { type: "url", autocomplete: "off" })}
      ${f("outgoingToken", editing ? "New outgoing token (blank keeps it; needed for a new URL)" : "Outgoing token (we send it)", { type: "password", autocomplete: "new-password" })}
      ${f("maxPacketAmount", editing ? "Max packet amount (asset units; blank: none)" : "Max packet amount (asset units)", { inputmode: "decimal", autocomplete: "off" })}
      ${f("creditLimit", "Credit limit (asset units)", { inputmode: "decimal", autocomplete: "off" })}
      <${FormError} errors=${form.errors} />
      <div class="actions">
        <button type="submit" disabled=${form.busy}>${editing ? "Save" : "Add peer"}</button>
        ${onCancel ? html`<button type="button" class="secondary" onClick=${onCancel}>Cancel</button>` : null}
      </div>
    </form>`
}

export const Peers = ({ app }) => {
  const data = usePoll(() => load(app.api))
  const [selected, setSelected] = useState(undefined)
  const [editing, setEditing] = useState(undefined)
  const [removeError, setRemoveError] = useState(undefined)
  const [dialog, confirm] = useConfirm()
  const canAdd = app.has("POST", "/peers")
  const canEdit = app.has("PUT", "/peers/{id}") || app.has("PATCH", "/peers/{id}")
  const canRemove = app.has("DELETE", "/peers/{id}")
  const peers = data.data?.peers ?? []
  const assets = data.data?.assets ?? []
  const remove = async (peer) => {
    setRemoveError(undefined)
    if (!(await confirm(`Remove peer ${peer.id}? Its tokens stop working at once.`, "Remove peer"))) return
    try {
      await app.api.del(`/peers/${encodeURIComponent(peer.id)}`)
      if (selected === peer.id) setSelected(undefined)
      data.refresh()
    } catch (error) {
      setRemoveError(`${peer.id}: ${error.message}`)
    }
  }
  const selectedPeer = peers.find((peer) => peer.id === selected)
  const rows = peers.map((peer) => {
    const liquidity = data.data.liquidity.get(peer.id)
    return html`
      <tr data-peer=${peer.id}>
        <th scope="row">${peer.id}</th>
        <td>${peer.asset.code}</td>
        <td><code>${peer.staticIlpAddress}</code>${peer.routes.length > 0 ? html`<br /><small>routes: ${peer.routes.join(", ")}</small>` : null}</td>
        <td class="num" data-testid="peer-liquidity">${formatIn(liquidity?.available, peer.asset)}</td>
        <td class="num">${peer.creditLimit === undefined ? "—" : formatIn(peer.creditLimit, peer.asset)}</td>
        <td><${Limits} peer=${peer} /></td>
        <td data-testid="peer-packets"><${Traffic} counts=${data.data.metrics.packets[peer.id]} amounts=${data.data.metrics.amounts[peer.id]} asset=${peer.asset} /></td>
        <td class="row-actions">
          <button type="button" class="secondary" onClick=${() => setSelected(selected === peer.id ? undefined : peer.id)}
            aria-expanded=${selected === peer.id ? "true" : "false"}>Liquidity</button>
          ${canEdit ? html`<button type="button" class="secondary" onClick=${() => setEditing(peer)}>Edit</button>` : null}
          ${canRemove ? html`<button type="button" class="danger" onClick=${() => remove(peer)}>Remove</button>` : null}
        </td>
      </tr>`
  })
  return html`
    ${dialog}
    <${LoadError} error=${data.error} />
    ${removeError ? html`<p class="error" role="alert">${removeError}</p>` : null}
    <${Table} label="Peers" head=${["Peer", "Asset", "Address", "Liquidity", "Credit limit", "Limits", "Packets", ""]}
      rows=${rows} empty=${data.loading ? "loading…" : "no peers"} />
    ${selectedPeer ? html`
      <section class="card" aria-labelledby="liquidity-title">
        <h2 id="liquidity-title">Liquidity of peer ${selectedPeer.id}</h2>
        <p>Available: <strong>${formatIn(data.data.liquidity.get(selectedPeer.id)?.available, selectedPeer.asset)}</strong></p>
        <${LiquidityForm} app=${app} target=${{ peerId: selectedPeer.id }} asset=${selectedPeer.asset}
          label=${`peer ${selectedPeer.id}`} confirm=${confirm} onDone=${data.refresh} key=${selectedPeer.id} />
      </section>` : null}
    ${editing ? html`<${PeerForm} app=${app} assets=${assets} peer=${editing} key=${`edit-${editing.id}`}
      onDone=${() => { setEditing(undefined); data.refresh() }} onCancel=${() => setEditing(undefined)} />` : null}
    ${canAdd ?
      html`<${PeerForm} app=${app} assets=${assets} onDone=${data.refresh} />` :
      app.operationsKnown ?
        html`<p class="notice">This node's API has no <code>POST /peers</code> yet: peers come from the configuration file. Adding, editing and removing peers appear here once it does.</p>` :
        null}`
}
