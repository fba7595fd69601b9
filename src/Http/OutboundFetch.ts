/**
 * What every request this node makes to another server with `fetch` shares: the URLs it may call
 * (http(s), no credentials in the URL) and a body read with a byte bound. Used by SPSP
 * (`Payments/Receivers.ts`) and the Open Payments client (`OpenPayments/Fetch.ts`).
 */

/** Whether `text` is an http(s) URL without user or password. Pure. */
export const isHttpUrl = (text: string): boolean => {
  try {
    const url = new URL(text)
    return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === ""
  } catch {
    return false
  }
}

/**
 * Reads at most `bytesMax` of the body as UTF-8; undefined when it is (or declares itself) longer,
 * "" when there is no body.
 */
export const readBounded = async (response: Response, bytesMax: number): Promise<string | undefined> => {
  const declared = Number(response.headers.get("content-length") ?? "0")
  if (declared > bytesMax || response.body === null) {
    await response.body?.cancel()
    return declared > bytesMax ? undefined : ""
  }
  const chunks: Array<Uint8Array> = []
  let length = 0
  for await (const chunk of response.body) {
    length += chunk.length
    if (length > bytesMax) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString("utf8")
}
