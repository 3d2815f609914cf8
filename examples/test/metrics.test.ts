/**
 * The Prometheus example as an operator runs it: its `/metrics` page shows the traffic that
 * was sent through the server — counted by the library, exported by OpenTelemetry — and
 * passes `promtool check metrics` (Debian's `prometheus` package; `.ci/run` installs it).
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import { backends, run } from "./processes.js"

const example = fileURLToPath(new URL("../src/metrics.ts", import.meta.url))
const hasPromtool = spawnSync("promtool", ["--version"]).status === 0

/** The value of the sample `name{backend=…,protocol=…}` on a Prometheus text page (0 when absent). */
const sample = (page: string, name: string, backend: string, protocol?: string): number => {
  for (const line of page.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue
    if (!line.includes(`backend="${backend}"`)) continue
    if (protocol !== undefined && !line.includes(`protocol="${protocol}"`)) continue
    return Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return 0
}

/** The example's server on io_uring, and its ports once it printed them. */
const startServer = () => {
  const server = spawn(process.execPath, ["--import", "tsx", example, "server", "--port", "0", "--metrics-port", "0"], {
    env: { ...process.env, EFFECT_RIO_BACKEND: "koffi" }
  })
  const ready = new Promise<{ udp: number; tcp: number; url: string }>((resolve, reject) => {
    let output = ""
    server.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening udp (\d+) tcp (\d+) metrics (\S+)/.exec(output)
      if (match !== null) resolve({ udp: Number(match[1]), tcp: Number(match[2]), url: match[3]! })
    })
    server.on("exit", (code) => reject(new Error(`the example exited with ${code}: ${output}`)))
  })
  return { ready, stop: () => server.kill("SIGINT") }
}

/** Sends `count` datagrams of `size` bytes one at a time, each after the previous one's echo. */
const datagrams = (port: number, count: number, size: number) =>
  new Promise<void>((resolve, reject) => {
    const socket = Dgram.createSocket("udp4")
    let echoed = 0
    socket.on("message", (message) => {
      if (message.length !== size) return reject(new Error(`an echo of ${message.length} bytes`))
      if (++echoed === count) return socket.close(() => resolve())
      socket.send(Buffer.alloc(size, echoed), port, "127.0.0.1")
    })
    socket.send(Buffer.alloc(size, 0), port, "127.0.0.1")
  })

/** Opens a connection, sends `bytes` bytes and reads the echo; `whileOpen` runs before it closes. */
const stream = (port: number, bytes: number, whileOpen: () => Promise<void>) =>
  new Promise<void>((resolve, reject) => {
    const socket = Net.connect(port, "127.0.0.1")
    let echoed = 0
    socket.on("data", (data) => {
      echoed += data.length
      if (echoed === bytes) whileOpen().then(() => socket.end(), reject)
    })
    socket.on("error", reject)
    socket.on("close", () => echoed === bytes ? resolve() : reject(new Error(`${echoed} of ${bytes} echoed`)))
    socket.write(Buffer.alloc(bytes, 7))
  })

const scrape = (url: string) => fetch(url).then((response) => response.text())

describe("metrics example", () => {
  for (const backend of backends) {
    it(`"both" on EFFECT_RIO_BACKEND=${backend} prints the traffic it sent through itself`, () => {
      const result = run("metrics.ts", ["both"], backend)
      assert.strictEqual(result.status, 0, result.stderr)
      const name = backend === "test" ? "test" : "io_uring"
      // 100 datagrams of 15 bytes each way (the server's and the client's), 100 lines of 15 bytes each way.
      assert.strictEqual(sample(result.stdout, "effect_rio_socket_messages_sent_total", name, "udp"), 200)
      assert.strictEqual(sample(result.stdout, "effect_rio_socket_messages_received_total", name, "udp"), 200)
      assert.strictEqual(sample(result.stdout, "effect_rio_socket_bytes_received_total", name, "udp"), 3000)
      assert.strictEqual(sample(result.stdout, "effect_rio_socket_bytes_sent_total", name, "tcp"), 3000)
      assert.strictEqual(sample(result.stdout, "effect_rio_socket_bytes_received_total", name, "tcp"), 3000)
      assert.strictEqual(sample(result.stdout, "effect_rio_socket_connections_open", name, "tcp"), 0)
    })
  }

  it.runIf(process.platform === "linux")(
    "a server on io_uring: /metrics counts exactly what node:dgram and node:net peers sent, and a connection while open",
    async () => {
      const server = startServer()
      try {
        const { tcp, udp, url } = await server.ready
        await datagrams(udp, 50, 100)
        let whileOpen = ""
        await stream(tcp, 10_240, async () => void (whileOpen = await scrape(url)))
        assert.strictEqual(sample(whileOpen, "effect_rio_socket_connections_open", "io_uring", "tcp"), 1)
        // The server's side closes once it has echoed the peer's end: wait for the gauge to say so.
        let page = await scrape(url)
        for (let i = 0; i < 100 && sample(page, "effect_rio_socket_connections_open", "io_uring", "tcp") > 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20))
          page = await scrape(url)
        }
        assert.deepStrictEqual(
          {
            udpIn: sample(page, "effect_rio_socket_messages_received_total", "io_uring", "udp"),
            udpInBytes: sample(page, "effect_rio_socket_bytes_received_total", "io_uring", "udp"),
            udpOut: sample(page, "effect_rio_socket_messages_sent_total", "io_uring", "udp"),
            udpOutBytes: sample(page, "effect_rio_socket_bytes_sent_total", "io_uring", "udp"),
            tcpInBytes: sample(page, "effect_rio_socket_bytes_received_total", "io_uring", "tcp"),
            tcpOutBytes: sample(page, "effect_rio_socket_bytes_sent_total", "io_uring", "tcp"),
            open: sample(page, "effect_rio_socket_connections_open", "io_uring", "tcp"),
            errors: sample(page, "effect_rio_socket_errors_total", "io_uring")
          },
          {
            udpIn: 50,
            udpInBytes: 5000,
            udpOut: 50,
            udpOutBytes: 5000,
            tcpInBytes: 10_240,
            tcpOutBytes: 10_240,
            open: 0,
            errors: 0
          }
        )
        assert.isAtLeast(sample(page, "effect_rio_completion_batch_size_count", "io_uring", "tcp"), 1)
        assert.match(page, /# TYPE effect_rio_socket_bytes_sent_total counter/)
        assert.match(page, /# TYPE effect_rio_completion_batch_size histogram/)
      } finally {
        server.stop()
      }
    }
  )

  it.runIf(process.platform === "linux" && hasPromtool)(
    `promtool check metrics accepts the page of a server that has seen traffic${
      hasPromtool ? "" : " — skipped: promtool is not installed (Debian's prometheus package)"
    }`,
    async () => {
      const server = startServer()
      try {
        const { tcp, udp, url } = await server.ready
        await datagrams(udp, 10, 64)
        await stream(tcp, 1000, async () => {})
        const page = await scrape(url)
        assert.isAbove(sample(page, "effect_rio_socket_messages_received_total", "io_uring", "udp"), 0)
        const lint = spawnSync("promtool", ["check", "metrics"], { input: page, encoding: "utf8" })
        assert.strictEqual(lint.status, 0, lint.stdout + lint.stderr)
      } finally {
        server.stop()
      }
    }
  )
})
