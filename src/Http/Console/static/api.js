// The operator API as the page calls it: same origin, bearer token from the sign-in form, JSON in
// and out, every call bounded by a timeout. The token lives in sessionStorage (this tab only).

const tokenKey = "console.adminToken"
/** Longest any API call may take before the page reports it failed. */
const requestTimeoutMs = 20_000

export const storedToken = () => sessionStorage.getItem(tokenKey)
export const storeToken = (token) => sessionStorage.setItem(tokenKey, token)
export const forgetToken = () => sessionStorage.removeItem(tokenKey)

/** An API answer other than 2xx: `tag` is the API's `_tag`, or `NoSuchEndpoint` for a route the node lacks. */
export class ApiError extends Error {
  constructor(status, tag, message, data) {
    super(message)
    this.status = status
    this.tag = tag
    this.data = data
  }
}

/**
 * @param {string} token
 * @param {() => void} onUnauthorized called when the API refuses the token (401)
 */
export const createApi = (token, onUnauthorized) => {
  const request = async (method, path, body) => {
    const headers = { authorization: `Bearer ${token}`, accept: "application/json" }
    if (body !== undefined) headers["content-type"] = "application/json"
    let response
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(requestTimeoutMs),
        cache: "no-store"
      })
    } catch (error) {
      throw new ApiError(0, "NetworkError", `the node did not answer (${error?.name === "TimeoutError" ? "timed out" : "unreachable"})`)
    }
    const type = response.headers.get("content-type") ?? ""
    const data = type.includes("json") ? await response.json().catch(() => undefined) : await response.text()
    if (response.ok) return data
    if (response.status === 401) onUnauthorized()
    const tag = data?._tag ?? (response.status === 404 || response.status === 405 ? "NoSuchEndpoint" : "HttpError")
    const message = typeof data?.message === "string" ?
      data.message :
      tag === "NoSuchEndpoint" ? `this node's API has no ${method} ${path.split("?")[0]}` : `HTTP ${response.status}`
    throw new ApiError(response.status, tag, message, data)
  }
  return {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body ?? {}),
    put: (path, body) => request("PUT", path, body ?? {}),
    patch: (path, body) => request("PATCH", path, body ?? {}),
    del: (path) => request("DELETE", path),
    /** The API's operations from its OpenAPI document, as a set of "METHOD /path/{param}". */
    operations: async () => {
      const document = await request("GET", "/openapi.json")
      const operations = new Set()
      for (const [path, item] of Object.entries(document?.paths ?? {})) {
        for (const method of Object.keys(item)) operations.add(`${method.toUpperCase()} ${path}`)
      }
      return operations
    }
  }
}
