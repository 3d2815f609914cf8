/**
 * The main demo fails the way a user should see it fail: with a small memlock limit it
 * prints the typed error's message — which names the limit and how to raise it — and exits
 * non-zero, without a stack trace.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const examples = fileURLToPath(new URL("..", import.meta.url))

describe.runIf(process.platform === "linux")("the demo", () => {
  it("as an ordinary user with `ulimit -l 64`: WSAENOBUFS naming `ulimit -l`, exit 1, no stack trace", () => {
    // Root has CAP_IPC_LOCK, which lifts RLIMIT_MEMLOCK, so the demo runs as nobody.
    const isRoot = process.getuid?.() === 0
    const shell = ["-c", "ulimit -l 64 && exec \"$0\" \"$@\"", process.execPath, "--import", "tsx", "src/demo.ts"]
    const demo = spawnSync(
      isRoot ? "setpriv" : "sh",
      isRoot ? ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "sh", ...shell] : shell,
      {
        cwd: examples,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", EFFECT_RIO_BACKEND: "koffi" },
        encoding: "utf8",
        timeout: 60_000
      }
    )
    assert.strictEqual(demo.status, 1, demo.stderr)
    assert.match(demo.stderr, /^WSAENOBUFS \(10055\): /m)
    assert.include(demo.stderr, "ulimit -l")
    assert.include(demo.stderr, "RLIMIT_MEMLOCK is 64 KiB")
    assert.notMatch(demo.stderr, /\n\s+at /, "a stack trace was printed")
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
