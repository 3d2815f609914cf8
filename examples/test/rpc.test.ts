/**
 * The rpc examples as a user runs them: `rpc-server.ts both` on each backend, and on io_uring
 * the server as a process of its own, called by a plain NodeSocket client (`rpc-client.ts`)
 * and by a RioSocket one.
 */
import { assert, describe, it } from "@effect/vitest"
import { backends, run, startServer } from "./processes.js"

describe("rpc examples", () => {
  for (const backend of backends) {
    it(`rpc-server "both" on EFFECT_RIO_BACKEND=${backend}: every call answered and checked, exit 0`, () => {
      const both = run("rpc-server.ts", ["both", "--count", "300"], backend)
      assert.strictEqual(both.status, 0, both.stderr)
      assert.match(
        both.stdout,
        /^listening \d+\n300 rpc calls \(echo, sum, countdown; 32 at a time\) answered and checked/
      )
    })
  }

  it.runIf(process.platform === "linux")(
    "rpc-server as a process on io_uring: a NodeSocket and a RioSocket client",
    async () => {
      const server = startServer("rpc-server.ts", ["server", "--port", "0"], "koffi")
      try {
        const port = String(await server.port)
        const node = run("rpc-client.ts", ["--port", port, "--count", "1000"], "koffi")
        assert.strictEqual(node.status, 0, node.stderr)
        assert.match(node.stdout, /^1000 rpc calls .* answered and checked/)
        const rio = run("rpc-server.ts", ["client", "--port", port, "--count", "1000"], "koffi")
        assert.strictEqual(rio.status, 0, rio.stderr)
        assert.match(rio.stdout, /^1000 rpc calls .* answered and checked/)
      } finally {
        server.stop()
      }
    }
  )
})
