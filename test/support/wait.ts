/** Waiting on conditions (never on a guessed duration): tests pass on a busy machine. */

/** Polls `check` until it is true or `timeoutMs` passes (then throws, naming `what`). */
export const waitUntil = async (check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
