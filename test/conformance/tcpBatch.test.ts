/**
 * TCP batches conformance: `receiveMany`/`withReceived` from a stream's receive ring (a
 * listener's shared one, or a connected stream's own) and `sendMany`, the same on every
 * backend with sockets, every byte checked by its position in the stream.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { describeSocketBackends } from "./describeBackends.js"
import { batchCalls, leavesNothingBehind, vmPinKiB } from "./processState.js"
import { byteAt, cuts, echoServer, echoStream, readToEnd, resetting, source } from "./streams.js"

describeSocketBackends("TCP batches", (it, backend) => {
  it.scoped("echo: 1 MiB in slices of 1..3000 bytes over 4 streams sharing one ring, every byte checked", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slotSize: 1024, slots: 64 } })
      yield* echoServer(listener)
      const quarter = 256 * 1024
      yield* Effect.forEach([1, 2, 3, 4], (seed) =>
        Effect.scoped(Effect.gen(function*() {
          const client = yield* RegisteredSocket.connect({
            host: "127.0.0.1",
            port: listener.address.port,
            receiveRing: { slotSize: 2048, slots: 32 }
          })
          const out = yield* source(quarter, seed)
          const slices = cuts(quarter, 3000).map(([at, size]) => out.slice(at, size))
          const sending = yield* Effect.fork(Effect.gen(function*() {
            for (let i = 0; i < slices.length; i += 8) yield* client.sendMany(slices.slice(i, i + 8))
            yield* client.shutdown("write")
          }))
          assert.strictEqual(yield* readToEnd(client, seed), quarter)
          yield* Fiber.join(sending)
        })), { concurrency: "unbounded" })
      const ring = yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
        yield* client.shutdown("write")
        yield* readToEnd(client, 0)
        return yield* client.receiveRing
      }))
      assert.strictEqual(ring?.slotSize, 4096, "a connected stream's own ring, default size")
    }))

  it.scoped("a listener's streams share one registration; one that is never read cannot starve the others", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slotSize: 64, slots: 8 } })
      const before = yield* io.stats
      const idle = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const idleServer = yield* listener.accept
      const busy = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const busyServer = yield* listener.accept
      const out = yield* source(4096, 5)
      // The idle stream's server side takes one batch and keeps it; the rest waits in the kernel.
      yield* idle.sendAll(out.slice(0, 4096))
      // A scope of its own, closed by the test's if an assertion fails first.
      const held = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      const first = yield* Scope.extend(idleServer.receiveMany(), held)
      assert.isAtLeast(first.length, 1)
      yield* Effect.sleep("20 millis")
      // A quarter of 8 slots is the idle stream's share: the busy one still echoes.
      yield* Effect.forkScoped(echoStream(busyServer))
      const echo = yield* source(640, 6)
      yield* busy.sendMany([echo.slice(0, 320), echo.slice(320, 320)])
      yield* busy.shutdown("write")
      assert.strictEqual(yield* readToEnd(busy, 6), 640)
      const during = yield* io.stats
      assert.strictEqual(
        during.registeredBuffers,
        before.registeredBuffers + 1 + 1 + 2,
        "the streams' shared ring, the busy client's own, two sources"
      )
      // Released: the idle stream's bytes come on, intact and in order.
      let position = 0
      for (const chunk of first) {
        for (let i = 0; i < chunk.bytes.length; i++) assert.strictEqual(chunk.bytes[i], byteAt(position + i, 5))
        position += chunk.bytes.length
      }
      yield* Scope.close(held, Exit.void)
      yield* idle.shutdown("write")
      let rest = 0
      for (;;) {
        const chunks = yield* idleServer.withReceived((chunks) =>
          Effect.sync(() => {
            for (const chunk of chunks) {
              for (let i = 0; i < chunk.bytes.length; i++) {
                assert.strictEqual(chunk.bytes[i], byteAt(position + rest + i, 5))
              }
              rest += chunk.bytes.length
            }
            return chunks.length
          })
        )
        if (chunks === 0) break
      }
      assert.strictEqual(position + rest, 4096, "nothing lost")
    }))

  it.scoped("a ring that runs empty: every slot held, the peer keeps sending; after release nothing is lost", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const client = yield* RegisteredSocket.connect({
        host: "127.0.0.1",
        port: listener.address.port,
        receiveRing: { slotSize: 64, slots: 4 }
      })
      const server = yield* listener.accept
      const out = yield* source(65536, 8)
      const sending = yield* Effect.fork(Effect.zipRight(server.sendAll(out.slice(0, 65536)), server.shutdown("write")))
      const held = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      let position = 0
      let holding = 0
      while (holding < 4) {
        const batch = yield* Scope.extend(client.receiveMany(), held)
        for (const chunk of batch) {
          for (let i = 0; i < chunk.bytes.length; i++) assert.strictEqual(chunk.bytes[i], byteAt(position + i, 8))
          position += chunk.bytes.length
        }
        holding += batch.length
      }
      const nothing = yield* Effect.timeoutOption(Effect.scoped(client.receiveMany()), "20 millis")
      assert.isTrue(Option.isNone(nothing), "nothing more arrives while every slot is held")
      yield* Scope.close(held, Exit.void)
      let rest = 0
      for (;;) {
        const count = yield* client.withReceived((chunks) =>
          Effect.sync(() => {
            for (const chunk of chunks) {
              for (let i = 0; i < chunk.bytes.length; i++) {
                if (chunk.bytes[i] !== byteAt(position + rest + i, 8)) assert.fail(`byte ${position + rest + i}`)
              }
              rest += chunk.bytes.length
            }
            return chunks.length
          })
        )
        if (count === 0) break
      }
      assert.strictEqual(position + rest, 65536)
      yield* Fiber.join(sending)
    }))

  it.scoped("half-close: each side reads to the other's end, and still sends after its own reading ended", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* listener.accept
      const request = yield* source(1000, 1)
      const reply = yield* source(300, 2)
      yield* client.sendMany([request.slice(0, 400), request.slice(400, 600)])
      yield* client.shutdown("write")
      assert.strictEqual(yield* readToEnd(server, 1), 1000)
      assert.deepStrictEqual(yield* Effect.scoped(server.receiveMany()), [], "the end, again")
      yield* server.sendMany([reply.slice(0, 300)])
      yield* server.shutdown("write")
      assert.strictEqual(yield* readToEnd(client, 2), 300)
      assert.strictEqual((yield* Effect.flip(client.sendMany([request.slice(0, 1)])))._tag, "WSAESHUTDOWN")
    }))

  it.scoped("interrupting a waiting receiveMany loses nothing: the next call gets what arrived", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* listener.accept
      const waiting = yield* Effect.fork(Effect.scoped(server.receiveMany()))
      yield* Effect.sleep("5 millis")
      yield* Fiber.interrupt(waiting)
      const out = yield* source(100, 3)
      yield* client.sendMany([out.slice(0, 100)])
      yield* client.shutdown("write")
      assert.strictEqual(yield* readToEnd(server, 3), 100)
    }))

  it.scoped("bad input is typed and sends nothing: bad slices, max, ring sizes; receive beside the ring", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* listener.accept
      const out = yield* source(128, 4)
      const pastEnd = { ...out.slice(64, 64), length: 65 }
      assert.strictEqual((yield* Effect.flip(client.sendMany([out.slice(0, 64), pastEnd])))._tag, "WSAEFAULT")
      assert.strictEqual(
        (yield* Effect.flip(
          client.sendMany([out.slice(0, 64), { ...out.slice(0, 1), bufferId: 99_999 } as unknown as RioBuf.RioBuf])
        ))._tag,
        "WSAEINVAL"
      )
      yield* client.sendMany([])
      const nothing = yield* Effect.timeoutOption(Effect.scoped(server.receiveMany()), "30 millis")
      assert.isTrue(Option.isNone(nothing), "nothing of a refused batch was sent")
      for (const max of [0, -1, 1.5, Number.NaN]) {
        assert.strictEqual((yield* Effect.flip(Effect.scoped(server.receiveMany(max))))._tag, "WSAEINVAL")
      }
      const receiving = yield* Effect.flip(server.receive(out.slice(0, 64)))
      assert.strictEqual(receiving._tag, "WSAEINVAL", "a receive of its own beside the ring")
      const port = listener.address.port
      for (
        const receiveRing of [
          { slots: 0 },
          { slots: 40_000 },
          { slotSize: 0 },
          { slotSize: 2_000_000 },
          { maxPerStream: 0 },
          { slots: 4, maxPerStream: 5 }
        ]
      ) {
        assert.strictEqual((yield* Effect.flip(RegisteredSocket.listen({ port: 0, receiveRing })))._tag, "WSAEINVAL")
        const connecting = RegisteredSocket.connect({ host: "127.0.0.1", port, receiveRing })
        assert.strictEqual((yield* Effect.flip(Effect.scoped(connecting)))._tag, "WSAEINVAL")
      }
    }))

  it.effect("one way of receiving per stream; a use that throws still gives its chunks back", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      yield* Effect.scoped(Effect.gen(function*() {
        const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slots: 4, slotSize: 64 } })
        const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
        const server = yield* listener.accept
        const out = yield* source(64, 14)
        const inbox = yield* source(64, 15)
        const receiving = yield* Effect.fork(server.receive(inbox.slice(0, 64)))
        yield* Effect.sleep("5 millis")
        const refused = yield* Effect.flip(Effect.scoped(server.receiveMany()))
        assert.strictEqual(refused._tag, "WSAEINVAL", "a receive of its own is in flight")
        // Completed, not interrupted: on Winsock RIO a cancelled TCP receive closes its stream.
        yield* client.sendMany([out.slice(0, 64)])
        assert.strictEqual(yield* Fiber.join(receiving), 64)
        yield* client.sendMany([out.slice(0, 64)])
        const thrown = yield* Effect.exit(server.withReceived((): Effect.Effect<void> => {
          throw new Error("boom")
        }))
        assert.isTrue(Exit.isFailure(thrown))
        yield* client.shutdown("write")
        assert.strictEqual(yield* readToEnd(server, 14), 0, "the thrown batch was consumed")
      }))
      // Had the thrown batch kept its token, the ring's release would still be waiting.
      assert.deepStrictEqual(yield* io.stats, before)
    }))

  it.effect("closing: a waiting receiveMany ends aborted; a lent batch keeps the ring until it is returned", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const pinned = vmPinKiB()
      const sockets = yield* Scope.make()
      const listener = yield* Scope.extend(RegisteredSocket.listen({ port: 0 }), sockets)
      const client = yield* Scope.extend(
        RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port }),
        sockets
      )
      const server = yield* Scope.extend(listener.accept, sockets)
      const out = yield* Scope.extend(source(64, 9), sockets)
      yield* client.sendMany([out.slice(0, 64)])
      const lent = yield* Scope.make()
      let batch = yield* Scope.extend(server.receiveMany(), lent)
      while (batch.length === 0) batch = yield* Scope.extend(server.receiveMany(), lent)
      assert.strictEqual(batch[0]!.bytes[0], byteAt(0, 9))
      const waiting = yield* Effect.fork(Effect.scoped(server.receiveMany()))
      yield* Effect.sleep("5 millis")
      const closing = yield* Effect.fork(Scope.close(sockets, Exit.void))
      const ended = yield* Fiber.join(waiting).pipe(Effect.flip)
      assert.strictEqual(ended._tag, "WSAECONNABORTED")
      yield* Effect.sleep("20 millis")
      assert.isNull(closing.unsafePoll(), "the close waits for the lent batch")
      assert.strictEqual(batch[0]!.bytes[0], byteAt(0, 9), "a lent chunk stays intact while the socket closes")
      yield* Scope.close(lent, Exit.void)
      yield* Fiber.join(closing)
      assert.deepStrictEqual(yield* io.stats, before)
      assert.strictEqual(vmPinKiB(), pinned)
    }))

  it.effect("10,000 batch scopes and brackets leave registrations and pinned pages where they started", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const pinned = vmPinKiB()
      yield* Effect.scoped(Effect.gen(function*() {
        const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slots: 8, slotSize: 64 } })
        const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
        const server = yield* listener.accept
        const out = yield* source(256, 10)
        for (let round = 0; round < 10_000; round++) {
          const at = round % 256
          yield* client.sendMany([out.slice(at, 1)])
          const got = round % 2 === 0
            ? yield* Effect.scoped(Effect.map(server.receiveMany(), (chunks) => chunks[0]!.bytes[0]))
            : yield* server.withReceived((chunks) => Effect.succeed(chunks[0]!.bytes[0]))
          assert.strictEqual(got, byteAt(at, 10))
        }
        const during = yield* io.stats
        assert.strictEqual(during.registeredBuffers, before.registeredBuffers + 2, "the ring and the source")
      }))
      assert.deepStrictEqual(yield* io.stats, before)
      assert.strictEqual(vmPinKiB(), pinned)
    }))

  it.effect("an echo stuck on a peer that never reads: interrupting its sendMany and closing its stream both finish", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      yield* Effect.scoped(Effect.gen(function*() {
        const listener = yield* RegisteredSocket.listen({ port: 0 })
        const reader = yield* Scope.make()
        // The echoing side is a connected stream, the last holder of its own ring.
        const echoing = yield* Scope.extend(
          RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port }),
          reader
        )
        const peer = yield* listener.accept
        const out = yield* source(1 << 20, 13)
        // 16 MiB: more than loopback buffers hold (the double buffers without limit: there, nothing waits).
        const flood = yield* Effect.fork(Effect.repeatN(peer.sendAll(out.slice(0, 1 << 20)), 15))
        const echo = yield* Effect.fork(
          Effect.forever(echoing.withReceived((chunks) => echoing.sendMany(chunks.map((chunk) => chunk.buf))))
        )
        // Long enough for both directions' buffers to fill: the echo's sendMany then waits.
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(echo).pipe(
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "interrupting the echo hung" })
        )
        yield* Scope.close(reader, Exit.void).pipe(
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "closing the stream hung" })
        )
        yield* Fiber.interrupt(flood)
      }))
      assert.deepStrictEqual(yield* io.stats, before)
    }))

  const resetCase = "a peer that resets ends the stream with WSAECONNRESET after the chunks before it"
  it.scoped.skipIf(backend.sockets?.cannotReset !== undefined)(
    backend.sockets?.cannotReset === undefined ? resetCase : `${resetCase} — skipped: ${backend.sockets.cannotReset}`,
    () =>
      Effect.gen(function*() {
        const { client, out, server, serverScope } = yield* resetting(11)
        let received = 0
        while (received < 50) {
          received += yield* client.withReceived((chunks) =>
            Effect.sync(() => chunks.reduce((sum, chunk) => sum + chunk.bytes.length, 0))
          )
        }
        assert.strictEqual(received, 50)
        // The server's side reads one byte of 200 through a receive of its own and closes: a reset.
        assert.strictEqual(yield* server.receive(out.slice(0, 1)), 1)
        yield* Scope.close(serverScope, Exit.void)
        const ended = yield* Effect.flip(Effect.forever(client.withReceived((chunks) =>
          chunks.length === 0 ? Effect.fail("end of stream" as const) : Effect.void
        )))
        assert.strictEqual(typeof ended === "string" ? ended : ended._tag, "WSAECONNRESET")
      })
  )

  it.effect.prop(
    "random interruption of batch receives and sends: every slot and token back",
    [batchCalls],
    ([calls]) =>
      leavesNothingBehind(
        calls,
        Effect.gen(function*() {
          const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slots: 4, slotSize: 64 } })
          const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
          const server = yield* listener.accept
          const out = yield* source(256, 12)
          const slices = [0, 1, 2, 3].map((i) => out.slice(i * 64, 64))
          return { receiver: server, sendMany: client.sendMany(slices), inFlight: () => out.registration.inFlight }
        })
      ),
    { fastCheck: { numRuns: 60 } }
  )
})
