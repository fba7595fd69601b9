// Types of metrics.js for the TypeScript tests (the page loads the .js itself).
export interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
  readonly text: string
}
export declare const parseMetrics: (text: string) => Array<Sample>
export declare const packetTotals: (samples: ReadonlyArray<Sample>) => {
  byOutcome: Record<string, number>
  byPeer: Record<string, Record<string, number>>
}
export declare const packetRates: (
  before: { atMs: number; byOutcome: Record<string, number> },
  after: { atMs: number; byOutcome: Record<string, number> }
) => { atMs: number; fulfilled: number; rejected: number }
export declare const peerAmounts: (samples: ReadonlyArray<Sample>) => Record<string, { in?: string; out?: string }>
