// The console's shell: sign-in, navigation between pages (hash routes, so nothing secret is ever in
// a URL the server sees), and what every page shares (the API client, its operations, the node).
import { render } from "preact"
import { useEffect, useState } from "preact/hooks"
import { createApi, forgetToken, storedToken, storeToken } from "./api.js"
import { Field, FormError, html, useForm } from "./ui.js"
import { Overview } from "./pages/overview.js"
import { Peers } from "./pages/peers.js"
import { Assets } from "./pages/assets.js"
import { Wallets } from "./pages/wallets.js"
import { Payments } from "./pages/payments.js"
import { Events } from "./pages/events.js"

const pages = [
  { path: "overview", title: "Overview", component: Overview },
  { path: "peers", title: "Peers", component: Peers },
  { path: "assets", title: "Assets & rates", component: Assets },
  { path: "wallets", title: "Wallet addresses", component: Wallets },
  { path: "payments", title: "Payments", component: Payments },
  { path: "events", title: "Events", component: Events }
]

const currentRoute = () => {
  const [path, ...rest] = location.hash.replace(/^#\/?/, "").split("/")
  const page = pages.find((candidate) => candidate.path === path) ?? pages[0]
  return { page, args: rest.map(decodeURIComponent) }
}

const SignIn = ({ onSignedIn, notice }) => {
  const form = useForm({ token: "" }, { token: "token" })
  const submit = form.submit(async ({ token }) => {
    if (token === "") throw new Error("token: enter the node's admin token")
    // Any guarded endpoint tells whether the token is right.
    await createApi(token, () => {}).get("/balances").catch((error) => {
      throw error.status === 401 ? new Error("token: the node refused this token") : error
    })
    onSignedIn(token)
  })
  return html`
    <main class="signin">
      <h1>Node console</h1>
      ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
      <form method="post" onSubmit=${submit} aria-label="Sign in">
        <${Field} label="Admin token" name="token" type="password" form=${form} error=${form.errors.token}
          autocomplete="current-password" required autofocus />
        <${FormError} errors=${form.errors} />
        <button type="submit" disabled=${form.busy}>Sign in</button>
      </form>
    </main>`
}

const Shell = ({ token, onSignOut }) => {
  const [route, setRoute] = useState(currentRoute())
  const [operations, setOperations] = useState(new Set())
  const [node, setNode] = useState(undefined)
  const api = createApi(token, () => onSignOut("The node refused the token; sign in again."))
  useEffect(() => {
    const onHash = () => setRoute(currentRoute())
    addEventListener("hashchange", onHash)
    api.operations().then(setOperations, () => {})
    api.get("/console/node.json").then(setNode, () => {})
    return () => removeEventListener("hashchange", onHash)
  }, [token])
  useEffect(() => {
    document.title = `${route.page.title} · ${node?.ilpAddress ?? "node"} console`
  }, [route, node])
  const app = {
    api,
    node,
    /** Whether the node's API has an operation, e.g. `has("POST", "/peers")`; paths as in /openapi.json. */
    has: (method, path) => operations.has(`${method} ${path}`),
    operationsKnown: operations.size > 0
  }
  const Page = route.page.component
  return html`
    <header class="top">
      <a class="brand" href="#/overview">${node?.ilpAddress ?? "node"}</a>
      <nav aria-label="Pages">
        <ul>
          ${pages.map((page) => html`
            <li><a href=${`#/${page.path}`} aria-current=${page === route.page ? "page" : undefined}>${page.title}</a></li>`)}
        </ul>
      </nav>
      <button type="button" class="secondary signout" onClick=${() => onSignOut()}>Sign out</button>
    </header>
    <main id="main">
      <h1>${route.page.title}</h1>
      <${Page} app=${app} args=${route.args} key=${route.page.path} />
    </main>`
}

const App = () => {
  const [token, setToken] = useState(storedToken())
  const [notice, setNotice] = useState(undefined)
  if (token === null) {
    return html`<${SignIn} notice=${notice} onSignedIn=${(value) => {
      storeToken(value)
      setNotice(undefined)
      setToken(value)
    }} />`
  }
  return html`<${Shell} token=${token} onSignOut=${(message) => {
    forgetToken()
    setNotice(message)
    setToken(null)
  }} />`
}

render(html`<${App} />`, document.getElementById("app"))
