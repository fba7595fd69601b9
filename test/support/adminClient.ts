/** JSON calls to a node's operator API with its admin token, as the operator tests make them. */

export interface Answer {
  readonly status: number
  readonly body: any
}

/**
 * `call` answers the status and the parsed body (undefined when empty); `ok` answers the body and
 * throws unless the status is 200. `base` is read at each call (tests learn the port in `beforeAll`).
 */
export const adminClient = (base: () => string, adminToken: string) => {
  const call = async (method: "GET" | "POST", path: string, body?: unknown): Promise<Answer> => {
    const response = await fetch(`${base()}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
  }

  const ok = async (method: "GET" | "POST", path: string, body?: unknown) => {
    const answer = await call(method, path, body)
    if (answer.status !== 200) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`)
    return answer.body
  }

  return { call, ok }
}

/** GET without a body, POST with one; answers the JSON body, throws on a status of 300 or more. */
export const adminJson = (base: string, adminToken: string) => async <A>(path: string, body?: unknown): Promise<A> => {
  const response = await fetch(`${base}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (response.status >= 300) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`)
  return response.json() as Promise<A>
}
