/**
 * `TcpStream.receiveEach` conformance: chunks handed to a callback as they arrive, through the
 * same receive ring as the batch calls, the same on every backend with sockets.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { describeSocketBackends } from "./describeBackends.js"
import { vmPinKiB } from "./processState.js"
import { byteAt, checker, connectedPair, cuts, pair, readToEnd, resetting, source } from "./streams.js"

describeSocketBackends("TCP receiveEach", (it, backend) => {
  it.effect("1 MiB over 4 streams sharing an 8-slot ring, every byte checked; each call ends at its peer's end", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const pinned = vmPinKiB()
      yield* Effect.scoped(Effect.gen(function*() {
        const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slotSize: 1024, slots: 8 } })
        const turn = yield* Effect.makeSemaphore(1)
        const quarter = 256 * 1024
        yield* Effect.forEach([1, 2, 3, 4], (seed) =>
          Effect.scoped(Effect.gen(function*() {
            const { client, server } = yield* connectedPair(listener, turn)
            const out = yield* source(quarter, seed)
            const slices = cuts(quarter, 3000).map(([at, size]) => out.slice(at, size))
            const sending = yield* Effect.fork(Effect.gen(function*() {
              for (let i = 0; i < slices.length; i += 8) yield* client.sendMany(slices.slice(i, i + 8))
              yield* client.shutdown("write")
            }))
            const { onChunk, state } = checker(seed)
            yield* server.receiveEach(onChunk)
            assert.strictEqual(state.position, quarter)
            assert.isAtLeast(state.chunks, quarter / 1024, "no chunk is larger than a slot")
            yield* Fiber.join(sending)
            assert.strictEqual(yield* server.receiveEach(onChunk).pipe(Effect.as("ended again")), "ended again")
          })), { concurrency: "unbounded" })
      }))
      assert.deepStrictEqual(yield* io.stats, before, "the ring went with the listener")
      assert.strictEqual(vmPinKiB(), pinned)
    }))

  it.scoped("chunks that were ready before the call come first, then the rest, in order", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair()
      const out = yield* source(3000, 2)
      // A batch call joins the ring; what arrives while nobody reads waits in the stream's queue.
      yield* Effect.scoped(server.receiveMany()).pipe(Effect.timeout("5 millis"), Effect.ignore)
      yield* client.sendMany([out.slice(0, 1000)])
      yield* Effect.sleep("30 millis")
      const { onChunk, state } = checker(2)
      const each = yield* Effect.fork(server.receiveEach(onChunk))
      yield* Effect.sleep("10 millis")
      assert.strictEqual(state.position, 1000, "the waiting chunks were handed out at once")
      yield* client.sendMany([out.slice(1000, 2000)])
      yield* client.shutdown("write")
      yield* Fiber.join(each)
      assert.strictEqual(state.position, 3000)
    }))

  it.scoped("interrupting it stops the calls; later chunks wait for the next call of either kind", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair()
      const out = yield* source(600, 3)
      const first = checker(3)
      const each = yield* Effect.fork(server.receiveEach(first.onChunk))
      yield* client.sendMany([out.slice(0, 200)])
      while (first.state.position < 200) yield* Effect.sleep("2 millis")
      yield* Fiber.interrupt(each)
      yield* client.sendMany([out.slice(200, 200)])
      yield* Effect.sleep("20 millis")
      assert.strictEqual(first.state.position, 200, "an interrupted call is not called again")
      const second = checker(3, 200)
      const again = yield* Effect.fork(server.receiveEach(second.onChunk))
      while (second.state.position < 400) yield* Effect.sleep("2 millis")
      yield* Fiber.interrupt(again)
      yield* client.sendMany([out.slice(400, 200)])
      yield* client.shutdown("write")
      // The batch calls go on where receiveEach stopped.
      let position = 400
      for (;;) {
        const chunks = yield* Effect.scoped(server.receiveMany())
        if (chunks.length === 0) break
        for (const chunk of chunks) {
          for (let i = 0; i < chunk.bytes.length; i++) assert.strictEqual(chunk.bytes[i], byteAt(position + i, 3))
          position += chunk.bytes.length
        }
      }
      assert.strictEqual(position, 600)
    }))

  it.scoped("a callback that throws ends the call with that defect; the stream goes on with the next chunk", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair()
      const out = yield* source(300, 4)
      const thrown = new Error("the handler broke")
      const failing = yield* Effect.fork(server.receiveEach(() => {
        throw thrown
      }))
      yield* client.sendMany([out.slice(0, 100)])
      const exit = yield* Fiber.await(failing)
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      assert.strictEqual(Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined, thrown)
      yield* Effect.sleep("10 millis")
      yield* client.sendMany([out.slice(100, 200)])
      yield* client.shutdown("write")
      const { onChunk, state } = checker(4, 100)
      yield* server.receiveEach(onChunk)
      assert.strictEqual(state.position, 300, "the chunk the throwing call had is gone; nothing after it")
    }))

  it.scoped("bad input and misuse are typed: no callback, two calls at once, a receive beside it, a closed stream", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair()
      const out = yield* source(64, 5)
      const notAFunction = yield* Effect.flip(server.receiveEach(undefined as unknown as (bytes: Uint8Array) => void))
      assert.strictEqual(notAFunction._tag, "WSAEINVAL")
      const running = yield* Effect.fork(server.receiveEach(() => {}))
      yield* Effect.sleep("5 millis")
      const second = yield* Effect.flip(server.receiveEach(() => {}))
      assert.strictEqual(second._tag, "WSAEINVAL")
      assert.include(second.message, "Another receiveEach")
      assert.strictEqual((yield* Effect.flip(server.receive(out.slice(0, 64))))._tag, "WSAEINVAL")
      yield* Fiber.interrupt(running)
      // A stream that received one way of its own cannot turn to the ring.
      const ownWay = yield* Effect.fork(client.receive(out.slice(0, 64)))
      yield* Effect.sleep("5 millis")
      assert.strictEqual((yield* Effect.flip(client.receiveEach(() => {})))._tag, "WSAEINVAL")
      yield* Fiber.interrupt(ownWay)
    }))

  it.effect("closing the stream ends a running call with WSAECONNABORTED; every registration goes", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const sockets = yield* Scope.make()
      const { client, server } = yield* Scope.extend(pair({ slots: 4, slotSize: 64 }), sockets)
      const out = yield* Scope.extend(source(100, 6), sockets)
      const { onChunk, state } = checker(6)
      const each = yield* Effect.fork(server.receiveEach(onChunk))
      yield* client.sendMany([out.slice(0, 100)])
      while (state.position < 100) yield* Effect.sleep("2 millis")
      yield* Scope.close(sockets, Exit.void)
      const ended = yield* Effect.flip(Fiber.join(each))
      assert.strictEqual(ended._tag, "WSAECONNABORTED")
      assert.deepStrictEqual(yield* io.stats, before)
    }))

  it.scoped("unsafeSendMany: every byte in order, one onDone per call; bad input and a shut stream are typed", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair()
      const out = yield* source(30_000, 9)
      const outcomes: Array<string> = []
      const record = (error: RegisteredSocket.SocketError | undefined) => outcomes.push(error?._tag ?? "ok")
      // Each call from the end of the one before, as a sender without a fiber makes them (calls
      // at once may interleave, as sendMany from several fibers do).
      const sendFrom = (at: number) =>
        client.unsafeSendMany([out.slice(at, 4000), out.slice(at + 4000, 6000)], (error) => {
          record(error)
          if (error === undefined && at + 10_000 < 30_000) sendFrom(at + 10_000)
        })
      client.unsafeSendMany([{ ...out.slice(0, 1), length: 30_001 }], record)
      assert.deepStrictEqual(outcomes, ["WSAEFAULT"], "a bad slice is refused before the call returns")
      sendFrom(0)
      const { onChunk, state } = checker(9)
      const each = yield* Effect.fork(server.receiveEach(onChunk))
      while (outcomes.length < 4) yield* Effect.sleep("2 millis")
      assert.deepStrictEqual(outcomes, ["WSAEFAULT", "ok", "ok", "ok"])
      yield* client.shutdown("write")
      yield* Fiber.join(each)
      assert.strictEqual(state.position, 30_000)
      client.unsafeSendMany([out.slice(0, 1)], record)
      assert.strictEqual(outcomes[4], "WSAESHUTDOWN")
    }))

  /**
   * Sends `out` (4 MiB) from `client` in 256 KiB calls of `unsafeSendNow`, the rest of a call
   * that stopped short sent after `unsafeWhenWritable`, as a sender that must not hold its
   * slices does; the calls that stopped short, once all went.
   */
  const sendWithoutWaiting = (
    client: RegisteredSocket.TcpStream,
    out: { readonly slice: (from: number, bytes: number) => RioBuf.RioBuf },
    total: number
  ) =>
    Effect.async<number, RegisteredSocket.SocketError>((resume) => {
      let short = 0
      const from = (at: number) => {
        if (at === total) return resume(Effect.succeed(short))
        const asked = Math.min(256 * 1024, total - at)
        client.unsafeSendNow([out.slice(at, asked)], (error, sent) => {
          if (error !== undefined) return resume(Effect.fail(error))
          assert.isTrue(sent >= 0 && sent <= asked, `sent ${sent} of ${asked}`)
          if (sent === asked) return from(at + sent)
          short++
          client.unsafeWhenWritable((error) => error === undefined ? from(at + sent) : resume(Effect.fail(error)))
        })
      }
      from(0)
    })

  it.scoped("unsafeSendNow and unsafeWhenWritable: 4 MiB to a peer that starts reading late, every byte in order", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair()
      const total = 4 << 20
      const out = yield* source(total, 10)
      const sending = yield* Effect.fork(sendWithoutWaiting(client, out, total))
      yield* Effect.sleep("100 millis")
      const { onChunk, state } = checker(10)
      const each = yield* Effect.fork(server.receiveEach(onChunk))
      const short = yield* Fiber.join(sending)
      yield* client.shutdown("write")
      yield* Fiber.join(each)
      assert.strictEqual(state.position, total)
      if (backend.sockets?.sendsWait === undefined) assert.isAtLeast(short, 1, "4 MiB outruns a peer not reading")
      const outcomes: Array<string> = []
      client.unsafeSendNow(
        [{ ...out.slice(0, 1), length: total + 1 }],
        (error, sent) => outcomes.push(`${error?._tag} ${sent}`)
      )
      client.unsafeSendNow([out.slice(0, 1)], (error, sent) => outcomes.push(`${error?._tag} ${sent}`))
      assert.deepStrictEqual(outcomes, ["WSAEFAULT 0", "WSAESHUTDOWN 0"], "refused before the call returns")
    }))

  const stopsShort =
    "a peer that never reads: unsafeSendNow stops short at once, unsafeWhenWritable waits for its reads"
  it.scoped.skipIf(backend.sockets?.sendsWait !== undefined)(
    backend.sockets?.sendsWait === undefined ? stopsShort : `${stopsShort} — skipped: ${backend.sockets.sendsWait}`,
    () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const { client, server } = yield* pair()
        const out = yield* source(1 << 20, 11)
        // Until the kernel's buffers (both ends' on loopback) are full: then a call stops short.
        let sent = 0
        for (let calls = 0; calls < 256; calls++) {
          const took = yield* Effect.async<number, RegisteredSocket.SocketError>((resume) =>
            client.unsafeSendNow([out.slice(0, 1 << 20)], (error, n) =>
              resume(error === undefined ? Effect.succeed(n) : Effect.fail(error)))
          )
          sent += took
          if (took < 1 << 20) {
            break
          }
        }
        assert.isBelow(sent, 256 << 20, "a send stopped short instead of waiting for the peer")
        const before = yield* io.stats
        let writable = 0
        client.unsafeWhenWritable((error) => {
          assert.isUndefined(error)
          writable++
        })
        yield* Effect.sleep("50 millis")
        assert.strictEqual(writable, 0, "no room while the peer reads nothing")
        assert.deepStrictEqual((yield* io.stats).registeredBuffers, before.registeredBuffers)
        let read = 0
        const reading = yield* Effect.fork(server.receiveEach((bytes) =>
          void (read += bytes.length)
        ))
        while (writable === 0) yield* Effect.sleep("2 millis")
        assert.isAbove(read, 0)
        yield* Fiber.interrupt(reading)
      })
  )

  it.scoped.skipIf(backend.sockets?.sendsWait !== undefined)(
    backend.sockets?.sendsWait === undefined
      ? "closing a stream ends its wait for room with WSAECONNABORTED; every registration goes"
      : `closing a stream ends its wait for room — skipped: ${backend.sockets.sendsWait}`,
    () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const listener = yield* RegisteredSocket.listen({ port: 0 })
        const out = yield* source(1 << 20, 12)
        const before = yield* io.stats
        // The peer stays open and unread while the client's own scope closes.
        const clientScope = yield* Scope.make()
        const client = yield* Scope.extend(
          RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port }),
          clientScope
        )
        yield* listener.accept
        for (;;) {
          const took = yield* Effect.async<number>((resume) =>
            client.unsafeSendNow([out.slice(0, 1 << 20)], (_, n) => resume(Effect.succeed(n)))
          )
          if (took < 1 << 20) break
        }
        const outcome: Array<string> = []
        client.unsafeWhenWritable((error) => outcome.push(error?._tag ?? "writable"))
        yield* Scope.close(clientScope, Exit.void)
        assert.deepStrictEqual(outcome, ["WSAECONNABORTED"])
        assert.deepStrictEqual(yield* io.stats, before)
      })
  )

  const resetCase = "a peer that resets ends the call with WSAECONNRESET after the chunks before it"
  it.scoped.skipIf(backend.sockets?.cannotReset !== undefined)(
    backend.sockets?.cannotReset === undefined ? resetCase : `${resetCase} — skipped: ${backend.sockets.cannotReset}`,
    () =>
      Effect.gen(function*() {
        const { client, out, server, serverScope } = yield* resetting(7)
        // The server's side reads one byte of 200 through a receive of its own and closes: a reset.
        assert.strictEqual(yield* server.receive(out.slice(0, 1)), 1)
        const { onChunk, state } = checker(7)
        const each = yield* Effect.fork(client.receiveEach(onChunk))
        while (state.position < 50) yield* Effect.sleep("2 millis")
        yield* Scope.close(serverScope, Exit.void)
        const ended = yield* Effect.flip(Fiber.join(each))
        assert.strictEqual(ended._tag, "WSAECONNRESET")
        assert.strictEqual(state.position, 50)
      })
  )

  const afterResetCase = "after a reset: receive WSAECONNRESET, then a shutdown of any side does nothing, typed or not"
  it.scoped.skipIf(backend.sockets?.cannotReset !== undefined)(
    backend.sockets?.cannotReset === undefined
      ? afterResetCase
      : `${afterResetCase} — skipped: ${backend.sockets.cannotReset}`,
    () =>
      Effect.gen(function*() {
        const { client, out, serverScope } = yield* resetting(8)
        // Closed with 200 unread bytes: the server's side resets the connection.
        yield* Scope.close(serverScope, Exit.void)
        const into = out.slice(100, 100)
        let got = 0
        const ended = yield* Effect.flip(Effect.forever(
          Effect.flatMap(client.receive(into), (n) =>
            n === 0 ? Effect.dieMessage("end of stream, not a reset") : Effect.sync(() => got += n))
        ))
        assert.strictEqual(ended._tag, "WSAECONNRESET")
        assert.isAtMost(got, 50)
        // Linux refuses it (ENOTCONN), Winsock does not: the same on every backend, nothing to do.
        for (const how of ["read", "write", "both"] as const) {
          yield* client.shutdown(how)
        }
        assert.strictEqual((yield* Effect.flip(client.send(into)))._tag, "WSAESHUTDOWN")
      })
  )

  it.scoped("once both sides ended the stream, a shutdown does nothing on either side (Linux refuses it)", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* listener.accept
      const into = (yield* source(8, 9)).slice(0, 8)
      yield* client.shutdown("write")
      yield* client.shutdown("write")
      assert.strictEqual(yield* server.receive(into), 0)
      yield* server.shutdown("write")
      assert.strictEqual(yield* client.receive(into), 0)
      yield* Effect.sleep("10 millis")
      for (const stream of [client, server]) yield* stream.shutdown("both")
      assert.strictEqual(yield* client.receive(into), 0, "after shutdown(\"read\"), at once")
    }))

  const shutBothCase = "bytes sent to a peer that shut down both ways: the send completes, the next meets its reset"
  it.scoped.skipIf(backend.sockets?.cannotReset !== undefined)(
    backend.sockets?.cannotReset === undefined
      ? shutBothCase
      : `${shutBothCase} — skipped: ${backend.sockets.cannotReset}`,
    () =>
      Effect.gen(function*() {
        const listener = yield* RegisteredSocket.listen({ port: 0 })
        const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
        const server = yield* listener.accept
        const out = (yield* source(64, 10)).slice(0, 64)
        yield* server.shutdown("both")
        assert.strictEqual(yield* client.send(out), 64)
        yield* Effect.sleep("10 millis")
        assert.strictEqual((yield* Effect.flip(client.sendAll(out)))._tag, "WSAECONNRESET")
      })
  )

  it.scoped("an echo through receiveEach and sendMany of copies: 64 KiB round trip", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair({ slots: 16, slotSize: 512 })
      const staging = yield* RegisteredIo.allocateBuffer(65536)
      let filled = 0
      const echoed = yield* Effect.fork(Effect.gen(function*() {
        yield* server.receiveEach((bytes) => {
          staging.bytes.set(bytes, filled)
          filled += bytes.length
        })
        yield* server.sendAll(staging.unsafeSlice(0, filled) as RioBuf.RioBuf)
        yield* server.shutdown("write")
      }))
      const out = yield* source(65536, 8)
      yield* client.sendMany([out.slice(0, 65536)])
      yield* client.shutdown("write")
      assert.strictEqual(yield* readToEnd(client, 8), 65536)
      yield* Fiber.join(echoed)
    }))
})
