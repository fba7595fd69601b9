/**
 * The node under test, as its own child process: `node src/main.ts --config <tmp>/config.json`
 * on the embedded profile with a fresh temporary data directory, so its memory is its own and can
 * be read from /proc.
 *
 * Set-up, in order:
 * 1. `writeConfig`: two peers — `loadgen` (sends to us, its rate limit out of the way) and `sink` (the
 *    fulfilling peer, reached at `test.sink`) — an admin token and a STREAM secret.
 * 2. `startNode`: spawn, wait for `GET /healthz`.
 * 3. `deposit`: liquidity for the `loadgen` peer through the admin API.
 * 4. `createIncomingPayment`: a wallet address and an incoming payment (no cap, so it never
 *    completes during the run) through the admin API. Its STREAM credentials are derived with
 *    receipts enabled (a receipt nonce and secret in the connection token) from the STREAM secret
 *    the bench put in the config, exactly as the node derives credentials: the admin API's
 *    credentials endpoint offers none with receipts, and the issue asks for receipts.
 */
import { execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createWriteStream, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as StreamCredentials from "../src/Stream/Credentials.ts"
import { type Child, freePorts, sleep, track } from "./common.ts"

export const asset = { code: "USD", scale: 2 } as const
export const nodeAddress = "test.bench"
export const sinkAddress = "test.sink"

export interface NodeSetup {
  readonly dataDir: string
  readonly configPath: string
  readonly file: Record<string, unknown>
  readonly connectorPort: number
  readonly adminPort: number
  readonly adminToken: string
  readonly loadgenToken: string
  readonly streamSecretHex: string
}

const token = () => randomBytes(24).toString("hex")

/**
 * `extraPeers`: that many more peers (ids `p0`…, each with its own token, address and route), for
 * the scale mode: the node's cost must not grow with its number of peers.
 */
export const writeConfig = async (dir: string, peerUrl: string, extraPeers = 0): Promise<NodeSetup> => {
  const [connectorPort, adminPort, openPaymentsPort] = (await freePorts(3)) as [number, number, number]
  const adminToken = token()
  const loadgenToken = token()
  const streamSecretHex = randomBytes(32).toString("hex")
  const dataDir = join(dir, "data")
  const file = {
    ilpAddress: nodeAddress,
    host: "127.0.0.1",
    connectorPort,
    adminPort,
    openPaymentsPort,
    adminToken,
    dataDir,
    streamSecret: streamSecretHex,
    assets: [asset],
    peers: [
      // Its packet rate limit out of the way: the default (10 000/s, burst 20 000) rejected with
      // T05 once a node forwarded faster than that for a whole round.
      { id: "loadgen", asset, incomingTokens: [loadgenToken], staticIlpAddress: "test.loadgen", rateLimit: { packetsPerSecond: 1_000_000, burst: 1_000_000 } },
      {
        id: "sink",
        asset,
        incomingTokens: [token()],
        outgoing: { url: peerUrl, token: token() },
        staticIlpAddress: sinkAddress
      },
      ...Array.from({ length: extraPeers }, (_, i) => ({
        id: `p${i}`,
        asset,
        incomingTokens: [token()],
        outgoing: { url: peerUrl, token: token() },
        staticIlpAddress: `test.p${i}`
      }))
    ]
  }
  const configPath = join(dir, "config.json")
  writeFileSync(configPath, JSON.stringify(file, null, 2), { mode: 0o600 })
  return { dataDir, configPath, file, connectorPort, adminPort, adminToken, loadgenToken, streamSecretHex }
}

export interface StreamTarget {
  readonly incomingPaymentId: string
  readonly destination: string
  readonly sharedSecretHex: string
}

/** One admin API call (POST with a JSON body, or GET without one); the JSON answer. */
export const admin = async (setup: NodeSetup, path: string, body?: unknown): Promise<Record<string, unknown>> => {
  const response = await fetch(`http://127.0.0.1:${setup.adminPort}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${setup.adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (!response.ok) throw new Error(`${path} failed: HTTP ${response.status} ${await response.text()}`)
  return await response.json() as Record<string, unknown>
}

/**
 * What the node's books say after the run: the `loadgen` peer's posted debits and pending
 * amounts, and what the incoming payment received. The bench checks them against the fulfills the
 * load generator counted.
 */
export const books = async (setup: NodeSetup, incomingPaymentId: string | undefined) => {
  const balances = await admin(setup, "/balances") as {
    peers: Array<{ peerId: string; liquidity: { debitsPosted: string; debitsPending: string } }>
  }
  const loadgen = balances.peers.find((peer) => peer.peerId === "loadgen")
  const payment = incomingPaymentId === undefined ? undefined : await admin(setup, `/incoming-payments/${incomingPaymentId}`)
  return {
    debitsPosted: BigInt(loadgen?.liquidity.debitsPosted ?? "0"),
    debitsPending: BigInt(loadgen?.liquidity.debitsPending ?? "0"),
    received: BigInt((payment?.["receivedAmount"] as { value?: string } | undefined)?.value ?? "0")
  }
}

/**
 * `count` wallet addresses on the running node (the scale mode), created through the admin API with
 * `concurrency` requests in flight.
 */
export const createWalletAddresses = async (setup: NodeSetup, count: number, concurrency = 32): Promise<void> => {
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      await admin(setup, "/wallet-addresses", { url: `https://bench.example/scale/w${i}`, asset })
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

/**
 * A wallet address and an incoming payment on the running node, and receipt-enabled credentials
 * for it: uncapped, or with `incomingAmount` (mode local-capped: a cap never reached in a sitting).
 */
export const createIncomingPayment = async (
  setup: NodeSetup,
  capped?: { readonly incomingAmount: bigint; readonly walletUrl: string }
): Promise<StreamTarget> => {
  const wallet = await admin(setup, "/wallet-addresses", { url: capped?.walletUrl ?? "https://bench.example/alice", asset })
  const payment = await admin(setup, "/incoming-payments", {
    walletAddressId: wallet["id"],
    ...(capped === undefined ? {} : { incomingAmount: capped.incomingAmount.toString() })
  })
  const credentials = StreamCredentials.make(Buffer.from(setup.streamSecretHex, "hex"), nodeAddress).generate(
    { kind: "incoming", id: String(payment["id"]) },
    asset,
    { nonce: randomBytes(16), secret: randomBytes(32) }
  )
  return {
    incomingPaymentId: String(payment["id"]),
    destination: credentials.ilpAddress,
    sharedSecretHex: Buffer.from(credentials.sharedSecret).toString("hex")
  }
}

const readyTimeoutMs = 30_000

export const startNode = async (
  setup: NodeSetup,
  options: {
    readonly cpuProfileDir?: string | undefined
    /** Another entry point (experiments); `src/main.ts` by default. */
    readonly script?: string | undefined
    readonly env?: Record<string, string> | undefined
    readonly nodeFlags?: ReadonlyArray<string> | undefined
  } = {}
): Promise<Child> => {
  const nodeArgs = [
    ...(options.nodeFlags ?? []),
    ...(options.cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir])
  ]
  const script = options.script ?? "src/main.ts"
  const child = track(spawn(process.execPath, [...nodeArgs, script, "--config", setup.configPath], {
    cwd: new URL("..", import.meta.url).pathname,
    env: { ...process.env, ...options.env, DATA_DIR: setup.dataDir },
    stdio: ["ignore", "pipe", "pipe"]
  }))
  // BENCH_NODE_LOG_DIR: every node's whole stdout and stderr also go to `<dir>/node-<pid>.log`
  // (e.g. with `--node-flags "... --trace-gc-nvp"`, V8's line per garbage collection).
  const logDir = process.env["BENCH_NODE_LOG_DIR"]
  if (logDir !== undefined) {
    const file = createWriteStream(join(logDir, `node-${child.pid}.log`))
    child.process.stdout?.pipe(file)
    child.process.stderr?.pipe(file)
  }
  const deadline = Date.now() + readyTimeoutMs
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`the node exited with ${child.process.exitCode}:\n${child.output()}`)
    const ok = await fetch(`http://127.0.0.1:${setup.adminPort}/healthz`).then((r) => r.ok, () => false)
    if (ok) return child
    await sleep(100)
  }
  await child.stop()
  throw new Error(`the node did not answer /healthz within ${readyTimeoutMs} ms:\n${child.output()}`)
}

export const deposit = async (setup: NodeSetup, peerId: string, amount: bigint): Promise<void> => {
  await admin(setup, "/liquidity/deposit", { peerId, amount: amount.toString() })
}

/**
 * With Node's compile cache in the start script's environment, one process that imports every
 * module of the checkout's `src/` (but `main.ts`, which would run) fills it first, so the node under
 * test starts as every start after an operator's first does: without the TypeScript stripper, also
 * for the modules a profile imports lazily (TigerBeetle, Redis, PostgreSQL).
 */
export const warmCompileCache = (script: string, flags: ReadonlyArray<string>, env: Record<string, string>): void => {
  if (env["NODE_COMPILE_CACHE"] === undefined) return
  const src = join(script, "..")
  const files = (readdirSync(src, { recursive: true }) as Array<string>)
    .filter((file) => file.endsWith(".ts") && file !== "main.ts")
    .map((file) => pathToFileURL(join(src, file)).href)
  const code = `for (const file of ${JSON.stringify(files)}) await import(file)`
  execFileSync(process.execPath, [...flags, "--input-type=module", "-e", code], {
    env: { ...process.env, ...env },
    stdio: "ignore",
    timeout: 60_000
  })
}
