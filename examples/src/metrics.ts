/**
 * An echo server an operator can watch: UDP (batches) and TCP (streams) on registered I/O, with
 * the library's `effect_rio_*` metrics served in Prometheus' text format on `/metrics`, through
 * `@effect/opentelemetry` and the OpenTelemetry Prometheus exporter.
 *
 *   node --import tsx examples/src/metrics.ts server --port 7020 --metrics-port 9464
 *   curl -s http://127.0.0.1:9464/metrics | grep effect_rio
 *   EFFECT_RIO_BACKEND=test node --import tsx examples/src/metrics.ts both
 *
 * `server` echoes on `--port` (UDP and TCP; 0 picks a port for each) until stopped and prints
 * `listening udp <port> tcp <port> metrics <url>`. `both` also sends 100 datagrams and 100
 * lines through itself, then prints the `effect_rio_*` lines of its own `/metrics` page (the
 * in-memory double's network lives inside one process, so that is how it runs there).
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { acceptEach, streamEcho, udpEcho } from "./echoServers.js"
import { runMain } from "./main.js"

/**
 * The exporter's `/metrics` page on a server of our own, so that port 0 works and the scope
 * closes it. Each scrape reads Effect's metric registry through `@effect/opentelemetry`.
 */
const serveMetrics = (exporter: PrometheusExporter, port: number) =>
  Effect.acquireRelease(
    Effect.async<Http.Server, Error>((resume) => {
      const server = Http.createServer((request, response) => {
        if (request.url === "/metrics") return exporter.getMetricsRequestHandler(request, response)
        response.statusCode = 404
        response.end("try /metrics\n")
      })
      // A metrics port in use (EADDRINUSE) ends the program with its message.
      server.once("error", (error) => resume(Effect.fail(error)))
      server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/** The Prometheus exporter as the OpenTelemetry metric reader of Effect's metrics. */
const prometheus = (exporter: PrometheusExporter) =>
  Metrics.layer(() => exporter).pipe(Layer.provide(Resource.layer({ serviceName: "effect-rio-metrics-example" })))

/** Sends 100 datagrams and 100 lines through the server and checks that every byte comes back. */
const traffic = (udpPort: number, tcpPort: number) =>
  Effect.scoped(Effect.gen(function*() {
    const memory = yield* RegisteredIo.allocateBuffer(4096)
    const line = new TextEncoder().encode("a line of text\n")
    memory.bytes.set(line)
    const buf = yield* memory.slice(0, line.length)
    const udp = yield* RegisteredSocket.udp()
    for (let i = 0; i < 100; i++) {
      yield* udp.sendTo(buf, { host: "127.0.0.1", port: udpPort })
      yield* udp.receiveFrom(yield* memory.slice(2048, 2048))
    }
    const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: tcpPort })
    for (let i = 0; i < 100; i++) yield* stream.sendAll(buf)
    yield* stream.shutdown("write")
    let echoed = 0
    for (let chunk = yield* stream.receive(yield* memory.slice(2048, 2048)); chunk > 0;) {
      echoed += chunk
      chunk = yield* stream.receive(yield* memory.slice(2048, 2048))
    }
    if (echoed !== 100 * line.length) return yield* Effect.dieMessage(`${echoed} bytes echoed`)
  }))

const program = (mode: "server" | "both", port: number, metricsPort: number) =>
  Effect.scoped(Effect.gen(function*() {
    const exporter = new PrometheusExporter({ preventServerStart: true })
    yield* Layer.buildWithScope(prometheus(exporter), yield* Effect.scope)
    const http = yield* serveMetrics(exporter, metricsPort)
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`
    const udp = yield* RegisteredSocket.udp({ host: "127.0.0.1", port })
    const listener = yield* RegisteredSocket.listen({ host: "127.0.0.1", port })
    yield* Effect.forkScoped(udpEcho(udp))
    yield* Effect.forkScoped(acceptEach(listener, yield* Effect.scope, streamEcho))
    yield* Console.log(`listening udp ${udp.address.port} tcp ${listener.address.port} metrics ${url}`)
    if (mode === "server") return yield* Effect.never
    yield* traffic(udp.address.port, listener.address.port)
    const page = yield* Effect.promise(() => fetch(url).then((response) => response.text()))
    yield* Console.log(page.split("\n").filter((text) => text.startsWith("effect_rio_")).join("\n"))
  }))

const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name)
  const value = at < 0 ? fallback : Number(process.argv[at + 1])
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} needs a port number`)
  return value
}

const mode = process.argv[2]
if (mode !== "server" && mode !== "both") {
  console.error("usage: metrics.ts server [--port P] [--metrics-port M] | both")
  process.exitCode = 2
} else {
  runMain(program(mode, flag("--port", 0), flag("--metrics-port", mode === "both" ? 0 : 9464)))
}
