/**
 * The echo examples as a user runs them: real processes, on the double and on io_uring, in
 * one process (`both`) and as a separate server and client.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Dgram from "node:dgram"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { backends, run, runAsDocumented, startServer } from "./processes.js"

describe("echo examples", () => {
  for (const backend of backends) {
    it(`udp-echo, tcp-echo, their batch forms and tcp-stream-echo "both" on EFFECT_RIO_BACKEND=${backend} check every echo and exit 0`, () => {
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
      const streams = run("tcp-stream-echo.ts", ["both", "--count", "2000"], backend)
      assert.strictEqual(streams.status, 0, streams.stderr)
      assert.match(streams.stdout, /2000 lines echoed through Stream and Sink and checked/)
      const tcp = run("tcp-echo.ts", ["both", "--count", "300"], backend)
      assert.strictEqual(tcp.status, 0, tcp.stderr)
      assert.match(tcp.stdout, /300 messages echoed and checked in .* then half-closed/)
    })
  }

  for (const backend of backends) {
    it(`tcp-echo over a Unix domain socket's path, "both" on EFFECT_RIO_BACKEND=${backend}`, () => {
      const directory = mkdtempSync(join(tmpdir(), "effect-rio-echo-"))
      try {
        const path = join(directory, "echo.sock")
        const unix = run("tcp-echo.ts", ["both", "--path", path, "--count", "300"], backend)
        assert.strictEqual(unix.status, 0, unix.stderr)
        assert.match(unix.stdout, new RegExp(`listening ${path}`))
        assert.match(unix.stdout, /300 messages echoed and checked in .* then half-closed/)
        assert.isFalse(existsSync(path), "the socket's path went with the server")
      } finally {
        rmSync(directory, { recursive: true, force: true })
      }
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

  it.runIf(process.platform === "linux")(
    "the udp-echo server drops a datagram larger than its slots with a warning and goes on echoing",
    async () => {
      const server = startServer("udp-echo.ts", ["server", "--port", "0"], "koffi")
      try {
        const port = await server.port
        const sender = Dgram.createSocket("udp4")
        await new Promise<void>((resolve, reject) =>
          sender.send(new Uint8Array(2049), port, "127.0.0.1", (error) => (error ? reject(error) : resolve()))
        )
        sender.close()
        const client = run("udp-echo.ts", ["client", "--port", String(port), "--count", "100"], "koffi")
        assert.strictEqual(client.status, 0, client.stderr)
        assert.match(client.stdout, /100 datagrams echoed and checked/)
      } finally {
        server.stop()
      }
    }
  )

  it("the udp-echo client with no server gives up with WSAETIMEDOUT, no stack trace, and exits 1", () => {
    const backend = process.platform === "linux" ? "koffi" : "test"
    const lost = run("udp-echo.ts", ["client", "--port", "9", "--count", "1"], backend)
    assert.strictEqual(lost.status, 1)
    assert.match(lost.stderr, /^WSAETIMEDOUT \(10060\): no echo of datagram 0 from 127\.0\.0\.1:9 within 2 seconds/)
    assert.notMatch(lost.stderr, /\n\s+at /)
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
