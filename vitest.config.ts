import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default"],
    // Node logs (in-process nodes log through Effect's logger) are shown only for a failing test;
    // nodes run as child processes keep their output in memory and print it when a test fails.
    silent: "passed-only"
  }
})
