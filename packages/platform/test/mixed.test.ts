/**
 * RioSocket and NodeSocket interoperate over real TCP (io_uring): a Node client against a
 * RioSocketServer and a RioSocket client against a NodeSocketServer, 10,000 messages echoed
 * with every byte checked.
 */
import type { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import type * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import { assert, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import { collector, concat, echo, message, node, portOf, rio } from "./helpers.js"

const pairs: ReadonlyArray<{
  readonly name: string
  readonly server: Effect.Effect<
    SocketServer.SocketServer["Type"],
    SocketServer.SocketServerError,
    RegisteredIo.RegisteredIo | Scope.Scope
  >
  readonly client: (port: number) => Effect.Effect<Socket.Socket, Socket.SocketError, RegisteredIo.RegisteredIo>
}> = [
  { name: "NodeSocket client → RioSocketServer", server: rio.server, client: node.client },
  { name: "RioSocket client → NodeSocketServer", server: node.server, client: rio.client }
]

const count = 10_000

layer(KoffiRio.layerLinux(), { excludeTestServices: true })((it) => {
  pairs.forEach((pair) => {
    it.scoped(`${pair.name}: ${count.toLocaleString("en")} messages echoed, every byte checked`, () =>
      Effect.gen(function*() {
        const server = yield* pair.server
        yield* Effect.forkScoped(server.run(echo))
        const socket = yield* pair.client(portOf(server))
        const messages = Array.from({ length: count }, (_, id) => message(id, 1024))
        const expected = concat(messages)
        const received = yield* collector(expected.length)
        const write = yield* socket.writer
        const running = yield* Effect.fork(socket.run(received.onChunk))
        // Bursts of 100 writes started together (in order), so that queued writes share sends.
        for (let i = 0; i < count; i += 100) {
          yield* Effect.forEach(messages.slice(i, i + 100), write, { concurrency: "unbounded", discard: true })
        }
        yield* Deferred.await(received.complete)
        const got = concat(received.chunks)
        assert.strictEqual(got.length, expected.length)
        assert.isTrue(Buffer.compare(got, expected) === 0, "the echoed bytes differ from those sent")
        yield* Fiber.interrupt(running)
        assert.isTrue(Exit.isInterrupted(yield* Fiber.await(running)))
      }))
  })
})
