/**
 * The echo examples as a user runs them: real processes, on the double and on io_uring, in
 * one process (`both`) and as a separate server and client.
 */
import { assert, describe, it } from "@effect/vitest"
import { backends, run, runAsDocumented, startServer } from "./processes.js"

describe("echo examples", () => {
  for (const backend of backends) {
    it(`udp-echo, tcp-echo and their batch forms "both" on EFFECT_RIO_BACKEND=${backend} check every echo and exit 0`, () => {
      const udp = run("udp-echo.ts", ["both", "--count", "300"], backend)
      assert.strictEqual(udp.status, 0, udp.stderr)
      assert.match(udp.stdout, /300 datagrams echoed and checked/)
      const batches = run("udp-batch-echo.ts", ["both", "--count", "300"], backend)
      assert.strictEqual(batches.status, 0, batches.stderr)
      assert.match(
        batches.stdout,
        /300 datagrams echoed and checked in .* \((multishot RECVMSG|one receive posted).*\)/
      )
      const tcpBatches = run("tcp-batch-echo.ts", ["both", "--count", "3000"], backend)
      assert.strictEqual(tcpBatches.status, 0, tcpBatches.stderr)
      assert.match(
        tcpBatches.stdout,
        /3000 lines \(\d+ bytes\) echoed and checked in .* \((multishot RECV|one receive posted|provided buffers).*\)/
      )
      const tcp = run("tcp-echo.ts", ["both", "--count", "300"], backend)
      assert.strictEqual(tcp.status, 0, tcp.stderr)
      assert.match(tcp.stdout, /300 messages echoed and checked in .* then half-closed/)
    })
  }

  it.runIf(process.platform === "linux")("tcp-echo as two processes: a server and a client on io_uring", async () => {
    const server = startServer("tcp-echo.ts", ["server", "--port", "0"], "koffi")
    try {
      const port = await server.port
      const client = run("tcp-echo.ts", ["client", "--port", String(port), "--count", "500"], "koffi")
      assert.strictEqual(client.status, 0, client.stderr)
      assert.match(client.stdout, /500 messages echoed and checked/)
    } finally {
      server.stop()
    }
  })

  it("a client with nothing to talk to prints the typed error, no stack trace, and exits 1", () => {
    const backend = process.platform === "linux" ? "koffi" : "test"
    const refused = run("tcp-echo.ts", ["client", "--port", "9"], backend)
    assert.strictEqual(refused.status, 1)
    assert.match(refused.stderr, /^WSAECONNREFUSED \(10061\): /)
    assert.notMatch(refused.stderr, /\n\s+at /)
  })

  it("run with examples/README.md's command line, a failure prints that one line and nothing else", () => {
    const backend = process.platform === "linux" ? "koffi" : "test"
    const refused = runAsDocumented("tcp-echo.ts", ["client", "--port", "9"], backend)
    assert.strictEqual(refused.status, 1, refused.stderr)
    assert.strictEqual(refused.stdout, "")
    assert.match(refused.stderr, /^WSAECONNREFUSED \(10061\): [^\n]*\n$/)
  })
})
