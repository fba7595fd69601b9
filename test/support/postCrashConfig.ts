/** The node configuration test/support/postCrashChild.ts and its test share (same data directory and STREAM secret). */
import { Effect } from "effect"
import * as Config from "../../src/Config.ts"

export const postCrashAsset = { code: "USD", scale: 2 } as const

export const postCrashConfig = (dataDir: string, streamSecretHex: string) =>
  Effect.runPromise(Config.decodeConfig({
    ilpAddress: "test.postcrash",
    dataDir,
    streamSecret: streamSecretHex,
    peers: [{
      id: "sender",
      asset: postCrashAsset,
      incomingTokens: ["post-crash-sender-token-0001"],
      staticIlpAddress: "test.sender"
    }]
  }, {}))
