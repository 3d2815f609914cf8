/**
 * RioSocket and RioSocketServer give back everything they took: after a client ends and the
 * server shuts down, no lease or registration stays open (on io_uring and on the double).
 */
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as Socket from "@effect/platform/Socket"
import { assert, describe, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { RioSocket, RioSocketServer } from "../src/index.js"
import { collector, concat, echo, message, portOf, registeredBuffers } from "./helpers.js"

const backends = [
  { name: "io_uring", layer: KoffiRio.layerLinux() },
  { name: "RioTest double", layer: RioTest.layer() }
]

backends.forEach((backend) => {
  describe(backend.name, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.effect("after clients end and the server shuts down, registrations are back to their start", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          const serverScope = yield* Scope.make()
          const server = yield* Scope.extend(RioSocketServer.make({ port: 0 }), serverScope)
          const handlers = yield* Deferred.make<void>()
          let live = 0
          yield* Effect.forkIn(
            server.run((socket) =>
              Effect.ensuring(
                Effect.zipRight(Effect.sync(() => live++), echo(socket)),
                Effect.sync(() => {
                  if (--live === 0) Deferred.unsafeDone(handlers, Effect.void)
                })
              )
            ),
            serverScope
          )
          // Four clients: two end their side (the server's handlers end), two stay connected
          // until the server shuts down under them.
          const clients = yield* Effect.forEach([0, 1, 2, 3], (id) =>
            Effect.gen(function*() {
              const scope = yield* Scope.make()
              const socket = yield* RioSocket.makeTcp({ port: portOf(server) })
              const bytes = message(id, 4000)
              const received = yield* collector(bytes.length)
              const write = yield* Scope.extend(socket.writer, scope)
              const running = yield* Effect.fork(socket.run(received.onChunk))
              yield* write(bytes)
              yield* Deferred.await(received.complete)
              assert.deepStrictEqual(concat(received.chunks), bytes)
              return { scope, running }
            }))
          assert.isTrue((yield* registeredBuffers) > start, "connections hold registrations while open")
          for (const client of clients.slice(0, 2)) {
            yield* Scope.close(client.scope, Exit.void)
            assert.isTrue(Exit.isSuccess(yield* Fiber.await(client.running)))
          }
          yield* Scope.close(serverScope, Exit.void)
          yield* Deferred.await(handlers)
          for (const client of clients.slice(2)) {
            // The server closed the connection: the client sees the end of its stream.
            assert.isTrue(Exit.isSuccess(yield* Fiber.await(client.running)))
            yield* Scope.close(client.scope, Exit.void)
          }
          assert.strictEqual(yield* registeredBuffers, start)
        }))

      it.effect("a client's run that fails to open leaves nothing registered", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          const scope = yield* Scope.make()
          const port = portOf(yield* Scope.extend(RioSocketServer.make({ port: 0 }), scope))
          yield* Scope.close(scope, Exit.void)
          const socket = yield* RioSocket.makeTcp({ port })
          const exit = yield* Effect.exit(socket.run(() => {}))
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual(yield* registeredBuffers, start)
        }))

      it.effect("the handler's bytes are its own (a later receive reuses the slot); a write after run waits", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          yield* Effect.scoped(Effect.gen(function*() {
            const server = yield* RioSocketServer.make({ port: 0 })
            yield* Effect.forkScoped(server.run(echo))
            const socket = yield* RioSocket.makeTcp({ port: portOf(server) })
            const write = yield* socket.writer
            const kept: Array<Uint8Array> = []
            const first = yield* collector(1)
            const both = yield* collector(2)
            const running = yield* Effect.fork(socket.run((chunk) => {
              kept.push(chunk)
              first.onChunk(chunk)
              both.onChunk(chunk)
            }))
            yield* write("a")
            yield* Deferred.await(first.complete)
            yield* write("b")
            yield* Deferred.await(both.complete)
            // Two receives into the same slot: without the copy the first chunk would read "b".
            assert.deepStrictEqual(kept.map((chunk) => new TextDecoder().decode(chunk)), ["a", "b"])
            yield* Fiber.interrupt(running)
            const late = yield* Effect.fork(write("late"))
            yield* Effect.sleep("20 millis")
            // Like NodeSocket, a write waits for the next run (the latch); ending the scope ends it.
            assert.isNull(late.unsafePoll())
            yield* Fiber.interrupt(late)
          }))
          assert.strictEqual(yield* registeredBuffers, start)
        }))
    })
  })
})

describe("RioTest double: openTimeout", () => {
  layer(RioTest.layer(), { excludeTestServices: true })((it) => {
    it.effect("an open slower than openTimeout fails run with reason Open, like NodeSocket, and leaks nothing", () =>
      Effect.gen(function*() {
        const control = yield* RioTest.Control
        const start = yield* registeredBuffers
        yield* Effect.scoped(Effect.gen(function*() {
          const server = yield* RioSocketServer.make({ port: 0 })
          // Registering the connection's slots is part of opening: make it slow.
          yield* control.setLatency("registerBuffer", "500 millis")
          const socket = yield* RioSocket.makeTcp({ port: portOf(server), openTimeout: "20 millis" })
          const exit = yield* Effect.exit(socket.run(() => {}))
          yield* control.reset
          assert.isTrue(Exit.isFailure(exit))
          const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
          assert.isTrue(Option.isSome(error) && Socket.isSocketError(error.value))
          const failure = Option.getOrThrow(error) as Socket.SocketGenericError
          assert.strictEqual(failure.reason, "Open")
          assert.strictEqual(String(failure.cause), "Error: Connection timed out")
        }))
        assert.strictEqual(yield* registeredBuffers, start)
      }))
  })
})
