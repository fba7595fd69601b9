// Types of forms.js for the TypeScript tests (the page loads the .js itself).
export declare const fieldErrors: (message: string, fields: Record<string, string>) => Record<string, string>
export declare const newTransferId: (random: (bytes: Uint8Array) => Uint8Array) => string
