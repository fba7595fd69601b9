/** Every bound of the Open Payments code, in one place (units last). */

/** Request bodies the Open Payments port reads (grant requests, incoming payment creation). */
export const requestBodyBytesMax = 16 * 1024
/** Outgoing requests to other servers (client JWKS, wallet address documents, grants, incoming payments). */
export const fetchTimeoutMs = 5_000
/** Answers read from other servers. */
export const fetchBodyBytesMax = 64 * 1024
/**
 * Client JWKS fetches in flight at once (grant requests make them before any signature can be
 * checked); a grant request beyond it is answered 503 at once rather than queued.
 */
export const jwksFetchesInFlightMax = 32
/** Keys read from one JWKS document. */
export const jwksKeysMax = 32
/** How old a request signature's `created` may be, and how far in the future (clock skew). */
export const signatureAgeMsMax = 5 * 60_000
export const signatureSkewMsMax = 60_000
/** Access items in one grant request (the Open Payments schema's `maxItems`). */
export const accessItemsMax = 3
/** Incoming payments per list page: default and most. */
export const listPageDefault = 20
export const listPageMax = 100
