/**
 * Streams for the TCP suites: bytes that say their position (so every byte can be checked),
 * slices cut at varying sizes, a checking reader and a batch echo server.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/** The byte at `position` of stream `seed`. */
export const byteAt = (position: number, seed: number): number => (position * 31 + (position >>> 9) * 7 + seed) & 0xff

/** A registration of `length` bytes holding stream `seed` from position 0, and its slices. */
export const source = (length: number, seed: number) =>
  Effect.map(RegisteredIo.allocateBuffer(length), (registration) => {
    for (let i = 0; i < length; i++) registration.bytes[i] = byteAt(i, seed)
    return {
      registration,
      slice: (from: number, bytes: number) => registration.unsafeSlice(from, bytes) as RioBuf.RioBuf
    }
  })

/** Slices of `length` bytes cut at sizes 1..max that vary with the position. */
export const cuts = (length: number, max: number): Array<readonly [number, number]> => {
  const out: Array<readonly [number, number]> = []
  for (let at = 0; at < length;) {
    const size = Math.min(length - at, 1 + ((at * 7919 + 13) % 104729) % max)
    out.push([at, size])
    at += size
  }
  return out
}

/** Reads `stream` until the peer's end, checking every byte against stream `seed`: the count. */
export const readToEnd = (stream: RegisteredSocket.TcpStream, seed: number, max = 64) =>
  Effect.gen(function*() {
    let position = 0
    for (;;) {
      const ended = yield* stream.withReceived((chunks) =>
        Effect.sync(() => {
          for (const chunk of chunks) {
            const bytes = chunk.bytes
            assert.strictEqual(bytes.length, chunk.buf.length)
            for (let i = 0; i < bytes.length; i++) {
              if (bytes[i] !== byteAt(position + i, seed)) {
                assert.fail(`byte ${position + i} of stream ${seed} is ${bytes[i]}, not ${byteAt(position + i, seed)}`)
              }
            }
            position += bytes.length
          }
          return chunks.length === 0
        }), max)
      if (ended) return position
    }
  })

/** Echoes a stream in batches until its peer's end, then ends its own side. */
export const echoStream = (stream: RegisteredSocket.TcpStream): Effect.Effect<void, RegisteredSocket.SocketError> => {
  const loop: Effect.Effect<void, RegisteredSocket.SocketError> = Effect.flatMap(
    stream.withReceived((chunks) =>
      chunks.length === 0 ? Effect.succeed(false) : Effect.as(stream.sendMany(chunks.map((chunk) => chunk.buf)), true)
    ),
    (more) => (more ? loop : stream.shutdown("write"))
  )
  return loop
}

/** Accepts for the life of the scope, echoing each stream in its own fiber. */
export const echoServer = (listener: RegisteredSocket.TcpListener) =>
  Effect.forkScoped(Effect.forever(Effect.flatMap(listener.accept, (stream) => Effect.forkScoped(echoStream(stream)))))

/**
 * Connects to `listener` (at `host`, 127.0.0.1 by default) and accepts that very connection.
 * An accept takes the oldest connection waiting, which is another fiber's when connects that
 * run at once complete out of order (under Wine each waits in `select` on a worker thread):
 * fibers that pair up on one listener share a `turn` of one permit, so that one connect and
 * its accept run at a time.
 */
export const connectedPair = (listener: RegisteredSocket.TcpListener, turn: Effect.Semaphore, host = "127.0.0.1") =>
  turn.withPermits(1)(Effect.gen(function*() {
    const client = yield* RegisteredSocket.connect({ host, port: listener.address.port })
    const server = yield* listener.accept
    assert.strictEqual(server.remoteAddress.port, client.localAddress.port, "the accepted connection is the client's")
    return { client, server }
  }))

/**
 * A pair about to be reset: the client sent 200 bytes of stream `seed` that the server side
 * will not read, the server side sent 50; closing `serverScope` then resets the client.
 */
export const resetting = (seed: number) =>
  Effect.gen(function*() {
    const listener = yield* RegisteredSocket.listen({ port: 0 })
    const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
    const serverScope = yield* Scope.make()
    const server = yield* Scope.extend(listener.accept, serverScope)
    const out = yield* source(200, seed)
    yield* client.sendMany([out.slice(0, 200)])
    yield* server.sendAll(out.slice(0, 50))
    return { client, out, server, serverScope }
  })

/** A callback that checks each chunk against stream `seed` where it left off: its position. */
export const checker = (seed: number, from = 0) => {
  const state = { position: from, chunks: 0 }
  const onChunk = (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== byteAt(state.position + i, seed)) {
        throw new Error(
          `byte ${state.position + i} of stream ${seed} is ${bytes[i]}, not ${byteAt(state.position + i, seed)}`
        )
      }
    }
    state.position += bytes.length
    state.chunks++
  }
  return { state, onChunk }
}

/** A connected pair: the listener's side (`server`) and the client's. */
export const pair = (ring?: RegisteredSocket.StreamRingOptions) =>
  Effect.gen(function*() {
    const listener = yield* RegisteredSocket.listen({ port: 0, ...(ring === undefined ? {} : { receiveRing: ring }) })
    const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
    const server = yield* listener.accept
    return { listener, client, server }
  })
