/**
 * The TigerBeetle ledger's client sessions: opened on demand, used once answered, evicted ones
 * replaced and never destroyed. See `makeSessions`; the measurements behind it are in
 * docs/performance/tigerbeetle.md, "TigerBeetle sessions, CPU and past one core".
 */
import { type Client, createClient, type CreateTransferResult, RequestError, type Transfer as TbTransfer } from "tigerbeetle-node"

/** What a session needs to connect: the ledger's options (`LedgerTigerBeetle.ts`). */
export interface SessionOptions {
  readonly clusterId: bigint
  readonly replicaAddresses: ReadonlyArray<string>
  readonly requestTimeoutMs: number
}

export const newClient = (options: SessionOptions): Client =>
  createClient({ cluster_id: options.clusterId, replica_addresses: [...options.replicaAddresses] })

/** Why a client can never answer again (TigerBeetle evicted its session): it must be replaced. */
const isEvicted = (cause: unknown): boolean =>
  cause instanceof RequestError &&
  (cause.code === "ERR_CLIENT_EVICTED" || cause.code === "ERR_CLIENT_RELEASE_TOO_LOW" ||
    cause.code === "ERR_CLIENT_RELEASE_TOO_HIGH")

/**
 * Evicted clients abandoned (never destroyed: see `makeSessions`) before the node stops replacing
 * them; each holds the client's thread and buffers for the life of the process.
 */
export const evictedClientsMax = 16

/** After a session could not be opened, no other is tried for this long. */
export const sessionRetryDelayMs = 30_000

/**
 * The node's client sessions (docs/performance/tigerbeetle.md, "TigerBeetle sessions"). A TigerBeetle client
 * is one session, and a session has one request in flight at a time. A replica accepts only so many
 * connected clients (32 by default; 8 when started with `--development`), shared by every node
 * instance, audit and CLI command on the cluster: a client past that gets no answer at all. And the
 * cluster keeps at most `clients_max` (64) sessions, evicting the least recently used one when a new
 * client registers past that; the evicted client then fails every request (`ERR_CLIENT_EVICTED`).
 * So:
 * - the first session is opened at start; more only on demand, up to `max`: when every open
 *   session has a request in flight, one more is opened in the background and used once it has
 *   answered a probe (a lookup). If it does not answer within the request timeout it is closed, a
 *   warning is logged, and no other is tried for `sessionRetryDelayMs`: the node keeps working on
 *   the sessions it has, and a quiet node holds one session of the cluster's budget;
 * - an evicted session is replaced by a new client (a new session); the request that saw the
 *   eviction fails (outcome unknown, `LedgerUnavailable`, retried by its caller with the same ids).
 *   The evicted client is abandoned, NOT destroyed: in tigerbeetle-node 0.17.9 `destroy()` of an
 *   evicted client panics and aborts the whole process (bench/experiments/tigerbeetleEviction.ts),
 *   and its further requests fail with `ERR_CLIENT_CLOSED`. At most `evictedClientsMax` are
 *   abandoned; past that an evicted session is not replaced (an error is logged: the cluster has
 *   far more clients than it keeps, which needs an operator).
 */
export interface Sessions {
  /** The client for lookups and account calls (session 0). */
  readonly primary: () => Client
  /** Sends on the least busy session. */
  readonly createTransfers: (events: Array<TbTransfer>) => Promise<ReadonlyArray<CreateTransferResult>>
  /** Sessions usable now (one request in flight each). */
  readonly count: () => number
  /** Every session is busy and calls wait: opens another if allowed (see above); `ready` once it answered. */
  readonly wanted: () => void
  /** Replaces `client` if TigerBeetle evicted it (`cause` from one of its requests). */
  readonly evicted: (client: Client, cause: unknown) => void
  readonly closeAll: () => void
  readonly stats: () => SessionStats
}

export interface SessionStats {
  /** Sessions in use now. */
  readonly open: number
  /** Sessions opened since the start (replacements included), and extra ones the cluster did not answer. */
  readonly opened: number
  readonly refused: number
  readonly evictions: number
}

