/**
 * TCP echo in batches: every connection the server accepts receives through the listener's
 * one shared receive ring — each call (`withReceived`) takes every chunk that has arrived,
 * and one `sendMany` sends them back from the very slots they landed in. One Effect per batch,
 * nothing allocated per chunk by the library, and pinned memory that does not grow with the
 * number of connections. The client streams numbered lines, reads the echo with
 * `receiveMany` and checks every byte, then half-closes.
 *
 *   node --import tsx examples/src/tcp-batch-echo.ts server --port 7011
 *   node --import tsx examples/src/tcp-batch-echo.ts client --port 7011 --count 1000
 *   EFFECT_RIO_BACKEND=test node --import tsx examples/src/tcp-batch-echo.ts both
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Command } from "./echoCli.js"
import { main } from "./echoCli.js"

/** The chunks' own slices: echoed without a copy. */
const slicesOf = (chunks: ReadonlyArray<RegisteredSocket.ReceivedChunk>): Array<RioBuf.RioBuf> => {
  const out = new Array<RioBuf.RioBuf>(chunks.length)
  for (let i = 0; i < chunks.length; i++) out[i] = chunks[i]!.buf
  return out
}

/** One connection: echo every batch until the peer's end of stream, then end ours. */
const echo = (stream: RegisteredSocket.TcpStream): Effect.Effect<void, RegisteredSocket.SocketError> => {
  const loop: Effect.Effect<void, RegisteredSocket.SocketError> = Effect.flatMap(
    stream.withReceived((chunks) =>
      chunks.length === 0 ? Effect.succeed(false) : Effect.as(stream.sendMany(slicesOf(chunks)), true)
    ),
    (more) => (more ? loop : stream.shutdown())
  )
  return loop
}

/** Accepts forever; each connection is echoed in a fiber of its own and closed when it ends. */
const server = (listener: RegisteredSocket.TcpListener) =>
  Effect.forever(Effect.gen(function*() {
    const connection = yield* Scope.make()
    const stream = yield* Scope.extend(listener.accept, connection)
    yield* Effect.forkScoped(
      echo(stream).pipe(
        Effect.catchAll((error) => Console.error(`connection ${stream.remoteAddress.port}: ${error.message}`)),
        Effect.ensuring(Scope.close(connection, Exit.void))
      )
    )
  }))

/** Streams `count` numbered lines in batches of 16 slices and checks the echo byte by byte. */
const client = (port: number, host: string, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const stream = yield* RegisteredSocket.connect({ host, port })
    const text = Array.from({ length: count }, (_, i) => `line ${i}\n`).join("")
    const expected = new TextEncoder().encode(text)
    const outbox = yield* RegisteredIo.allocateBuffer(Math.max(1, expected.length))
    outbox.bytes.set(expected)
    const started = Date.now()
    const sending = yield* Effect.fork(Effect.gen(function*() {
      const lines: Array<RioBuf.RioBuf> = []
      for (let at = 0, i = 0; i < count; i++) {
        const length = `line ${i}\n`.length
        lines.push(yield* outbox.slice(at, length))
        at += length
        if (lines.length === 16 || i === count - 1) yield* stream.sendMany(lines.splice(0))
      }
      yield* stream.shutdown()
    }))
    let position = 0
    for (;;) {
      const ended = yield* stream.withReceived((chunks) =>
        Effect.gen(function*() {
          for (const chunk of chunks) {
            const bytes = chunk.bytes
            for (let i = 0; i < bytes.length; i++) {
              if (bytes[i] !== expected[position + i]) {
                return yield* Effect.dieMessage(`byte ${position + i} of the echo is wrong`)
              }
            }
            position += bytes.length
          }
          return chunks.length === 0
        })
      )
      if (ended) break
    }
    yield* sending
    if (position !== expected.length) {
      return yield* Effect.dieMessage(`${position} of ${expected.length} bytes came back`)
    }
    const seconds = (Date.now() - started) / 1000
    const ring = yield* stream.receiveRing
    yield* Console.log(
      `${count} lines (${position} bytes) echoed and checked in ${seconds.toFixed(2)} s (${ring?.mechanism})`
    )
  }))

const program = ({ count, host, mode, port }: Command) =>
  Effect.scoped(Effect.gen(function*() {
    if (mode === "client") return yield* client(port, host, count)
    // 1024 slots of 4 KiB, shared by every connection the listener accepts.
    const listener = yield* RegisteredSocket.listen({ host, port, receiveRing: { slotSize: 4096, slots: 1024 } })
    yield* Console.log(`listening ${listener.address.port}`)
    if (mode === "server") return yield* server(listener)
    yield* Effect.forkScoped(server(listener))
    yield* client(listener.address.port, host, count)
  }))

main("tcp-batch-echo", program)
