/**
 * `SocketStreams.toStream` / `toSink` / `datagrams` on every backend with sockets: bytes
 * through Effect's stream operators both ways, every one checked, and interruption mid-stream
 * leaving nothing in flight.
 */
import { RegisteredIo, RegisteredSocket, SocketStreams } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { describeSocketBackends } from "./describeBackends.js"

const MIB = 1024 * 1024
const byteAt = (i: number): number => (i * 7 + (i >>> 11)) & 0xff

/** 1 MiB as arrays of uneven sizes (1 byte to 40 KiB). */
const pieces = (): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let at = 0, n = 1; at < MIB; n = (n * 7 + 3) % 40_000 + 1) {
    const piece = new Uint8Array(Math.min(n, MIB - at))
    for (let i = 0; i < piece.length; i++) piece[i] = byteAt(at + i)
    out.push(piece)
    at += piece.length
  }
  return out
}

/** A connected pair whose server side echoes through `toStream` into `toSink`. */
const echoPair = Effect.gen(function*() {
  const listener = yield* RegisteredSocket.listen({ port: 0 })
  const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
  const server = yield* listener.accept
  const echo = yield* Effect.fork(
    Effect.zipRight(
      Stream.run(SocketStreams.toStream(server), SocketStreams.toSink(server, 8192)),
      server.shutdown()
    )
  )
  return { client, echo }
})

describeSocketBackends("Stream and Sink views", (it) => {
  it.scoped("1 MiB through toSink, echoed by toStream piped into toSink, back through toStream: every byte", () =>
    Effect.gen(function*() {
      const { client, echo } = yield* echoPair
      const sending = yield* Effect.fork(Effect.zipRight(
        Stream.run(Stream.fromIterable(pieces()), SocketStreams.toSink(client)),
        client.shutdown("write")
      ))
      // Operators between socket and check: regrouped into 3,000-byte chunks, then counted.
      const checked = yield* SocketStreams.toStream(client).pipe(
        Stream.flattenIterables,
        Stream.grouped(3000),
        Stream.runFold({ at: 0, bad: -1 }, (state, group) => {
          for (const byte of group) {
            if (state.bad < 0 && byte !== byteAt(state.at)) state.bad = state.at
            state.at++
          }
          return state
        })
      )
      yield* Fiber.join(sending)
      yield* Fiber.join(echo)
      assert.deepStrictEqual(checked, { at: MIB, bad: -1 })
    }))

  it.effect("interrupted mid-stream: nothing lost or reordered, nothing left in flight once closed", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const all = pieces()
      const state = { at: 0, bad: -1 }
      const check = (stream: RegisteredSocket.TcpStream) =>
        Stream.runForEach(SocketStreams.toStream(stream), (bytes) =>
          Effect.sync(() => {
            for (const byte of bytes) {
              if (state.bad < 0 && byte !== byteAt(state.at)) state.bad = state.at
              state.at++
            }
          }))
      yield* Effect.scoped(Effect.gen(function*() {
        const { client, echo } = yield* echoPair
        const first = yield* Effect.fork(check(client))
        yield* Stream.run(Stream.fromIterable(all.slice(0, 40)), SocketStreams.toSink(client))
        yield* Effect.sleep("5 millis")
        yield* Fiber.interrupt(first)
        // The rest, read by a new stream over the same socket, continues where the first stopped.
        yield* Stream.run(Stream.fromIterable(all.slice(40)), SocketStreams.toSink(client))
        yield* client.shutdown("write")
        yield* check(client)
        yield* Fiber.join(echo)
      }))
      assert.deepStrictEqual(state, { at: MIB, bad: -1 })
      assert.deepStrictEqual(yield* io.stats, before)
    }))

  it.scoped("datagrams: a Stream of copies with their senders; toSink refuses a bad staging size", () =>
    Effect.gen(function*() {
      const receiver = yield* RegisteredSocket.udp()
      const sender = yield* RegisteredSocket.udp()
      const out = yield* RegisteredIo.allocateBuffer(100)
      for (let i = 0; i < 100; i++) out.bytes[i] = i
      const taking = yield* Effect.fork(SocketStreams.datagrams(receiver).pipe(Stream.take(50), Stream.runCollect))
      yield* Effect.sleep("5 millis")
      for (let i = 1; i <= 50; i++) yield* sender.sendTo(out.unsafeSlice(0, i) as RioBuf.RioBuf, receiver.address)
      const got = Chunk.toReadonlyArray(yield* Fiber.join(taking))
      assert.deepStrictEqual(got.map((d) => d.bytes.length), Array.from({ length: 50 }, (_, i) => i + 1))
      assert.isTrue(got.every((d) => d.address.port === sender.address.port && d.bytes.every((b, i) => b === i)))
      const { client } = yield* echoPair
      const refused = yield* Effect.flip(Stream.run(Stream.make(new Uint8Array(1)), SocketStreams.toSink(client, 0)))
      assert.strictEqual(refused._tag, "WSAEINVAL")
    }))
})
