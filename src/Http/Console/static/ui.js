// Shared pieces of the console's pages: the html tag, polling, form state, fields, confirmation.
import { h } from "preact"
import { useCallback, useEffect, useRef, useState } from "preact/hooks"
import htm from "htm"
import { fieldErrors } from "./forms.js"

export const html = htm.bind(h)

/** How often pages refresh their numbers; one request at a time, paused while the tab is hidden. */
export const refreshMs = 3_000

/**
 * Loads `load()` now and every `intervalMs` after the previous load finished (never two at once);
 * skips ticks while the tab is hidden; stops when the component goes away.
 */
export const usePoll = (load, intervalMs = refreshMs, deps = []) => {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true })
  const wake = useRef(() => {})
  useEffect(() => {
    let stopped = false
    let timer
    const tick = async () => {
      clearTimeout(timer)
      if (stopped) return
      if (!document.hidden) {
        try {
          const data = await load()
          if (!stopped) setState({ data, error: undefined, loading: false })
        } catch (error) {
          if (!stopped) setState((previous) => ({ ...previous, error, loading: false }))
        }
      }
      if (!stopped) timer = setTimeout(tick, intervalMs)
    }
    wake.current = tick
    tick()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, deps)
  const refresh = useCallback(() => wake.current(), [])
  return { ...state, refresh }
}

/**
 * Form state: values, per-field errors (from local checks or from the API's message), busy flag.
 * `submit(run)` clears errors, runs `run(values)`, and maps an API error onto the fields named in
 * `apiFields` (API path → field).
 */
export const useForm = (initial, apiFields = {}) => {
  const [values, setValues] = useState(initial)
  const [errors, setErrors] = useState({})
  const [busy, setBusy] = useState(false)
  const set = (name) => (event) => {
    const value = event.currentTarget.type === "checkbox" ? event.currentTarget.checked : event.currentTarget.value
    setValues((previous) => ({ ...previous, [name]: value }))
    setErrors((previous) => ({ ...previous, [name]: undefined }))
  }
  const submit = (run) => async (event) => {
    event?.preventDefault()
    if (busy) return
    setErrors({})
    setBusy(true)
    try {
      await run(values)
    } catch (error) {
      if (error instanceof FieldError) setErrors(error.errors)
      else setErrors(fieldErrors(error?.message ?? String(error), apiFields))
    } finally {
      setBusy(false)
    }
  }
  return { values, setValues, errors, setErrors, busy, set, submit }
}

/** Thrown by a form's own checks before calling the API: messages by field. */
export class FieldError extends Error {
  constructor(errors) {
    super(Object.values(errors).join("; "))
    this.errors = errors
  }
}

let fieldCount = 0
const useId = (prefix) => {
  const ref = useRef(undefined)
  if (ref.current === undefined) ref.current = `${prefix}-${++fieldCount}`
  return ref.current
}

/** A labelled input with its error under it (linked by aria-describedby). */
export const Field = ({ label, error, hint, type = "text", name, form, ...rest }) => {
  const id = useId(name ?? "field")
  const described = error ? `${id}-error` : hint ? `${id}-hint` : undefined
  return html`
    <div class="field">
      <label for=${id}>${label}</label>
      <input id=${id} name=${name} type=${type} value=${form?.values[name] ?? ""} onInput=${form?.set(name)}
        aria-invalid=${error ? "true" : undefined} aria-describedby=${described} ...${rest} />
      ${hint && !error ? html`<small id=${`${id}-hint`} class="hint">${hint}</small>` : null}
      ${error ? html`<small id=${`${id}-error`} class="error" role="alert">${error}</small>` : null}
    </div>`
}

/** A labelled select; `options` are `[value, label]` pairs. */
export const Select = ({ label, error, name, form, options, ...rest }) => {
  const id = useId(name ?? "select")
  return html`
    <div class="field">
      <label for=${id}>${label}</label>
      <select id=${id} name=${name} value=${form?.values[name] ?? ""} onChange=${form?.set(name)}
        aria-invalid=${error ? "true" : undefined} aria-describedby=${error ? `${id}-error` : undefined} ...${rest}>
        ${options.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
      </select>
      ${error ? html`<small id=${`${id}-error`} class="error" role="alert">${error}</small>` : null}
    </div>`
}

/** The form-level error (one that names no field). */
export const FormError = ({ errors }) =>
  errors?._form ? html`<p class="error form-error" role="alert">${errors._form}</p>` : null

/** A load error or a missing endpoint, in a line. */
export const LoadError = ({ error }) =>
  error === undefined ? null : html`<p class=${error.tag === "NoSuchEndpoint" ? "notice" : "error"} role="status">${
    error.message
  }</p>`

/**
 * A modal confirmation for destructive actions: `confirm(text, action)` resolves true when the
 * operator confirms. Keyboard: focus starts on Cancel, Escape cancels.
 */
export const useConfirm = () => {
  const dialog = useRef(null)
  const [request, setRequest] = useState(undefined)
  useEffect(() => {
    if (request !== undefined && dialog.current && !dialog.current.open) dialog.current.showModal()
  }, [request])
  const confirm = (text, action) => new Promise((resolve) => setRequest({ text, action, resolve }))
  const close = (answer) => {
    dialog.current?.close()
    request?.resolve(answer)
    setRequest(undefined)
  }
  const element = html`
    <dialog ref=${dialog} class="confirm" aria-labelledby="confirm-text" onCancel=${(event) => {
      event.preventDefault()
      close(false)
    }}>
      <p id="confirm-text">${request?.text}</p>
      <div class="actions">
        <button type="button" class="secondary" autofocus onClick=${() => close(false)}>Cancel</button>
        <button type="button" class="danger" onClick=${() => close(true)}>${request?.action ?? "Confirm"}</button>
      </div>
    </dialog>`
  return [element, confirm]
}

/** A state as a coloured word. */
export const Badge = ({ state }) => html`<span class=${`badge badge-${state}`}>${state}</span>`

/**
 * A table. On a phone-width window each row becomes a block of "header: value" lines (the cells get
 * their column's header as `data-label`, which the stylesheet shows), unless `keep` (small tables);
 * wider, it scrolls sideways inside its own box rather than the page.
 */
export const Table = ({ head, rows, empty = "nothing yet", label, keep = false }) => {
  const wrap = useRef(null)
  useEffect(() => {
    for (const row of wrap.current?.querySelectorAll("tbody tr") ?? []) {
      Array.from(row.children).forEach((cell, i) => {
        if (head[i] !== undefined && head[i] !== "" && !cell.classList.contains("empty")) cell.setAttribute("data-label", head[i])
        else cell.removeAttribute("data-label")
      })
    }
  })
  return html`
  <div class=${keep ? "table-wrap keep" : "table-wrap"} role="region" aria-label=${label} tabindex="0" ref=${wrap}>
    <table>
      <thead><tr>${head.map((cell) => html`<th scope="col">${cell}</th>`)}</tr></thead>
      <tbody>${
        rows.length === 0 ? html`<tr><td colspan=${head.length} class="empty">${empty}</td></tr>` : rows
      }</tbody>
    </table>
  </div>`
}

/** An asset as "USD (scale 2)"; `assets` are `{ code, scale }`. */
export const assetKey = (asset) => `${asset.code}:${asset.scale}`
export const assetOptions = (assets) => assets.map((asset) => [assetKey(asset), `${asset.code} (scale ${asset.scale})`])
export const parseAssetKey = (key) => {
  const [code, scale] = String(key).split(":")
  return { code, scale: Number(scale) }
}
