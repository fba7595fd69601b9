/**
 * Which parts of the `node` binary a process keeps resident (issue 13, peak RSS): reads
 * `/proc/PID/pagemap` (root, or the process's own user for the present bits) for the binary's
 * mappings, and attributes every resident 4 KiB page to the ELF section and to the symbols it holds
 * (`nm -C -S` of the binary: the binary ships its symbol table), grouped by what they are (V8's
 * compilers, builtins, ICU code and data, OpenSSL, SQLite, ...).
 *
 *   node bench/experiments/binaryPages.ts PID [PID...] [--top 30]
 *   node bench/experiments/binaryPages.ts --watch DIR [--every 2000]   # every node whose cwd is DIR,
 *       sampled until they exit; prints the last sample of each (file pages stay resident once
 *       touched, so the last is the largest)
 *
 * Measurement only; never loaded by the node itself.
 */
import { execFileSync } from "node:child_process"
import { closeSync, openSync, readFileSync, readlinkSync, readdirSync, readSync } from "node:fs"

const page = 4096

interface Section { readonly name: string; readonly addr: number; readonly offset: number; readonly size: number }
interface Symbol { readonly addr: number; readonly size: number; readonly name: string }

const sectionsOf = (binary: string): Array<Section> =>
  execFileSync("readelf", ["-S", "-W", binary], { encoding: "utf8" }).split("\n").flatMap((line) => {
    const m = /^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line)
    if (m === null || m[2] === "0000000000000000") return []
    return [{ name: m[1]!, addr: parseInt(m[2]!, 16), offset: parseInt(m[3]!, 16), size: parseInt(m[4]!, 16) }]
  })

const symbolsOf = (binary: string): Array<Symbol> =>
  execFileSync("nm", ["-C", "--defined-only", "-S", binary], { encoding: "utf8", maxBuffer: 1 << 28 }).split("\n")
    .flatMap((line) => {
      const m = /^([0-9a-f]+) ([0-9a-f]+) \S (.*)$/.exec(line)
      return m === null ? [] : [{ addr: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16), name: m[3]! }]
    })
    .filter((s) => s.size > 0)
    .sort((a, b) => a.addr - b.addr)

/** What a symbol is, by its (demangled) name. Order matters: the first match wins. */
const groups: Array<[string, RegExp]> = [
  ["ICU data (icudt*_dat)", /^icudt\d+_dat$/],
  ["V8 builtins (embedded blob)", /^Builtins_|embedded_blob/],
  ["V8 Turboshaft/TurboFan", /v8::internal::compiler::|turboshaft/],
  ["V8 Maglev", /v8::internal::maglev::/],
  ["V8 WebAssembly", /v8::internal::wasm::|liftoff|Liftoff/],
  ["V8 regexp", /v8::internal::(RegExp|Irregexp|regexp)|RegExp/],
  ["V8 parser/bytecode", /v8::internal::(Parser|Scanner|PreParser|Bytecode|interpreter::|ParserBase|AstValue|Scope\b|DeclarationScope|Compiler::)/],
  ["V8 heap/GC", /v8::internal::(Heap|heap::|Scavenger|MarkCompact|Mark|Sweeper|Minor|Concurrent|MemoryAllocator|PagedSpace|NewSpace|Evacuat|cppgc|.*Marking|.*Marker)|cppgc::/],
  ["V8 snapshot/deserializer", /v8::internal::.*(Deserializ|Snapshot)|blob_data/],
  ["V8 other", /v8::|^v8_|Runtime_/],
  ["ICU code", /icu_\d+::|^u[a-z]+_\w+_\d+$|^u(case|bidi|props|char|norm|str|loc|res)|icu/i],
  ["node", /node::|^napi_|^node_/],
  ["libuv", /^uv_|^uv__/],
  ["SQLite", /sqlite3/i],
  ["OpenSSL", /^(ossl_|SSL_|EVP_|BN_|EC_|RSA_|X509|ASN1_|OPENSSL|CRYPTO_|ERR_|OBJ_|BIO_|PEM_|aesni|sha\d|ecp_|bn_|aes_|x25519|ed25519|k25519|nid_objs|gcm_|ChaCha|Poly1305|d2i_|i2d_|PKCS|DH_|DSA_|HMAC|OSSL_|tls_|ssl_)/],
  ["brotli/zlib/zstd", /Brotli|kStaticDictionary|kBrotli|deflate|inflate|zstd|ZSTD|crc32|adler/i],
  ["simdjson/ada/simdutf/llhttp/nghttp", /simdjson|ada::|simdutf|llhttp|nghttp|ncrypto|uvwasi|cares|ares_/]
]
const groupOf = (name: string) => groups.find(([, re]) => re.test(name))?.[0] ?? "other symbols"

/** Present bits of [start, end) of a process's address space, one per page. */
const presentPages = (pid: number, start: number, end: number): Array<boolean> => {
  const fd = openSync(`/proc/${pid}/pagemap`, "r")
  try {
    const count = (end - start) / page
    const buf = Buffer.alloc(count * 8)
    let read = 0
    while (read < buf.length) {
      const n = readSync(fd, buf, read, buf.length - read, (start / page) * 8 + read)
      if (n === 0) break
      read += n
    }
    return Array.from({ length: count }, (_, i) => (buf.readBigUInt64LE(i * 8) >> 63n) === 1n)
  } finally {
    closeSync(fd)
  }
}

interface Report {
  readonly bySection: Map<string, number>
  readonly byGroup: Map<string, number>
  readonly bySymbol: Map<string, number>
  readonly gaps: Map<string, number>
  readonly total: number
}

const cache = new Map<string, { sections: Array<Section>; symbols: Array<Symbol> }>()

