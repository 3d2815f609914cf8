/**
 * The socket metrics on every backend with sockets: traffic of known size shows as exactly
 * those bytes and messages (single operations and batches, UDP and TCP), a failure counts
 * once under its tag, a ring that runs out of slots counts once, the in-flight gauge follows
 * a waiting receive, and a layer built `withoutMetrics` moves nothing.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { describeSocketBackends } from "./describeBackends.js"
import { metricValue, metricValues } from "./metricValues.js"

const SIZES = [1, 7, 64, 300, 1200, 33, 512, 2, 1000, 90]
const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)

/** The traffic counters of one backend and protocol. */
const traffic = (backend: string, protocol: "udp" | "tcp") =>
  metricValues({
    messagesSent: metricValue("effect_rio_socket_messages_sent", { backend, protocol }),
    bytesSent: metricValue("effect_rio_socket_bytes_sent", { backend, protocol }),
    messagesReceived: metricValue("effect_rio_socket_messages_received", { backend, protocol }),
    bytesReceived: metricValue("effect_rio_socket_bytes_received", { backend, protocol }),
    batches: metricValue("effect_rio_completion_batch_size", { backend, protocol }, "count"),
    batched: metricValue("effect_rio_completion_batch_size", { backend, protocol }, "sum")
  })

const difference = <K extends string>(after: Record<K, number>, before: Record<K, number>): Record<K, number> =>
  Object.fromEntries(
    Object.entries(after).map(([key, value]) => [key, (value as number) - before[key as K]])
  ) as Record<
    K,
    number
  >

const errors = (backend: string, protocol: "udp" | "tcp", tag: string) =>
  metricValue("effect_rio_socket_errors", { backend, protocol, error: tag })

const closedPort = Effect.scoped(Effect.map(RegisteredSocket.listen({ port: 0 }), (listener) => listener.address.port))

/**
 * Lets the turn end before the metrics are read: traffic reaches them once per event-loop turn
 * (from a `setImmediate` queued before this one, so already published when this one runs).
 */
const settle = Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))

/** Sends `SIZES` to itself one by one, then as one batch received through the ring. */
const udpTraffic = Effect.scoped(Effect.gen(function*() {
  const memory = yield* RegisteredIo.allocateBuffer(8192)
  const slice = (offset: number, length: number) => memory.unsafeSlice(offset, length) as RioBuf.RioBuf
  const udp = yield* RegisteredSocket.udp({ receiveRing: { slots: 16, slotSize: 2048 } })
  for (const size of SIZES) {
    yield* udp.sendTo(slice(0, size), udp.address)
    const datagram = yield* udp.receiveFrom(slice(4096, 2048))
    assert.strictEqual(datagram.length, size)
  }
  assert.strictEqual(yield* udp.sendMany(SIZES.map((size) => ({ buf: slice(0, size), to: udp.address }))), SIZES.length)
  let received = 0
  while (received < SIZES.length) {
    received += (yield* udp.withReceived((batch) => Effect.succeed(batch.length))) as number
  }
}))

