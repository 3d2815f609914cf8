/**
 * RegisteredSocket on every backend with sockets, under interruption, misuse and faults: random
 * interruption, dead and overlapping slices, typed errors, resets, load and a small completion queue.
 */
import { BufferPool, RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import { assert } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { describeSocketBackends } from "./describeBackends.js"
import { forkMaybeInterrupted, vmPinKiB } from "./processState.js"
import { echoesAgain, echoServer, fill, head, matches, receiveExactly, sizeOf, waitUntil } from "./socketParts.js"

describeSocketBackends("RegisteredSocket", (it, backend) => {
  it.effect.prop(
    "random interruption over send, receive and release: 0 tokens, 0 violations, stats and VmPin back",
    [FastCheck.array(
      FastCheck.record({
        kind: FastCheck.constantFrom("send", "receive", "tcpSend", "tcpReceive", "release"),
        interruptAfter: FastCheck.option(FastCheck.integer({ min: 0, max: 3 }), { nil: undefined })
      }),
      { minLength: 1, maxLength: 24 }
    )],
    ([operations]) =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const control = yield* Effect.serviceOption(RioTest.Control)
        const before = yield* io.stats
        const pinned = vmPinKiB()
        const sockets = yield* Scope.make()
        const a = yield* Scope.extend(RegisteredSocket.udp(), sockets)
        const b = yield* Scope.extend(RegisteredSocket.udp(), sockets)
        const listener = yield* Scope.extend(RegisteredSocket.listen({ port: 0 }), sockets)
        const accepting = yield* Effect.fork(Scope.extend(listener.accept, sockets))
        const client = yield* Scope.extend(
          RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port }),
          sockets
        )
        const server = yield* Fiber.join(accepting)
        const scope = yield* Scope.make()
        const registration = yield* Scope.extend(RegisteredIo.allocateBuffer(8192), scope)
        const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        let releasing: Fiber.RuntimeFiber<void> | undefined
        for (const [i, op] of operations.entries()) {
          const slice = registration.unsafeSlice((i % 16) * 512, 512)
          if (op.kind === "release") {
            releasing ??= yield* Effect.fork(Scope.close(scope, Exit.void))
            continue
          }
          if (slice instanceof Error) continue // the registration is already being released
          const run: Effect.Effect<unknown, unknown> = op.kind === "send"
            ? a.sendTo(slice, b.address)
            : op.kind === "receive"
            ? b.receiveFrom(slice)
            : op.kind === "tcpSend"
            ? client.send(slice)
            : server.receive(slice)
          fibers.push(yield* forkMaybeInterrupted(run, op.interruptAfter))
        }
        // What is still waiting (receives with nothing to receive) is interrupted: cancelled.
        yield* Fiber.interruptAll(fibers)
        assert.strictEqual(registration.inFlight, 0)
        yield* releasing === undefined ? Scope.close(scope, Exit.void) : Fiber.join(releasing)
        yield* Scope.close(sockets, Exit.void)
        assert.isTrue(registration.isReleased)
        assert.deepStrictEqual(yield* io.stats, before)
        assert.strictEqual(vmPinKiB(), pinned)
        if (Option.isSome(control)) {
          assert.deepStrictEqual(yield* control.value.violations, [])
          assert.strictEqual(yield* control.value.outstandingOperations, 0)
        }
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.scoped("a returned lease's buf is dead: WSAEINVAL before any I/O, even once another fiber holds its slot", () =>
    Effect.gen(function*() {
      const socket = yield* RegisteredSocket.udp()
      const pool = yield* BufferPool.make({ slotSize: 64, slots: 1 })
      const kept = yield* pool.withLease((lease) => Effect.succeed(lease))
      const refused = yield* Effect.flip(socket.sendTo(kept.buf, socket.address))
      assert.strictEqual(refused._tag, "WSAEINVAL")
      assert.strictEqual(refused.operation, "sendTo")
      assert.include(refused.message, "went back to its pool")
      // The only slot, now another holder's: the kept lease still cannot reach it.
      yield* pool.withLease((next) =>
        Effect.gen(function*() {
          assert.notStrictEqual(next, kept)
          assert.strictEqual(next.slot, kept.slot)
          assert.strictEqual((yield* Effect.flip(socket.receiveFrom(kept.buf)))._tag, "WSAEINVAL")
          next.bytes.set([1, 2, 3])
          assert.strictEqual(yield* socket.sendTo({ ...next.buf, length: 3 }, socket.address), 3)
          const got = yield* socket.receiveFrom(next.buf)
          assert.deepStrictEqual([...next.bytes.subarray(0, got.length)], [1, 2, 3])
        })
      )
      // A lease held through a scope dies when the scope closes.
      const scoped = yield* Effect.scoped(pool.lease)
      assert.strictEqual((yield* Effect.flip(socket.sendTo(scoped.buf, socket.address)))._tag, "WSAEINVAL")
    }))

  it.scoped("two receives in flight into overlapping bytes: the second is WSAEINVAL; disjoint ones both land", () =>
    Effect.gen(function*() {
      const udp = yield* RegisteredSocket.udp()
      const other = yield* RegisteredSocket.udp()
      const target = yield* RegisteredIo.registerBuffer(new Uint8Array(256))
      const first = yield* Effect.fork(udp.receiveFrom(target.unsafeSlice(0, 64) as RioBuf.RioBuf))
      yield* Effect.yieldNow()
      // Overlapping by one byte, from the same socket and from another one.
      const same = yield* Effect.flip(udp.receiveFrom(target.unsafeSlice(63, 64) as RioBuf.RioBuf))
      assert.strictEqual(same._tag, "WSAEINVAL")
      assert.strictEqual(same.operation, "receiveFrom")
      assert.include(same.message, "overlap [0, 64)")
      const elsewhere = yield* Effect.flip(other.receiveFrom(target.unsafeSlice(0, 1) as RioBuf.RioBuf))
      assert.strictEqual(elsewhere._tag, "WSAEINVAL")
      // Disjoint bytes of the same registration are fine, and the refusals took nothing.
      const second = yield* Effect.fork(udp.receiveFrom(target.unsafeSlice(64, 64) as RioBuf.RioBuf))
      const source = yield* RegisteredIo.registerBuffer(new Uint8Array([7, 8, 9]))
      yield* other.sendTo(source.unsafeSlice(0, 3) as RioBuf.RioBuf, udp.address)
      yield* other.sendTo(source.unsafeSlice(0, 2) as RioBuf.RioBuf, udp.address)
      const lengths = [(yield* Fiber.join(first)).length, (yield* Fiber.join(second)).length].sort()
      assert.deepStrictEqual(lengths, [2, 3])
      // Once the first receive completed, its bytes can be received into again.
      const again = yield* Effect.fork(udp.receiveFrom(target.unsafeSlice(32, 64) as RioBuf.RioBuf))
      yield* other.sendTo(source.unsafeSlice(0, 1) as RioBuf.RioBuf, udp.address)
      assert.strictEqual((yield* Fiber.join(again)).length, 1)
    }))

  it.scoped("overlapping TCP receives are refused the same way; the stream goes on intact", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* listener.accept
      const target = yield* RegisteredIo.registerBuffer(new Uint8Array(128))
      const first = yield* Effect.fork(server.receive(target.unsafeSlice(0, 64) as RioBuf.RioBuf))
      yield* Effect.yieldNow()
      const refused = yield* Effect.flip(server.receive(target.unsafeSlice(10, 10) as RioBuf.RioBuf))
      assert.strictEqual(refused._tag, "WSAEINVAL")
      assert.strictEqual(refused.operation, "receive")
      const source = yield* RegisteredIo.registerBuffer(new Uint8Array([1, 2, 3, 4]))
      yield* client.sendAll(source.unsafeSlice(0, 4) as RioBuf.RioBuf)
      assert.strictEqual(yield* Fiber.join(first), 4)
      assert.deepStrictEqual([...target.bytes.subarray(0, 4)], [1, 2, 3, 4])
    }))

  it.scoped("bad slices: released, foreign, unknown or past the end — typed, before any I/O", () =>
    Effect.gen(function*() {
      const socket = yield* RegisteredSocket.udp()
      const stale = yield* Effect.scoped(
        Effect.map(RegisteredIo.registerBuffer(new Uint8Array(64)), (r) => r.unsafeSlice(0, 8) as RioBuf.RioBuf)
      )
      assert.strictEqual((yield* Effect.flip(socket.sendTo(stale, socket.address)))._tag, "WSAEINVAL")
      const other = Context.get(yield* Layer.build(RioTest.layer()), RegisteredIo.RegisteredIo)
      const foreign = yield* other.registerBuffer(new Uint8Array(64))
      const error = yield* Effect.flip(socket.sendTo(foreign.unsafeSlice(0, 8) as RioBuf.RioBuf, socket.address))
      assert.strictEqual(error._tag, "WSAEINVAL")
      assert.include(error.message, "another backend")
      const mine = yield* RegisteredIo.registerBuffer(new Uint8Array(64))
      const literal = (bufferId: number, offset: number, length: number) =>
        ({ bufferId, offset, length }) as RioBuf.RioBuf
      assert.strictEqual((yield* Effect.flip(socket.receiveFrom(literal(9999, 0, 8))))._tag, "WSAEINVAL")
      const pastEnd = yield* Effect.flip(socket.receiveFrom(literal(mine.id, 60, 8)))
      assert.strictEqual(pastEnd._tag, "WSAEFAULT")
      assert.strictEqual(pastEnd.operation, "receiveFrom")
      // Not the words of a bad slice() call: this one names the registration's end it runs past.
      assert.include(pastEnd.message, `runs past the end of registration ${mine.id} (64 bytes)`)
      assert.strictEqual((yield* Effect.flip(socket.receiveFrom(literal(mine.id, 0, 0))))._tag, "WSAEINVAL")
      assert.strictEqual(
        (yield* Effect.flip(socket.sendTo(literal(mine.id, 0, 8), { host: "example.org", port: 1 })))._tag,
        "WSAEADDRNOTAVAIL"
      )
      assert.strictEqual(
        (yield* Effect.flip(socket.sendTo(literal(mine.id, 0, 8), { host: "127.0.0.1", port: 70000 })))._tag,
        "WSAEINVAL"
      )
      // Destinations are checked the same on every backend, before any I/O: port 0, and an
      // IPv6 peer for a socket bound to IPv4 (each kernel words these differently, or not at all).
      for (
        const send of [
          (to: RegisteredSocket.SocketAddress) => socket.sendTo(literal(mine.id, 0, 8), to),
          (to: RegisteredSocket.SocketAddress) => socket.sendMany([{ buf: literal(mine.id, 0, 8), to }])
        ]
      ) {
        const portZero = yield* Effect.flip(send({ host: "127.0.0.1", port: 0 }))
        assert.strictEqual(portZero._tag, "WSAEINVAL")
        assert.include(portZero.message, "Port 0 is not a destination")
        const family = yield* Effect.flip(send({ host: "::1", port: socket.address.port }))
        assert.strictEqual(family._tag, "WSAEAFNOSUPPORT")
        assert.strictEqual(family.code, 10047)
        assert.include(family.message, "IPv4 address 127.0.0.1")
      }
      assert.strictEqual(mine.inFlight, 0)
      // A literal slice of a live registration works like the registration's own.
      const echo = yield* RegisteredSocket.udp()
      mine.bytes.set([5, 6, 7])
      yield* echo.sendTo(literal(mine.id, 0, 3), socket.address)
      assert.strictEqual((yield* socket.receiveFrom(literal(mine.id, 8, 8))).length, 3)
      assert.deepStrictEqual([...mine.bytes.subarray(8, 11)], [5, 6, 7])
    }))

  it.scoped("refused, in use and too large are typed errors; nothing leaks and the process goes on", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const pool = yield* BufferPool.make({ slotSize: 256, slots: 4 })
      const before = yield* io.stats
      const closedPort = yield* Effect.scoped(Effect.map(RegisteredSocket.listen({ port: 0 }), (l) => l.address.port))
      assert.strictEqual(
        (yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({ host: "127.0.0.1", port: closedPort }))))._tag,
        "WSAECONNREFUSED"
      )
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      assert.strictEqual(
        (yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ port: listener.address.port }))))._tag,
        "WSAEADDRINUSE"
      )
      const udp = yield* RegisteredSocket.udp()
      assert.strictEqual(
        (yield* Effect.flip(Effect.scoped(RegisteredSocket.udp({ port: udp.address.port }))))._tag,
        "WSAEADDRINUSE"
      )
      // A datagram larger than the slice: WSAEMSGSIZE, its first bytes in the slice.
      const sender = yield* RegisteredSocket.udp()
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          fill(lease.bytes.subarray(0, 100), 7)
          yield* sender.sendTo(head(lease, 100), udp.address)
        })
      )
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(udp.receiveFrom(head(lease, 10)))
          assert.strictEqual(error._tag, "WSAEMSGSIZE")
          assert.strictEqual(error.code, 10040)
          // Who sent it, and (where the backend learns it) how large it was: enough to log it.
          if (error._tag === "WSAEMSGSIZE") {
            assert.deepStrictEqual(error.address, sender.address)
            assert.include(error.message, `${sender.address.host}:${sender.address.port}`)
            assert.strictEqual(error.size, backend.sockets?.truncatedSizeUnknown === undefined ? 100 : undefined)
          }
          const expected = new Uint8Array(100)
          fill(expected, 7)
          assert.deepStrictEqual([...lease.bytes.subarray(0, 10)], [...expected.subarray(0, 10)])
        })
      )
      // Healthy afterwards: a new connection echoes, and the registrations are the pool's alone.
      yield* echoesAgain(pool, listener)
      assert.deepStrictEqual(yield* io.stats, before, "nothing registered beyond the pool")
    }))

  const resetCase = "a peer that closes with unread data resets the stream mid-stream: WSAECONNRESET, nothing leaks"
  it.scoped.skipIf(backend.sockets?.cannotReset !== undefined)(
    backend.sockets?.cannotReset === undefined ? resetCase : `${resetCase} — skipped: ${backend.sockets.cannotReset}`,
    () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const pool = yield* BufferPool.make({ slotSize: 256, slots: 4 })
        const before = yield* io.stats
        const listener = yield* RegisteredSocket.listen({ port: 0 })
        // A peer that closes with unread data resets the connection mid-stream.
        const accepted = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const stream = yield* listener.accept
          yield* pool.withLease((lease) => receiveExactly(stream, lease, 1))
        })))
        const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
        const reset = yield* pool.withLease((lease) =>
          Effect.gen(function*() {
            yield* client.sendAll(head(lease, 200))
            yield* Fiber.join(accepted)
            for (let i = 0; i < 100; i++) {
              const outcome = yield* Effect.either(client.receive(lease.buf))
              if (outcome._tag === "Left") return outcome.left._tag
              if (outcome.right === 0) return "end of stream"
            }
            return "no reset"
          })
        )
        assert.strictEqual(reset, "WSAECONNRESET")
        // Healthy afterwards: a new connection echoes, and the registrations are the pool's alone.
        yield* echoesAgain(pool, listener)
        assert.deepStrictEqual(yield* io.stats, before, "nothing registered beyond the pool")
      })
  )

  it.scoped("load: 64 TCP connections × 1,000 round trips, every byte checked", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 512, slots: 160 })
      const listener = yield* RegisteredSocket.listen({ port: 0, backlog: 128 })
      yield* Effect.forkScoped(echoServer(pool, listener))
      let checked = 0
      yield* Effect.forEach(Array.from({ length: 64 }, (_, i) => i), (connection) =>
        Effect.scoped(Effect.gen(function*() {
          const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
          yield* pool.withLease((lease) =>
            Effect.gen(function*() {
              for (let round = 0; round < 1000; round++) {
                const id = connection * 1000 + round
                const size = sizeOf(id, 512)
                fill(lease.bytes.subarray(0, size), id)
                yield* stream.sendAll(head(lease, size))
                lease.bytes.fill(0)
                yield* receiveExactly(stream, lease, size)
                if (!matches(lease.bytes.subarray(0, size), id)) {
                  assert.fail(`message ${id} came back changed`)
                }
                checked++
              }
            })
          )
        })), { concurrency: "unbounded", discard: true })
      assert.strictEqual(checked, 64_000)
    }))

  it.effect("a completion queue of 8 with 256 receives outstanding loses nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 64, slots: 256 })
      const receiver = yield* RegisteredSocket.udp({ maxOutstandingReceives: 256 })
      const sender = yield* RegisteredSocket.udp({ maxOutstandingSends: 256 })
      const received = new Set<number>()
      const receives = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 256 }), () =>
          pool.withLease((lease) =>
            Effect.gen(function*() {
              const datagram = yield* receiver.receiveFrom(lease.buf)
              assert.strictEqual(datagram.length, 64)
              const id = lease.bytes[0]! | (lease.bytes[1]! << 8)
              assert.isTrue(matches(lease.bytes.subarray(2, 64), id))
              received.add(id)
            })
          ), { concurrency: "unbounded", discard: true })
      )
      // Each receive holds a token on the pool's registration, and so does each of the 256 leases.
      yield* waitUntil(() => pool.registration.inFlight === 512, "256 receives are outstanding")
      const data = yield* RegisteredIo.allocateBuffer(256 * 64)
      yield* Effect.forEach(Array.from({ length: 256 }, (_, id) => id), (id) =>
        Effect.gen(function*() {
          const bytes = data.bytes.subarray(id * 64, id * 64 + 64)
          bytes[0] = id & 0xff
          bytes[1] = id >> 8
          fill(bytes.subarray(2), id)
          yield* sender.sendTo(yield* data.slice(id * 64, 64), receiver.address)
        }), { concurrency: "unbounded", discard: true })
      yield* Fiber.join(receives)
      assert.strictEqual(received.size, 256)
    })).pipe(Effect.provide(backend.sockets!.withCompletionQueue(8))))
})