const measure = (pid: number): Report | undefined => {
  let maps: string
  try {
    maps = readFileSync(`/proc/${pid}/maps`, "utf8")
  } catch {
    return undefined
  }
  const exe = readlinkSync(`/proc/${pid}/exe`)
  if (!cache.has(exe)) cache.set(exe, { sections: sectionsOf(exe), symbols: symbolsOf(exe) })
  const { sections, symbols } = cache.get(exe)!
  const bySection = new Map<string, number>()
  const byGroup = new Map<string, number>()
  const bySymbol = new Map<string, number>()
  const gaps = new Map<string, number>()
  const add = (map: Map<string, number>, key: string, bytes: number) => map.set(key, (map.get(key) ?? 0) + bytes)
  let total = 0
  let s = 0
  for (const line of maps.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \S+\s+(.*)$/.exec(line)
    if (m === null || m[4] !== exe) continue
    const start = parseInt(m[1]!, 16)
    const end = parseInt(m[2]!, 16)
    const fileOffset = parseInt(m[3]!, 16)
    const present = presentPages(pid, start, end)
    present.forEach((resident, i) => {
      if (!resident) return
      total += page
      // The binary is not position-independent (ET_EXEC): a page's address is the section's.
      const addr = start + i * page
      const offset = fileOffset + i * page
      const section = sections.find((x) => x.addr <= addr && addr < x.addr + x.size) ??
        sections.find((x) => x.offset <= offset && offset < x.offset + x.size)
      add(bySection, section?.name ?? "(between sections)", page)
      // Symbols overlapping [addr, addr + page): symbols are sorted by address; walk from the first
      // one that may overlap.
      while (s > 0 && symbols[s - 1]!.addr + symbols[s - 1]!.size > addr) s--
      while (s < symbols.length && symbols[s]!.addr + symbols[s]!.size <= addr) s++
      let covered = 0
      for (let j = s; j < symbols.length && symbols[j]!.addr < addr + page; j++) {
        const sym = symbols[j]!
        const bytes = Math.min(sym.addr + sym.size, addr + page) - Math.max(sym.addr, addr)
        if (bytes <= 0) continue
        covered += bytes
        add(byGroup, groupOf(sym.name), bytes)
        add(bySymbol, sym.name.length > 110 ? `${sym.name.slice(0, 107)}...` : sym.name, bytes)
      }
      if (covered < page) {
        add(byGroup, `(no symbol) ${section?.name ?? ""}`, page - Math.min(covered, page))
        // Runs of such pages, named after the last symbol before them (--gaps).
        const before = symbols[Math.max(0, s - 1)]
        const key = `${section?.name ?? ""} after ${before === undefined ? "?" : `0x${before.addr.toString(16)} ${before.name.slice(0, 80)}`}`
        add(gaps, key, page - Math.min(covered, page))
      }
    })
  }
  return { bySection, byGroup, bySymbol, gaps, total }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1).padStart(6)
const print = (pid: number, report: Report, top: number) => {
  const sorted = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1])
  process.stdout.write(`\npid ${pid}: the node binary's resident pages ${mib(report.total)} MiB\n by section:\n`)
  for (const [name, bytes] of sorted(report.bySection)) if (bytes >= 64 * 1024) process.stdout.write(`  ${mib(bytes)} ${name}\n`)
  process.stdout.write(" by kind (symbols overlapping a resident page; a page shared by two kinds counts in both by bytes):\n")
  for (const [name, bytes] of sorted(report.byGroup)) if (bytes >= 64 * 1024) process.stdout.write(`  ${mib(bytes)} ${name}\n`)
  process.stdout.write(` top ${top} symbols:\n`)
  for (const [name, bytes] of sorted(report.bySymbol).slice(0, top)) process.stdout.write(`  ${mib(bytes)} ${name}\n`)
  if (args.includes("--gaps")) {
    process.stdout.write(" resident bytes no symbol covers, by the symbol before them:\n")
    for (const [name, bytes] of sorted(report.gaps).slice(0, top)) process.stdout.write(`  ${mib(bytes)} ${name}\n`)
  }
}

const args = process.argv.slice(2)
const opt = (name: string, fallback: number) => {
  const at = args.indexOf(name)
  return at < 0 ? fallback : Number(args[at + 1])
}
const top = opt("--top", 30)
const watchAt = args.indexOf("--watch")
if (watchAt >= 0) {
  const dir = args[watchAt + 1]!.replace(/\/$/, "")
  const every = opt("--every", 2000)
  const last = new Map<number, Report>()
  const seen = new Set<number>()
  const commands = new Map<number, string>()
  for (;;) {
    let alive = 0
    for (const entry of readdirSync("/proc")) {
      const pid = Number(entry)
      if (!Number.isInteger(pid) || pid === process.pid) continue
      try {
        if (readlinkSync(`/proc/${pid}/cwd`) !== dir || !readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("src/main.ts")) continue
        if (!readlinkSync(`/proc/${pid}/exe`).endsWith("/node")) continue
      } catch {
        continue
      }
      const report = measure(pid)
      if (report === undefined) continue
      alive++
      seen.add(pid)
      if (!commands.has(pid)) commands.set(pid, readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "))
      last.set(pid, report)
    }
    if (alive === 0 && seen.size > 0) break
    await new Promise((r) => setTimeout(r, every))
  }
  for (const [pid, report] of last) {
    process.stdout.write(`\npid ${pid}: ${commands.get(pid)}`)
    print(pid, report, top)
  }
} else {
  for (const pid of args.filter((a, i) => /^\d+$/.test(a) && args[i - 1] !== "--top").map(Number)) {
    const report = measure(pid)
    if (report === undefined) process.stdout.write(`pid ${pid}: gone\n`)
    else print(pid, report, top)
  }
}
