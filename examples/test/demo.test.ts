/**
 * The main demo fails the way a user should see it fail: with a small memlock limit it
 * prints the typed error's message — which names the limit and how to raise it — and exits
 * non-zero, without a stack trace. The quick start catches what a memlock limit of 0 gives, as
 * the README's copy of it does.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { runWithMemlock } from "./processes.js"

const examples = fileURLToPath(new URL("..", import.meta.url))

describe.runIf(process.platform === "linux")("the demo", () => {
  it("as an ordinary user with `ulimit -l 64`: WSAENOBUFS naming `ulimit -l`, exit 1, no stack trace", () => {
    const demo = runWithMemlock("demo.ts", 64)
    assert.strictEqual(demo.status, 1, demo.stderr)
    assert.match(demo.stderr, /^WSAENOBUFS \(10055\): /m)
    assert.include(demo.stderr, "ulimit -l")
    assert.include(demo.stderr, "RLIMIT_MEMLOCK is 64 KiB")
    assert.notMatch(demo.stderr, /\n\s+at /, "a stack trace was printed")
  })

  it("the quick start under `ulimit -l 0` (no ring can be made): RioUnavailable's message, caught as the README shows", () => {
    const quickStart = runWithMemlock("quick-start.ts", 0)
    assert.strictEqual(quickStart.status, 0, quickStart.stderr)
    assert.strictEqual(quickStart.stdout, "")
    assert.match(
      quickStart.stderr,
      /^The kernel could not create an io_uring \(ENOMEM\)\. The locked-memory limit RLIMIT_MEMLOCK is 0 KiB/
    )
    assert.notMatch(quickStart.stderr, /\n\s+at /, "a stack trace was printed")
  })

  it("on the double it runs to the end and exits 0", () => {
    const demo = spawnSync(process.execPath, ["--import", "tsx", "src/demo.ts"], {
      cwd: examples,
      env: { ...process.env, EFFECT_RIO_BACKEND: "test" },
      encoding: "utf8",
      timeout: 60_000
    })
    assert.strictEqual(demo.status, 0, demo.stderr)
    assert.include(demo.stdout, "effect-rio demo on the \"test\" backend")
  })
})
