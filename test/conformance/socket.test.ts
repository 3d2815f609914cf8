/**
 * `RegisteredSocket` conformance: the same UDP and TCP behaviour on every backend with
 * sockets — the double's in-memory network and the kernels — with every byte checked.
 */
import { BufferPool, RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { describeSocketBackends } from "./describeBackends.js"
import { echoServer, fill, head, matches, part, receiveExactly, sizeOf, waitUntil } from "./socketParts.js"

describeSocketBackends("RegisteredSocket", (it) => {
  it.scoped("UDP echo: 10,000 datagrams of random sizes from 16 clients, every byte checked", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 1500, slots: 64 })
      const server = yield* RegisteredSocket.udp()
      yield* Effect.forkScoped(Effect.all(
        Array.from(
          { length: 8 },
          () =>
            pool.withLease((lease) =>
              Effect.forever(
                Effect.flatMap(
                  server.receiveFrom(lease.buf),
                  ({ address, length }) => server.sendTo(head(lease, length), address)
                )
              )
            )
        ),
        { concurrency: "unbounded" }
      ))
      let checked = 0
      yield* Effect.forEach(
        Array.from({ length: 16 }, (_, worker) => worker),
        (worker) =>
          Effect.scoped(Effect.gen(function*() {
            const client = yield* RegisteredSocket.udp()
            yield* pool.withLease((lease) =>
              Effect.gen(function*() {
                for (let id = worker; id < 10_000; id += 16) {
                  const size = sizeOf(id, 1472)
                  fill(lease.bytes.subarray(0, size), id)
                  assert.strictEqual(yield* client.sendTo(head(lease, size), server.address), size)
                  lease.bytes.fill(0)
                  const reply = yield* client.receiveFrom(lease.buf)
                  assert.strictEqual(reply.length, size)
                  assert.deepStrictEqual(reply.address, server.address)
                  assert.isTrue(matches(lease.bytes.subarray(0, size), id), `datagram ${id}`)
                  checked++
                }
              })
            )
          })),
        { concurrency: 16, discard: true }
      )
      assert.strictEqual(checked, 10_000)
    }))

  it.scoped("TCP echo: 10,000 messages of random sizes over 4 connections, every byte checked", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 16384, slots: 16 })
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      assert.isAbove(listener.address.port, 0)
      yield* Effect.forkScoped(echoServer(pool, listener))
      let checked = 0
      yield* Effect.forEach([0, 1, 2, 3], (connection) =>
        Effect.scoped(Effect.gen(function*() {
          const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
          assert.deepStrictEqual(stream.remoteAddress, listener.address)
          yield* pool.withLease((lease) =>
            Effect.gen(function*() {
              for (let id = connection; id < 10_000; id += 4) {
                const size = sizeOf(id, 16384)
                fill(lease.bytes.subarray(0, size), id)
                yield* stream.sendAll(head(lease, size))
                lease.bytes.fill(0)
                yield* receiveExactly(stream, lease, size)
                assert.isTrue(matches(lease.bytes.subarray(0, size), id), `message ${id}`)
                checked++
              }
              yield* stream.shutdown()
              assert.strictEqual(yield* stream.receive(lease.buf), 0, "the server's end of stream")
            })
          )
        })), { concurrency: 4, discard: true })
      assert.strictEqual(checked, 10_000)
    }))

  it.scoped("a TCP stream read in 7-byte pieces is reassembled exactly", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 65536, slots: 2 })
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const received = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        const stream = yield* listener.accept
        return yield* pool.withLease((lease) =>
          Effect.gen(function*() {
            const pieces: Array<Uint8Array> = []
            for (let at = 0;;) {
              const n = yield* stream.receive(part(lease, at % 65529, 7))
              if (n === 0) break
              pieces.push(lease.bytes.slice(at % 65529, at % 65529 + n))
              at += n
            }
            return Buffer.concat(pieces)
          })
        )
      })))
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          fill(lease.bytes, 42)
          yield* client.sendAll(lease.buf)
          yield* client.shutdown("write")
        })
      )
      const bytes = yield* Fiber.join(received)
      assert.strictEqual(bytes.length, 65536)
      assert.isTrue(matches(bytes, 42))
    }))

  it.scoped("half-close: the peer reads to the end, still replies, then ends its side", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 256, slots: 4 })
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const server = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        const stream = yield* listener.accept
        yield* pool.withLease((lease) =>
          Effect.gen(function*() {
            let total = 0
            for (let n = -1; n !== 0;) {
              n = yield* stream.receive(part(lease, total, 256 - total))
              total += n
            }
            assert.strictEqual(new TextDecoder().decode(lease.bytes.subarray(0, total)), "question")
            lease.bytes.set(new TextEncoder().encode("answer"))
            yield* stream.sendAll(head(lease, 6))
            yield* stream.shutdown()
          })
        )
      })))
      const client = yield* RegisteredSocket.connect({ host: "localhost", port: listener.address.port })
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          lease.bytes.set(new TextEncoder().encode("question"))
          yield* client.sendAll(head(lease, 8))
          yield* client.shutdown("write")
          assert.strictEqual((yield* Effect.flip(client.send(head(lease, 1))))._tag, "WSAESHUTDOWN")
          lease.bytes.fill(0)
          yield* receiveExactly(client, lease, 6)
          assert.strictEqual(new TextDecoder().decode(lease.bytes.subarray(0, 6)), "answer")
          assert.strictEqual(yield* client.receive(lease.buf), 0)
        })
      )
      yield* Fiber.join(server)
    }))

  it.effect("release waits for an outstanding receive; the completion lets it finish", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const outer = yield* Scope.make()
      const socket = yield* Scope.extend(RegisteredSocket.udp(), outer)
      const sender = yield* Scope.extend(RegisteredSocket.udp(), outer)
      const scope = yield* Scope.make()
      const registration = yield* Scope.extend(RegisteredIo.allocateBuffer(4096), scope)
      const receiving = yield* Effect.fork(socket.receiveFrom(yield* registration.slice(0, 512)))
      yield* waitUntil(() => registration.inFlight === 1, "the receive holds its token")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.sleep("20 millis")
      assert.isNull(closing.unsafePoll(), "release must wait for the receive")
      assert.strictEqual((yield* io.stats).registeredBuffers, before.registeredBuffers + 1)
      yield* Effect.scoped(Effect.gen(function*() {
        const data = yield* RegisteredIo.registerBuffer(new Uint8Array([1, 2, 3]))
        yield* sender.sendTo(yield* data.slice(0, 3), socket.address)
      }))
      const datagram = yield* Fiber.join(receiving)
      assert.strictEqual(datagram.length, 3)
      yield* Fiber.join(closing)
      assert.isTrue(registration.isReleased)
      yield* Scope.close(outer, Exit.void)
      assert.deepStrictEqual(yield* io.stats, before)
    }))

  it.scoped("interrupting a pending receive cancels it; its token returns only with the completion", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 64, slots: 2 })
      const socket = yield* RegisteredSocket.udp()
      const sender = yield* RegisteredSocket.udp()
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const registration = pool.registration
      const slice = registration.unsafeSlice(0, 64) as RioBuf.RioBuf
      const before = Uint8Array.from({ length: 64 }, (_, i) => 200 - i)
      const contents = registration.bytes.subarray(0, 64)
      contents.set(before)
      const pendings: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
        socket.receiveFrom(slice),
        client.receive(slice)
      ]
      for (const pending of pendings) {
        const fiber = yield* Effect.fork(pending)
        yield* waitUntil(() => registration.inFlight === 1, "the operation holds its token")
        const exit = yield* Fiber.interrupt(fiber)
        assert.isTrue(Exit.isInterrupted(exit))
        // Interruption returned after the cancelled completion: nothing is in flight any more.
        assert.strictEqual(registration.inFlight, 0)
        // ...and the slice is as it was (Winsock's cancelling datagram is taken back out of it).
        assert.deepStrictEqual([...contents], [...before], "an interrupted receive leaves its slice unchanged")
      }
      // The socket is healthy and the cancelled receive took nothing.
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          lease.bytes.set([9, 8, 7])
          yield* sender.sendTo(head(lease, 3), socket.address)
          lease.bytes.fill(0)
          const datagram = yield* socket.receiveFrom(lease.buf)
          assert.deepStrictEqual([...lease.bytes.subarray(0, datagram.length)], [9, 8, 7])
        })
      )
    }))
})
