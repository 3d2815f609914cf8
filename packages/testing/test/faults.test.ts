/**
 * The double's network faults seen through the public API, as an application's tests would
 * use them: `RegisteredSocket` on `RioTest.layer()`, steered by `RioTest.Control`.
 */
import { BufferPool, RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"

const withDouble = <A, E>(
  effect: Effect.Effect<A, E, RegisteredIo.RegisteredIo | RioTest.Control | Scope.Scope>
) => Effect.scoped(effect).pipe(Effect.provide(RioTest.layer()))

describe("RioTest network faults through RegisteredSocket", () => {
  it.live("limitChunk: short writes and reads, and sendAll still delivers every byte in order", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      const pool = yield* BufferPool.make({ slotSize: 1000, slots: 2 })
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const accepted = yield* Effect.fork(listener.accept)
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* Fiber.join(accepted)
      yield* control.limitChunk(7)
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          for (let i = 0; i < 1000; i++) lease.bytes[i] = i & 0xff
          assert.strictEqual(yield* client.send(lease.buf), 7, "one send moves one chunk")
          yield* client.sendAll({ ...lease.buf, offset: lease.buf.offset + 7, length: 993 })
        })
      )
      const received = yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          let total = 0
          while (total < 1000) {
            const n = yield* server.receive({ ...lease.buf, offset: lease.buf.offset + total, length: 1000 - total })
            assert.isAtMost(n, 7)
            total += n
          }
          return Array.from(lease.bytes)
        })
      )
      assert.deepStrictEqual(received, Array.from({ length: 1000 }, (_, i) => i & 0xff))
      const [bytes] = yield* control.connectionBytes
      assert.isDefined(bytes)
    })))

  it.live("resetConnections: both ends fail with WSAECONNRESET", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      const pool = yield* BufferPool.make({ slotSize: 64, slots: 2 })
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const accepted = yield* Effect.fork(listener.accept)
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* Fiber.join(accepted)
      const pending = yield* Effect.fork(pool.withLease((lease) => server.receive(lease.buf)))
      yield* Effect.sleep("5 millis")
      assert.strictEqual(yield* control.outstandingOperations, 1)
      yield* control.resetConnections
      assert.strictEqual((yield* Effect.flip(Fiber.join(pending)))._tag, "WSAECONNRESET")
      const error = yield* Effect.flip(pool.withLease((lease) => client.send(lease.buf)))
      assert.strictEqual(error._tag, "WSAECONNRESET")
      assert.strictEqual(yield* control.outstandingOperations, 0)
    })))

  it.live("dropDatagrams and duplicateDatagrams change what arrives, nothing else", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      const pool = yield* BufferPool.make({ slotSize: 16, slots: 2 })
      const a = yield* RegisteredSocket.udp()
      const b = yield* RegisteredSocket.udp()
      const send = (value: number) =>
        pool.withLease((lease) =>
          Effect.gen(function*() {
            lease.bytes[0] = value
            yield* a.sendTo({ ...lease.buf, length: 1 }, b.address)
          })
        )
      const receive = pool.withLease((lease) =>
        Effect.map(b.receiveFrom(lease.buf), ({ length }) => {
          assert.strictEqual(length, 1)
          return lease.bytes[0]
        })
      )
      yield* control.dropDatagrams(1)
      yield* send(1)
      yield* control.duplicateDatagrams(1)
      yield* send(2)
      yield* send(3)
      assert.strictEqual(yield* control.datagramsInFlight, 3)
      assert.deepStrictEqual([yield* receive, yield* receive, yield* receive], [2, 2, 3])
      assert.strictEqual(yield* control.datagramsInFlight, 0)
    })))

  it.live("the datagram faults reach the batch API too: sendMany and receiveMany see drops, doubles and reordering", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      const out = yield* RegisteredIo.allocateBuffer(8)
      for (let i = 0; i < 8; i++) out.bytes[i] = i
      const a = yield* RegisteredSocket.udp()
      const b = yield* RegisteredSocket.udp({ receiveRing: { slots: 16, slotSize: 8 } })
      const datagrams = (values: ReadonlyArray<number>) =>
        values.map((value) => ({ buf: out.unsafeSlice(value, 1) as RioBuf.RioBuf, to: b.address }))
      const receive = (count: number) =>
        Effect.gen(function*() {
          const seen: Array<number> = []
          while (seen.length < count) {
            yield* b.withReceived((batch) => Effect.sync(() => batch.forEach((d) => seen.push(d.bytes[0]!))))
          }
          // Nothing more arrives than what the faults let through.
          yield* Effect.sleep("10 millis")
          assert.isNull(
            yield* Effect.timeoutOption(Effect.scoped(b.receiveMany()), "10 millis").pipe(
              Effect.map((option) => option._tag === "None" ? null : option.value.map((d) => d.bytes[0]))
            )
          )
          return seen
        })
      yield* control.dropDatagrams(2)
      assert.strictEqual(yield* a.sendMany(datagrams([0, 1, 2, 3])), 4, "a lost datagram was still sent")
      assert.deepStrictEqual(yield* receive(2), [2, 3])
      yield* control.duplicateDatagrams(1)
      yield* a.sendMany(datagrams([4, 5]))
      assert.deepStrictEqual(yield* receive(3), [4, 4, 5])
      yield* control.reorderDatagrams(3)
      yield* a.sendMany(datagrams([5, 6, 7]))
      assert.deepStrictEqual(yield* receive(3), [7, 6, 5])
      assert.deepStrictEqual(yield* control.violations, [])
    })))
})
