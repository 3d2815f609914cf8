/**
 * TCP echo on registered I/O: each connection receives into, and sends from, a slot of one
 * registered BufferPool (RIOReceive / RIOSend); the client checks every byte and half-closes.
 *
 *   node --import tsx examples/src/tcp-echo.ts server --port 7008
 *   node --import tsx examples/src/tcp-echo.ts client --port 7008 --count 1000
 *   EFFECT_RIO_BACKEND=test node --import tsx examples/src/tcp-echo.ts both
 *
 * With `--path /tmp/echo.sock` instead of `--port`, the same echo runs over a Unix domain
 * socket (Linux and the double): the same stream operations, the path removed when the
 * server stops.
 */
import { BufferPool, RegisteredSocket } from "@effect-rio/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Command } from "./echoCli.js"
import { main } from "./echoCli.js"

const SLOT = 64 * 1024

type Stream = RegisteredSocket.TcpStream<RegisteredSocket.SocketAddress | RegisteredSocket.UnixAddress>

/** Who is at the other end, for the log. */
const peerOf = (stream: Stream) =>
  "port" in stream.remoteAddress ? `connection ${stream.remoteAddress.port}` : "a Unix socket connection"

/** One connection: echo until the peer's end of stream, then end ours. */
const echo = (pool: BufferPool.BufferPool, stream: Stream) =>
  pool.withLease((lease) =>
    Effect.gen(function*() {
      for (;;) {
        const n = yield* stream.receive(lease.buf)
        if (n === 0) return yield* stream.shutdown()
        yield* stream.sendAll({ ...lease.buf, length: n })
      }
    })
  ).pipe(Effect.catchAll((error) => Console.error(`${peerOf(stream)}: ${error.message}`)))

/** Accepts forever; each connection is echoed in a fiber of its own and closed when it ends. */
const server = (
  pool: BufferPool.BufferPool,
  listener: RegisteredSocket.TcpListener<RegisteredSocket.SocketAddress | RegisteredSocket.UnixAddress>
) =>
  Effect.forever(Effect.gen(function*() {
    const connection = yield* Scope.make()
    const stream = yield* Scope.extend(listener.accept, connection)
    yield* Effect.forkScoped(Effect.ensuring(echo(pool, stream), Scope.close(connection, Exit.void)))
  }))

const client = (pool: BufferPool.BufferPool, port: number, host: string, count: number, path?: string) =>
  Effect.scoped(Effect.gen(function*() {
    const stream: Stream = path === undefined
      ? yield* RegisteredSocket.connect({ host, port })
      : yield* RegisteredSocket.connect({ path })
    const started = Date.now()
    yield* pool.withLease((lease) =>
      Effect.gen(function*() {
        for (let i = 0; i < count; i++) {
          const text = new TextEncoder().encode(`message ${i};`)
          lease.bytes.set(text)
          yield* stream.sendAll({ ...lease.buf, length: text.length })
          lease.bytes.fill(0, 0, text.length)
          for (let got = 0; got < text.length;) {
            const n = yield* stream.receive({ ...lease.buf, offset: lease.buf.offset + got, length: text.length - got })
            if (n === 0) return yield* Effect.dieMessage("the server closed the connection early")
            got += n
          }
          const echoed = new TextDecoder().decode(lease.bytes.subarray(0, text.length))
          if (echoed !== `message ${i};`) return yield* Effect.dieMessage(`message ${i} came back as "${echoed}"`)
        }
        yield* stream.shutdown()
        if ((yield* stream.receive(lease.buf)) !== 0) return yield* Effect.dieMessage("bytes after the last echo")
      })
    )
    const seconds = (Date.now() - started) / 1000
    yield* Console.log(`${count} messages echoed and checked in ${seconds.toFixed(2)} s, then half-closed`)
  }))

const program = ({ count, host, mode, path, port }: Command) =>
  Effect.scoped(Effect.gen(function*() {
    const pool = yield* BufferPool.make({ slotSize: SLOT, slots: 64 })
    if (mode === "client") return yield* client(pool, port, host, count, path)
    if (path !== undefined) {
      const listener = yield* RegisteredSocket.listen({ path })
      yield* Console.log(`listening ${listener.address.path}`)
      if (mode === "server") return yield* server(pool, listener)
      yield* Effect.forkScoped(server(pool, listener))
      return yield* client(pool, 0, host, count, path)
    }
    const listener = yield* RegisteredSocket.listen({ host, port })
    yield* Console.log(`listening ${listener.address.port}`)
    if (mode === "server") return yield* server(pool, listener)
    yield* Effect.forkScoped(server(pool, listener))
    yield* client(pool, listener.address.port, host, count)
  }))

main("tcp-echo", program)
