/**
 * A real headless Chromium for the console's end-to-end tests, driven by playwright-core through
 * the executable's path (no browser download). Each launch gets a fresh profile directory, removed
 * on close. Without a Chromium the tests that need one skip, with one loud line saying so.
 */
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import { makeTempDir, removeTempDir } from "./tempDir.ts"

const candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"]

/** `CHROMIUM_PATH` when set, else the first Chromium found at a usual Debian path; undefined when none. */
export const chromiumPath = (): string | undefined => {
  const fromEnv = process.env.CHROMIUM_PATH
  if (fromEnv !== undefined && fromEnv !== "") return existsSync(fromEnv) ? fromEnv : undefined
  return candidates.find((path) => existsSync(path))
}

/** Flags for a quiet, offline, throwaway browser: no sandbox (CI containers), no GPU, no calls home. */
export const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

export interface Browser {
  readonly context: BrowserContext
  readonly newPage: (viewport?: { width: number; height: number }) => Promise<Page>
  /** Messages the pages wrote as console errors or threw; a test asserts there are none. */
  readonly pageErrors: Array<string>
  readonly close: () => Promise<void>
}

export const desktop = { width: 1280, height: 900 }
export const phone = { width: 390, height: 844 }

export const launchBrowser = async (executablePath: string): Promise<Browser> => {
  const profile = makeTempDir("console-chromium-")
  // A persistent context is how playwright takes an explicit, fresh --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: chromiumFlags,
    viewport: desktop,
    timeout: 60_000
  })
  context.setDefaultTimeout(20_000)
  const pageErrors: Array<string> = []
  const watch = (page: Page) => {
    page.on("pageerror", (error) => pageErrors.push(`pageerror: ${error.stack ?? error.message}`))
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(`console.error: ${message.text()}`)
    })
    return page
  }
  return {
    context,
    pageErrors,
    newPage: async (viewport = desktop) => {
      const page = watch(await context.newPage())
      await page.setViewportSize(viewport)
      return page
    },
    close: async () => {
      await context.close().catch(() => undefined)
      removeTempDir(profile)
    }
  }
}

/** Where screenshots go: git-ignored, kept after the run as test artifacts. */
export const artifactsDir = (name: string): string => {
  const dir = join(process.cwd(), "test-artifacts", name)
  mkdirSync(dir, { recursive: true })
  return dir
}
