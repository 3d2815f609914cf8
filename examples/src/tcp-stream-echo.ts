/**
 * TCP echo through Effect streams: the server pipes each connection's `toStream` into its
 * `toSink` (one line), and the client connects by name (`"localhost"`, through the system
 * resolver, giving up after 2 s), streams numbered lines through `toSink`, and reads the echo
 * back through `toStream` with Effect's text operators, checking every line.
 *
 *   node --import tsx examples/src/tcp-stream-echo.ts server --port 7013
 *   node --import tsx examples/src/tcp-stream-echo.ts client --port 7013 --count 1000
 *   EFFECT_RIO_BACKEND=test node --import tsx examples/src/tcp-stream-echo.ts both
 */
import { RegisteredSocket, SocketStreams } from "@effect-rio/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Command } from "./echoCli.js"
import { main } from "./echoCli.js"

/** Accepts forever; each connection echoes through its own Stream and Sink, then half-closes. */
const server = (listener: RegisteredSocket.TcpListener) =>
  Effect.forever(Effect.gen(function*() {
    const connection = yield* Scope.make()
    const stream = yield* Scope.extend(listener.accept, connection)
    yield* Effect.forkScoped(
      Stream.run(SocketStreams.toStream(stream), SocketStreams.toSink(stream)).pipe(
        Effect.zipRight(stream.shutdown()),
        Effect.catchAll((error) => Console.error(`connection ${stream.remoteAddress.port}: ${error.message}`)),
        Effect.ensuring(Scope.close(connection, Exit.void))
      )
    )
  }))

/** Sends `count` numbered lines and checks that each comes back, in order. */
const client = (port: number, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const stream = yield* RegisteredSocket.connect({ host: "localhost", port, timeout: "2 seconds" })
    const started = Date.now()
    const lines = Stream.range(0, count - 1).pipe(Stream.map((i) => `line ${i}\n`), Stream.encodeText)
    const sending = yield* Effect.fork(
      Effect.zipRight(Stream.run(lines, SocketStreams.toSink(stream)), stream.shutdown())
    )
    const checked = yield* SocketStreams.toStream(stream).pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runFoldEffect(0, (expected, line) =>
        line === `line ${expected}`
          ? Effect.succeed(expected + 1)
          : Effect.dieMessage(`line ${expected} came back as ${JSON.stringify(line)}`))
    )
    yield* sending
    if (checked !== count) return yield* Effect.dieMessage(`${checked} of ${count} lines came back`)
    yield* Console.log(
      `${count} lines echoed through Stream and Sink and checked in ${(Date.now() - started) / 1000} s`
    )
  }))

const program = ({ count, host, mode, port }: Command) =>
  Effect.scoped(Effect.gen(function*() {
    if (mode === "client") return yield* client(port, count)
    const listener = yield* RegisteredSocket.listen({ host, port })
    yield* Console.log(`listening ${listener.address.port}`)
    if (mode === "server") return yield* server(listener)
    yield* Effect.forkScoped(server(listener))
    yield* client(listener.address.port, count)
  }))

main("tcp-stream-echo", program)
