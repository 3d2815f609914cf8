/**
 * What an operator sees, on every backend with sockets: a span around each call that opens
 * something (with its backend and addresses) and none per message; gauges of registrations,
 * registered bytes and open TCP streams that follow the scopes and return where they were.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { RioSocket, RioSocketServer } from "@effect-rio/platform"
import { assert } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import { describeSocketBackends } from "./describeBackends.js"
import { metricValue } from "./metricValues.js"

interface Recorded {
  readonly name: string
  readonly attributes: Map<string, unknown>
}

/** A tracer that keeps every span it was asked for, with the attributes set on it. */
const recordingTracer = () => {
  const spans: Array<Recorded> = []
  let next = 0
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const attributes = new Map<string, unknown>(Object.entries(options?.attributes ?? {}))
      spans.push({ name, attributes })
      const id = String(next++)
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: id,
        traceId: "test",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links,
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => void attributes.set(key, value),
        event: () => {},
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
  return { spans, tracer }
}

const gauge = (name: string, backend: string, protocol?: string) =>
  metricValue(name, protocol === undefined ? { backend } : { backend, protocol })

describeSocketBackends("observability", (it) => {
  it.effect("spans around registrations and sockets, with their attributes; none per message", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const { spans, tracer } = recordingTracer()
      yield* Effect.scoped(Effect.gen(function*() {
        const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(300))
        const listener = yield* RegisteredSocket.listen({ port: 0 })
        const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
        const server = yield* listener.accept
        const udp = yield* RegisteredSocket.udp()
        const opened = spans.length
        const slice = registration.unsafeSlice(0, 64) as RioBuf.RioBuf
        for (let i = 0; i < 100; i++) {
          yield* udp.sendTo(slice, udp.address)
          yield* udp.receiveFrom(slice)
          yield* client.sendAll(slice)
          yield* server.receive(slice)
        }
        assert.strictEqual(spans.length, opened, "400 messages, no span")
        const byName = (name: string) => spans.find((span) => span.name === name)?.attributes
        assert.strictEqual(byName("RegisteredIo.registerBuffer")?.get("effect_rio.backend"), io.backend)
        assert.strictEqual(byName("RegisteredIo.registerBuffer")?.get("effect_rio.length"), 300)
        assert.strictEqual(byName("RegisteredSocket.listen")?.get("network.transport"), "tcp")
        assert.strictEqual(byName("RegisteredSocket.connect")?.get("server.port"), listener.address.port)
        assert.strictEqual(byName("RegisteredSocket.accept")?.get("client.port"), client.localAddress.port)
        assert.strictEqual(byName("RegisteredSocket.accept")?.get("network.local.port"), listener.address.port)
        assert.strictEqual(byName("RegisteredSocket.udp")?.get("network.transport"), "udp")
      })).pipe(Effect.withTracer(tracer))
    }))

  it.effect("RioSocketServer: one span per accepted connection, for its whole life, with the client's address", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* RioSocketServer.make({ port: 0 })
        const address = server.address
        if (address._tag !== "TcpAddress") return assert.fail("a TCP server")
        const served = yield* Deferred.make<void>()
        yield* Effect.forkScoped(server.run((socket) =>
          Effect.scoped(Effect.gen(function*() {
            const write = yield* socket.writer
            yield* socket.run((chunk) => Effect.zipRight(write(chunk), Deferred.succeed(served, undefined)))
          }))
        ))
        for (let i = 0; i < 3; i++) {
          yield* Effect.scoped(Effect.gen(function*() {
            const socket = yield* RioSocket.makeTcp({ host: "127.0.0.1", port: address.port })
            const write = yield* socket.writer
            yield* Effect.forkScoped(socket.run(() => Effect.void))
            for (let message = 0; message < 20; message++) yield* write(new Uint8Array([message]))
            yield* Deferred.await(served)
          }))
        }
      })).pipe(Effect.withTracer(tracer))
      const connections = spans.filter((span) => span.name === "RioSocketServer.connection")
      assert.strictEqual(connections.length, 3, "60 messages over 3 connections: 3 spans")
      assert.isTrue(connections.every((span) => typeof span.attributes.get("client.port") === "number"))
      assert.strictEqual(connections[0]!.attributes.get("network.transport"), "tcp")
    }))

  it.effect("gauges: registrations, registered bytes and open TCP streams follow the scopes back", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const read = Effect.all([
        gauge("effect_rio_registrations", io.backend),
        gauge("effect_rio_registered_bytes", io.backend),
        gauge("effect_rio_socket_connections_open", io.backend, "tcp")
      ])
      const [registrations, bytes, streams] = yield* read
      yield* Effect.scoped(Effect.gen(function*() {
        yield* RegisteredIo.registerBuffer(new Uint8Array(300))
        yield* RegisteredIo.allocateBuffer(5000)
        const listener = yield* RegisteredSocket.listen({ port: 0 })
        yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
        yield* listener.accept
        assert.deepStrictEqual(yield* read, [registrations + 2, bytes + 5300, streams + 2])
      }))
      assert.deepStrictEqual(yield* read, [registrations, bytes, streams])
    }))
})