export const makeSessions = (
  options: SessionOptions,
  max: number,
  first: Client,
  warn: (message: string) => void,
  ready: () => void
): Sessions => {
  const clients: Array<Client> = [first]
  const busy: Array<number> = [0]
  let opened = 1
  let refused = 0
  let evictions = 0
  /** A session being opened (probed) now, and when the next may be tried. */
  let opening: Client | undefined
  let openingEvicted = false
  let abortProbe: (() => void) | undefined
  let nextOpenAt = 0
  let closed = false

  const abandoned = new Set<Client>()
  const evicted = (client: Client, cause: unknown) => {
    const slot = clients.indexOf(client)
    if (slot < 0 || !isEvicted(cause) || abandoned.has(client)) return
    evictions++
    abandoned.add(client) // never destroyed (see above)
    if (abandoned.size > evictedClientsMax) {
      return warn(
        `TigerBeetle evicted client session ${slot} (${(cause as RequestError).code}); not replaced: ` +
          `${evictedClientsMax} sessions were evicted already (the cluster has more clients than it keeps)`
      )
    }
    warn(`TigerBeetle evicted client session ${slot} (${(cause as RequestError).code}); opening a new one`)
    try {
      clients[slot] = newClient(options)
      opened++
    } catch (error) {
      // Runs in a request's rejection handler: never throw from here. The slot keeps the dead
      // (abandoned, never destroyed) client, whose calls fail as `LedgerUnavailable`.
      warn(`cannot create a TigerBeetle client to replace session ${slot}: ${String(error)}`)
    }
  }

  const openAnother = () => {
    const now = Date.now()
    if (opening !== undefined || clients.length >= max || now < nextOpenAt) return
    let client: Client
    try {
      client = newClient(options)
    } catch (cause) {
      nextOpenAt = now + sessionRetryDelayMs
      warn(`cannot create another TigerBeetle client: ${String(cause)}`)
      return
    }
    opening = client
    opened++
    let timer: NodeJS.Timeout | undefined
    openingEvicted = false
    const probe = new Promise<boolean>((done) => {
      timer = setTimeout(() => done(false), options.requestTimeoutMs)
      abortProbe = () => done(false)
      client.lookupAccounts([1n]).then(() => done(true), (cause: unknown) => {
        if (isEvicted(cause)) openingEvicted = true
        done(false)
      })
    })
    // Never destroy an evicted client (see above): it is abandoned instead. (`destroy` is idempotent.)
    const close = () => (openingEvicted ? void abandoned.add(client) : client.destroy())
    void probe.then((answered) => {
      clearTimeout(timer)
      opening = undefined
      abortProbe = undefined
      if (closed) return close()
      if (answered) {
        clients.push(client)
        busy.push(0)
        return ready()
      }
      close()
      refused++
      nextOpenAt = Date.now() + sessionRetryDelayMs
      warn(
        `TigerBeetle did not answer a new client session within ${options.requestTimeoutMs} ms; staying at ` +
          `${clients.length} session(s) (a replica admits a limited number of connected clients; docs/performance/tigerbeetle.md)`
      )
    })
  }

  const createTransfers = (events: Array<TbTransfer>) => {
    let pick = 0
    for (let i = 1; i < busy.length; i++) if (busy[i]! < busy[pick]!) pick = i
    const client = clients[pick]!
    busy[pick]!++
    const sent = client.createTransfers(events)
    const slot = pick
    sent.then(() => {
      busy[slot]!--
    }, (cause: unknown) => {
      busy[slot]!--
      evicted(client, cause)
    })
    return sent
  }
  return {
    primary: () => clients[0]!,
    createTransfers,
    count: () => clients.length,
    wanted: openAnother,
    evicted,
    closeAll: () => {
      closed = true
      for (const client of clients) if (!abandoned.has(client)) client.destroy()
      // A session still being probed: its probe settles now and closes it (`close` above).
      abortProbe?.()
    },
    stats: () => ({ open: clients.length, opened, refused, evictions })
  }
}
