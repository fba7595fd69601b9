/**
 * A minimal ILP plugin (the interface `ilp-protocol-stream` and `@interledger/pay` drive) that sends
 * each packet to a node's ILP-over-HTTP endpoint as a peer would: the independent client side of the
 * receiving tests.
 */
export interface HttpPlugin {
  connect(): Promise<void>
  disconnect(): Promise<void>
  isConnected(): boolean
  sendData(data: Buffer): Promise<Buffer>
  registerDataHandler(handler: (data: Buffer) => Promise<Buffer>): void
  deregisterDataHandler(): void
  /** Every reply's first byte (13 fulfill, 14 reject), for assertions. */
  readonly replies: Array<number>
}

export const makeHttpPlugin = (url: string, token: string): HttpPlugin => {
  let connected = false
  const replies: Array<number> = []
  return {
    replies,
    connect: async () => {
      connected = true
    },
    disconnect: async () => {
      connected = false
    },
    isConnected: () => connected,
    sendData: async (data) => {
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        body: data
      })
      if (response.status !== 200) throw new Error(`node answered HTTP ${response.status}`)
      const reply = Buffer.from(await response.arrayBuffer())
      replies.push(reply[0]!)
      return reply
    },
    registerDataHandler: () => {},
    deregisterDataHandler: () => {}
  }
}
