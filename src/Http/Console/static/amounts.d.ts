// Types of amounts.js for the TypeScript tests (the page loads the .js itself).
export declare const u64Max: bigint
export declare const parseUnits: (
  text: string,
  scale: number,
  assetCode?: string
) => { ok: true; value: string } | { ok: false; error: string }
export declare const formatUnits: (base: string | bigint, scale: number) => string
export declare const formatAmount: (amount: { value: string; assetCode: string; assetScale: number } | undefined) => string
export declare const formatIn: (base: string | bigint | undefined, asset: { code: string; scale: number }) => string
export declare const subtract: (after: string, before: string) => string
