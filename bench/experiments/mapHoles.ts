/**
 * The SQLite ledger's account cache eviction (`evictOldest` in src/Accounting/LedgerSqliteStore.ts),
 * called after every committed batch, on a Map shaped as the scaled bench node's cache is after its
 * set-up: 100 000 accounts created, the cache bounded at 10 000, so 90 000 evicted from the front.
 * V8 leaves deleted Map entries in place until it rehashes, and an iterator walks past them: the
 * version that always took `cache.keys()` paid that walk on every call.
 *
 *   node bench/experiments/mapHoles.ts
 *
 * Measurement only.
 */
type Evict = (cache: Map<bigint, { readonly id: bigint }>, sizeMax: number) => void

const before: Evict = (cache, sizeMax) => {
  for (const id of cache.keys()) {
    if (cache.size <= sizeMax) return
    cache.delete(id)
  }
}
const after: Evict = (cache, sizeMax) => {
  if (cache.size <= sizeMax) return
  for (const id of cache.keys()) {
    if (cache.size <= sizeMax) return
    cache.delete(id)
  }
}

const calls = 20_000
for (const [name, evict] of [["before", before], ["after", after], ["before", before], ["after", after]] as const) {
  const cache = new Map<bigint, { readonly id: bigint }>()
  for (let id = 0n; id < 100_000n; id++) {
    cache.set(id, { id })
    evict(cache, 10_000)
  }
  const started = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) evict(cache, 10_000)
  console.log(`${name.padEnd(6)} ${(Number(process.hrtime.bigint() - started) / calls).toFixed(1)} ns per call (nothing to evict)`)
}
