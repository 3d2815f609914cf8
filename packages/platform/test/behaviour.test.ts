/**
 * The observable behaviour of `Socket` / `SocketServer`, the same suite against NodeSocket
 * (the reference) and RioSocket on io_uring and on the double: where Node behaves one way,
 * RioSocket must too.
 */
import * as Socket from "@effect/platform/Socket"
import { assert, describe, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { collector, concat, echo, impls, message, portOf, text } from "./helpers.js"

/** The failure of an exit, or the exit rendered for the assertion message. */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

impls.forEach((impl) => {
  describe(impl.name, () => {
    layer(impl.layer, { excludeTestServices: true })((it) => {
      it.scoped("echoes messages, bytes and strings, in order", () =>
        Effect.gen(function*() {
          const server = yield* impl.server
          yield* Effect.forkScoped(server.run(echo))
          const socket = yield* impl.client(portOf(server))
          const messages = Array.from({ length: 200 }, (_, id) => message(id, 3000))
          const expected = concat([...messages, new TextEncoder().encode("héllo, wörld ✓")])
          const received = yield* collector(expected.length)
          const write = yield* socket.writer
          const running = yield* Effect.forkScoped(socket.run(received.onChunk))
          for (const bytes of messages) yield* write(bytes)
          yield* write("héllo, wörld ✓")
          yield* Deferred.await(received.complete)
          assert.deepStrictEqual(concat(received.chunks), expected)
          yield* Fiber.interrupt(running)
        }))

      it.scoped("the handler's error ends run with that error", () =>
        Effect.gen(function*() {
          const server = yield* impl.server
          yield* Effect.forkScoped(server.run(echo))
          const socket = yield* impl.client(portOf(server))
          const write = yield* socket.writer
          const running = yield* Effect.fork(socket.run(() => Effect.fail("handler failed" as const)))
          yield* write("ping")
          const exit = yield* Fiber.await(running)
          assert.strictEqual(failureOf(exit), "handler failed")
        }))

      it.scoped("a CloseEvent through the writer closes: run fails with close code 1000, the peer sees its end", () =>
        Effect.gen(function*() {
          const server = yield* impl.server
          const serverRun = yield* Deferred.make<Exit.Exit<void, Socket.SocketError>>()
          yield* Effect.forkScoped(
            server.run((socket) =>
              Effect.flatMap(Effect.exit(socket.run(() => {})), (exit) => Deferred.succeed(serverRun, exit))
            )
          )
          const socket = yield* impl.client(portOf(server))
          const write = yield* socket.writer
          const running = yield* Effect.fork(socket.run(() => {}))
          yield* write("bye")
          yield* write(new Socket.CloseEvent())
          const error = failureOf(yield* Fiber.await(running))
          assert.isTrue(Socket.SocketCloseError.is(error))
          assert.strictEqual((error as Socket.SocketCloseError).code, 1000)
          // The peer's `run` ends as it does on an orderly end of stream.
          assert.isTrue(Exit.isSuccess(yield* Deferred.await(serverRun)))
        }))

      it.scoped("a CloseEvent with a code above 1000 ends run with a Read error naming the code", () =>
        Effect.gen(function*() {
          const server = yield* impl.server
          yield* Effect.forkScoped(server.run(echo))
          const socket = yield* impl.client(portOf(server))
          const write = yield* socket.writer
          const running = yield* Effect.fork(socket.run(() => {}))
          yield* write(new Socket.CloseEvent(4000, "going away"))
          const error = failureOf(yield* Fiber.await(running))
          assert.isTrue(Socket.isSocketError(error))
          assert.strictEqual(error.reason, "Read")
          assert.strictEqual(String((error as Socket.SocketGenericError).cause), "Error: closed with code 4000")
        }))

      it.scoped("the peer's end of stream ends run successfully, after its last bytes", () =>
        Effect.gen(function*() {
          const server = yield* impl.server
          // Says hello, then ends its side when the writer's scope closes.
          yield* Effect.forkScoped(server.run((socket) =>
            socket.run(() => {}, {
              onOpen: Effect.orDie(Effect.scoped(Effect.flatMap(socket.writer, (write) => write("hello"))))
            })
          ))
          const socket = yield* impl.client(portOf(server))
          const received = yield* collector(5)
          const exit = yield* Effect.exit(socket.run(received.onChunk))
          assert.isTrue(Exit.isSuccess(exit))
          assert.strictEqual(text(concat(received.chunks)), "hello")
        }))

      it.scoped("a client's end of stream ends the server's run; the server's handler ends", () =>
        Effect.gen(function*() {
          const server = yield* impl.server
          const serverRun = yield* Deferred.make<Exit.Exit<void, Socket.SocketError>>()
          const got = yield* collector(4)
          yield* Effect.forkScoped(
            server.run((socket) =>
              Effect.flatMap(Effect.exit(socket.run(got.onChunk)), (exit) => Deferred.succeed(serverRun, exit))
            )
          )
          const socket = yield* impl.client(portOf(server))
          const writerScope = yield* Scope.make()
          const write = yield* Scope.extend(socket.writer, writerScope)
          const running = yield* Effect.fork(socket.run(() => {}))
          yield* write("last")
          yield* Scope.close(writerScope, Exit.void)
          assert.isTrue(Exit.isSuccess(yield* Deferred.await(serverRun)))
          assert.strictEqual(text(concat(got.chunks)), "last")
          // The server closed its side in turn, which ends the client's run too.
          assert.isTrue(Exit.isSuccess(yield* Fiber.await(running)))
        }))

      it.scoped("connecting to a closed port fails run with a SocketGenericError of reason Open", () =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const port = portOf(yield* Scope.extend(impl.server, scope))
          yield* Scope.close(scope, Exit.void)
          const socket = yield* impl.client(port)
          const error = failureOf(yield* Effect.exit(socket.run(() => {})))
          assert.isTrue(Socket.isSocketError(error))
          assert.strictEqual(error.reason, "Open")
          assert.instanceOf(error, Socket.SocketGenericError)
        }))

      it.scoped("the server reports the real port when 0 was asked for", () =>
        Effect.gen(function*() {
          const server = yield* impl.server
          assert.strictEqual(server.address._tag, "TcpAddress")
          assert.isTrue(portOf(server) > 0)
        }))
    })
  })
})
