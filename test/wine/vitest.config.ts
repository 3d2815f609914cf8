/**
 * vitest under Windows Node in Wine (see run.sh): the Windows driver's own tests and the
 * project's conformance suite, the latter with `test/wine/backends.ts` in place of
 * `test/conformance/backends.ts` so that it also runs against the Winsock driver over the
 * reference RIO provider.
 *
 * `forks`, because vitest hands its worker threads an explicit execArgv without our
 * --import preload, while child processes inherit it through NODE_OPTIONS.
 */
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import { SkipReasons } from "../skipReasons.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const wineBackends = fileURLToPath(new URL("./backends.ts", import.meta.url))

export default defineConfig({
  root,
  plugins: [{
    name: "effect-rio:wine-backends",
    enforce: "pre",
    resolveId(source, importer) {
      if (source === "./backends.js" && importer !== undefined && /[\\/]test[\\/]conformance[\\/]/.test(importer)) {
        return wineBackends
      }
      return null
    }
  }],
  test: {
    include: ["packages/koffi/test/windows/**/*.test.ts", "test/conformance/**/*.test.ts"],
    pool: "forks",
    poolOptions: { forks: { execArgv: ["--expose-gc"] } },
    // A hang guard, not a speed check: under Wine every socket call is a wineserver round
    // trip, so 64 connections × 1,000 round trips take 20 s to 2 min depending on the box.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    reporters: ["default", "json", new SkipReasons()],
    outputFile: { json: "test/wine/build/vitest-wine.json" }
  }
})
