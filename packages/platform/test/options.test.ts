/**
 * Socket options through RioSocketServer and RioSocket, as NodeSocketServer and NodeSocket take
 * them: `reusePort` lets two servers share a port (each serving connections), the values reach
 * the core's checks (a bad one fails opening, typed), and a Unix socket refuses TCP's options.
 */
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import type * as Socket from "@effect/platform/Socket"
import { assert, describe, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { RioSocket, RioSocketServer } from "../src/index.js"
import { echo, portOf } from "./helpers.js"

/** The tag of the core's error under a platform error's `cause`. */
const causeTag = (error: { readonly cause?: unknown }): unknown =>
  typeof error.cause === "object" && error.cause !== null && "_tag" in error.cause ? error.cause._tag : undefined

/** One round trip through `socket`: what comes back for `bytes`. */
const roundTrip = (socket: Socket.Socket, bytes: Uint8Array) =>
  Effect.scoped(Effect.gen(function*() {
    const write = yield* socket.writer
    const received: Array<number> = []
    const complete = yield* Deferred.make<void>()
    const running = yield* Effect.fork(socket.run((chunk) => {
      received.push(...chunk)
      return received.length >= bytes.length ? Deferred.succeed(complete, undefined) : Effect.void
    }))
    yield* write(bytes)
    yield* Deferred.await(complete)
    yield* Fiber.interrupt(running)
    return received
  }))

const layers = [
  { name: "io_uring", layer: KoffiRio.layerLinux() },
  { name: "RioTest double", layer: RioTest.layer() }
] as const

layers.forEach(({ layer: backend, name }) => {
  describe(`socket options through the platform layer (${name})`, () => {
    layer(backend, { excludeTestServices: true })((it) => {
      it.scoped("reusePort: two servers on one port both serve; without it the second is refused", () =>
        Effect.gen(function*() {
          const served = [0, 0]
          const first = yield* RioSocketServer.make({ host: "127.0.0.1", port: 0, reusePort: true })
          const port = portOf(first)
          const second = yield* RioSocketServer.make({ host: "127.0.0.1", port, reusePort: true })
          for (const [i, server] of [first, second].entries()) {
            yield* Effect.forkScoped(server.run((socket) => {
              served[i]!++
              return echo(socket)
            }))
          }
          for (let i = 0; i < 32; i++) {
            const client = yield* RioSocket.makeTcp({ host: "127.0.0.1", port, noDelay: true, keepAlive: true })
            assert.deepStrictEqual(yield* roundTrip(client, new Uint8Array([i, 1, 2])), [i, 1, 2])
          }
          assert.strictEqual(served[0]! + served[1]!, 32)
          assert.isAbove(served[0]!, 0, "the first server took connections")
          assert.isAbove(served[1]!, 0, "the second server took connections")
          const refused = yield* Effect.flip(RioSocketServer.make({ host: "127.0.0.1", port }))
          assert.strictEqual(refused.reason, "Open")
          assert.strictEqual(causeTag(refused), "WSAEADDRINUSE")
        }))

      it.scoped("a bad value fails opening with the core's typed error; a Unix socket refuses TCP's options", () =>
        Effect.gen(function*() {
          const server = yield* Effect.flip(RioSocketServer.make({ port: 0, receiveBufferSize: -1 }))
          assert.strictEqual(server.reason, "Open")
          assert.strictEqual(causeTag(server), "WSAEINVAL")
          const listening = yield* RioSocketServer.make({ host: "127.0.0.1", port: 0 })
          const client = yield* RioSocket.makeTcp({
            host: "127.0.0.1",
            port: portOf(listening),
            keepAlive: true,
            keepAliveInitialDelay: "1500 millis"
          })
          const opened = yield* Effect.flip(client.run(() => Effect.void))
          assert.strictEqual(opened._tag, "SocketError")
          assert.strictEqual(opened.reason, "Open")
          assert.strictEqual(causeTag(opened), "WSAEINVAL")
          const unix = yield* Effect.flip(RioSocketServer.make({ path: "options.sock", noDelay: false } as never))
          assert.strictEqual(causeTag(unix), "WSAENOPROTOOPT")
        }))
    })
  })
})