describeSocketBackends("socket metrics", (it, backend) => {
  it.effect("UDP: exactly the datagrams and bytes sent and received, single and batched", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      assert.isTrue(io.metrics)
      const before = yield* traffic(io.backend, "udp")
      yield* udpTraffic
      yield* settle
      const moved = difference(yield* traffic(io.backend, "udp"), before)
      const bytes = sum(SIZES)
      assert.deepInclude(moved, {
        messagesSent: 2 * SIZES.length,
        bytesSent: 2 * bytes,
        messagesReceived: 2 * SIZES.length,
        bytesReceived: 2 * bytes,
        // The histogram sees the ring's completions only, once per batch of them.
        batched: SIZES.length
      })
      assert.isTrue(moved.batches >= 1 && moved.batches <= SIZES.length, `${moved.batches} batches`)
    }))

  it.effect("TCP: slices sent, chunks received and their bytes, through the ring", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* traffic(io.backend, "tcp")
      let chunks = 0
      yield* Effect.scoped(Effect.gen(function*() {
        const memory = yield* RegisteredIo.allocateBuffer(8192)
        const slice = (offset: number, length: number) => memory.unsafeSlice(offset, length) as RioBuf.RioBuf
        const listener = yield* RegisteredSocket.listen({ port: 0 })
        const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
        const server = yield* listener.accept
        yield* client.sendMany(SIZES.slice(0, 5).map((size) => slice(0, size)))
        for (const size of SIZES.slice(5)) yield* client.sendAll(slice(0, size))
        yield* client.shutdown("write")
        for (;;) {
          const taken = yield* server.withReceived((batch) => Effect.succeed(batch.length))
          if (taken === 0) break
          chunks += taken
        }
      }))
      yield* settle
      const moved = difference(yield* traffic(io.backend, "tcp"), before)
      assert.deepInclude(moved, {
        messagesSent: SIZES.length,
        bytesSent: sum(SIZES),
        messagesReceived: chunks,
        bytesReceived: sum(SIZES),
        batched: chunks
      })
    }))

  it.effect("a failure counts once under its tag: a refused connect, a bad slice", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const read = metricValues({
        refused: errors(io.backend, "tcp", "WSAECONNREFUSED"),
        invalid: errors(io.backend, "udp", "WSAEINVAL")
      })
      const before = yield* read
      const port = yield* closedPort
      const refused = yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({ host: "127.0.0.1", port })))
      assert.strictEqual(refused._tag, "WSAECONNREFUSED")
      const invalid = yield* Effect.flip(Effect.scoped(Effect.flatMap(
        RegisteredSocket.udp(),
        (udp) => udp.sendTo({ bufferId: 99_999, offset: 0, length: 1 } as unknown as RioBuf.RioBuf, udp.address)
      )))
      assert.strictEqual(invalid._tag, "WSAEINVAL")
      assert.deepStrictEqual(difference(yield* read, before), { refused: 1, invalid: 1 })
    }))

  it.effect("a ring that runs out of slots counts once; the in-flight gauge follows a waiting receive", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const empty = metricValue("effect_rio_socket_receive_ring_empty", { backend: io.backend, protocol: "udp" })
      const inFlight = metricValue("effect_rio_socket_operations_in_flight", { backend: io.backend, protocol: "udp" })
      const emptyBefore = yield* empty
      const flightBefore = yield* inFlight
      yield* Effect.scoped(Effect.gen(function*() {
        const memory = yield* RegisteredIo.allocateBuffer(4096)
        const udp = yield* RegisteredSocket.udp({ receiveRing: { slots: 4, slotSize: 256 } })
        const waiting = yield* Effect.fork(udp.receiveFrom(memory.unsafeSlice(0, 256) as RioBuf.RioBuf))
        for (let i = 0; (yield* inFlight) === flightBefore && i < 1000; i++) yield* Effect.sleep("1 millis")
        assert.strictEqual(yield* inFlight, flightBefore + 1, "the receive is in the kernel")
        yield* Fiber.interrupt(waiting)
        yield* settle
        assert.strictEqual(yield* inFlight, flightBefore, "interrupted, it is not")
        // Every slot filled and held by this scope's batches: the ring is empty once.
        for (let i = 0; i < 4; i++) yield* udp.sendTo(memory.unsafeSlice(1024, 10) as RioBuf.RioBuf, udp.address)
        let held = 0
        while (held < 4) held += (yield* udp.receiveMany()).length
        yield* settle
        assert.strictEqual((yield* empty) - emptyBefore, 1)
      }))
      yield* settle
      assert.strictEqual(yield* inFlight, flightBefore)
    }))

  it.effect("withoutMetrics: the same traffic and a registration move no metric", () =>
    Effect.gen(function*() {
      const quiet = Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        assert.isFalse(io.metrics)
        const before = yield* Effect.all([
          traffic(io.backend, "udp"),
          metricValue("effect_rio_registrations", { backend: io.backend }),
          metricValue("effect_rio_socket_errors", { backend: io.backend })
        ])
        yield* udpTraffic
        yield* Effect.scoped(Effect.flatMap(RegisteredIo.allocateBuffer(100), (memory) =>
          Effect.sync(() => {
            assert.strictEqual(memory.byteLength, 100)
          })))
        yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({ host: "127.0.0.1", port: yield* closedPort })))
        yield* settle
        const after = yield* Effect.all([
          traffic(io.backend, "udp"),
          metricValue("effect_rio_registrations", { backend: io.backend }),
          metricValue("effect_rio_socket_errors", { backend: io.backend })
        ])
        assert.deepStrictEqual(after, before)
      })
      yield* Effect.provide(quiet, RegisteredIo.withoutMetrics(backend.layer))
    }))
})
