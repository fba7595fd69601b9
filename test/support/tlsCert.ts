/** A throw-away self-signed certificate for 127.0.0.1 (openssl), for tests of TLS clients. */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir, removeTempDir } from "./tempDir.ts"

export interface TestCertificate {
  readonly key: Buffer
  /** Also the CA that signs it: pass as `ca` to trust it. */
  readonly cert: Buffer
}

export const makeTestCertificate = (): TestCertificate => {
  const dir = makeTempDir("test-tls-")
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"
    ], { stdio: "ignore" })
    return { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }
  } finally {
    removeTempDir(dir)
  }
}
