import { defineConfig } from "vitest/config"
import { SkipReasons } from "./test/skipReasons.js"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts", "examples/test/**/*.test.ts"],
    // Windows-only suites run under Wine (test/wine/vitest.config.ts) or on Windows.
    exclude: ["**/node_modules/**", "test/wine/**", "**/*.win32.test.ts"],
    // One process per file (VmPin is per process) with a collector the GC tests can force.
    pool: "forks",
    poolOptions: { forks: { execArgv: ["--expose-gc"] } },
    reporters: ["default", "json", new SkipReasons()],
    outputFile: { json: "build/vitest.json" },
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
