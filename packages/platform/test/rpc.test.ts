/**
 * `@effect/rpc`, unchanged, over RioSocketServer: its socket protocol
 * (`RpcServer.layerProtocolSocketServer`, `RpcClient.layerProtocolSocket`) with MessagePack.
 * On io_uring the client is NodeSocket over real TCP; the double's network is in-memory, so
 * there the client is RioSocket on the same layer. Every response is checked, then what the
 * handlers' failures, and a client that vanishes mid-stream, come to.
 */
import type { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import type * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import { assert, describe, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { RioSocket, RioSocketServer } from "../src/index.js"
import { message, nothingHeld, portOf, registeredBuffers } from "./helpers.js"
import type { PeerFactory } from "./peers.js"
import { netPeers, registeredPeers } from "./peers.js"
import type { Observed } from "./rpcGroup.js"
import { Calls, handlers, makeObserved, Refused } from "./rpcGroup.js"

type SocketServerLayer = Layer.Layer<
  SocketServer.SocketServer,
  SocketServer.SocketServerError,
  RegisteredIo.RegisteredIo
>

interface Backend {
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, unknown>
  readonly server: SocketServerLayer
  readonly client: (port: number) => Layer.Layer<Socket.Socket, Socket.SocketError, RegisteredIo.RegisteredIo>
  readonly peers: PeerFactory
}

const rioServer: SocketServerLayer = RioSocketServer.layer({ port: 0 })

const backends: ReadonlyArray<Backend> = [
  {
    name: "RioSocketServer (io_uring), NodeSocket client",
    layer: KoffiRio.layerLinux(),
    server: rioServer,
    client: (port) => NodeSocket.layerNet({ host: "127.0.0.1", port }),
    peers: netPeers
  },
  {
    name: "RioSocketServer (RioTest double), RioSocket client",
    layer: RioTest.layer(),
    server: rioServer,
    client: (port) => RioSocket.layerTcp({ host: "127.0.0.1", port }),
    peers: registeredPeers
  }
]

/** The rpc server on `server`, in the current scope; its port. */
const serve = (server: SocketServerLayer, observed: Observed) =>
  Layer.build(
    RpcServer.layer(Calls).pipe(
      Layer.provide(handlers(observed)),
      Layer.provide(RpcServer.layerProtocolSocketServer),
      Layer.provideMerge(server),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  ).pipe(Effect.map((context) => portOf(Context.get(context, SocketServer.SocketServer))))

/** An rpc client over `socket`, in the current scope. */
const connect = (socket: Layer.Layer<Socket.Socket, Socket.SocketError, RegisteredIo.RegisteredIo>) =>
  Effect.flatMap(
    Layer.build(
      RpcClient.layerProtocolSocket().pipe(Layer.provide(socket), Layer.provide(RpcSerialization.layerMsgPack))
    ),
    (context) => Effect.provide(RpcClient.make(Calls), context)
  )

type Client = Effect.Effect.Success<ReturnType<typeof connect>>

/** Request `id`: an echo of bytes, a sum, or a stream, by `id`; its response checked. */
const call = (client: Client, id: number): Effect.Effect<void, unknown> => {
  switch (id % 3) {
    case 0: {
      // Every 100th larger than a registered slot (16 KiB), so that it spans sends and receives.
      const bytes = message(id, id % 100 === 0 ? 40_000 : 2_000)
      return Effect.map(client.Echo({ id, bytes }), (response) => {
        assert.strictEqual(response.id, id)
        assert.deepStrictEqual(new Uint8Array(response.bytes), bytes)
      })
    }
    case 1: {
      const values = Array.from({ length: 1 + id % 17 }, (_, i) => id * i + 1)
      return Effect.map(client.Sum({ values }), (sum) => {
        assert.strictEqual(sum, values.reduce((total, value) => total + value, 0))
      })
    }
    default: {
      const count = 1 + id % 64
      return Effect.map(Stream.runCollect(client.Count({ from: id, count })), (items) => {
        assert.deepStrictEqual(Chunk.toReadonlyArray(items), Array.from({ length: count }, (_, i) => id + i))
      })
    }
  }
}

const requests = 10_000

backends.forEach((backend) => {
  describe(backend.name, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.effect(
        `${requests.toLocaleString("en")} unary and streaming requests, 32 in parallel, every response checked`,
        () =>
          Effect.gen(function*() {
            const start = yield* registeredBuffers
            yield* Effect.scoped(Effect.gen(function*() {
              const port = yield* serve(backend.server, yield* makeObserved)
              const client = yield* connect(backend.client(port))
              yield* Effect.forEach(
                Array.from({ length: requests }, (_, id) => id),
                (id) => call(client, id),
                { concurrency: 32, discard: true }
              )
            }))
            yield* nothingHeld(start)
          })
      )

      it.effect("a handler's typed failure, its defect and a stream that fails midway reach the client as such", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          yield* Effect.scoped(Effect.gen(function*() {
            const port = yield* serve(backend.server, yield* makeObserved)
            const client = yield* connect(backend.client(port))
            const refused = yield* Effect.flip(client.Refuse({ id: 7 }))
            assert.deepStrictEqual(refused, new Refused({ id: 7 }))
            const died = yield* Effect.exit(client.Die({ message: "the handler died" }))
            assert.isTrue(Exit.isFailure(died) && Option.isSome(Cause.dieOption(died.cause)))
            assert.include(Exit.isFailure(died) ? Cause.pretty(died.cause) : "", "the handler died")
            const items = yield* Stream.runCollect(Stream.either(client.CountThenFail({ count: 5 })))
            assert.deepStrictEqual(Chunk.toReadonlyArray(items), [
              ...[0, 1, 2, 3, 4].map((n) => Either.right(n)),
              Either.left(new Refused({ id: 5 }))
            ])
            // None of it broke the connection.
            assert.strictEqual(yield* client.Sum({ values: [1, 2, 3] }), 6)
          }))
          yield* nothingHeld(start)
        }))
    })
  })
})

// A client that vanishes mid-stream, with half a request still unsent: the server interrupts
// its stream's handler and serves the next client — as it does on NodeSocketServer.
const vanishing: ReadonlyArray<Backend> = [
  {
    ...backends[0],
    name: "NodeSocketServer (reference)",
    server: NodeSocketServer.layer({ host: "127.0.0.1", port: 0 })
  },
  ...backends
]

vanishing.forEach((backend) => {
  describe(backend.name, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.effect("a client that vanishes mid-stream and mid-request: its handler is interrupted, others are served", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          yield* Effect.scoped(Effect.gen(function*() {
            const observed = yield* makeObserved
            const port = yield* serve(backend.server, observed)
            // Written as the rpc client writes it: MessagePack, one frame per message.
            const parser = RpcSerialization.msgPack.unsafeMake()
            const forever = parser.encode({ _tag: "Request", id: "1", tag: "Forever", payload: {}, headers: [] })
            const sum = parser.encode({ _tag: "Request", id: "2", tag: "Sum", payload: { values: [1] }, headers: [] })
            const peer = yield* backend.peers.connect(port)
            yield* peer.write(forever as Uint8Array)
            yield* peer.write((sum as Uint8Array).subarray(0, 5))
            yield* Deferred.await(observed.started)
            // It has unread responses: closing now is abortive (an RST), as when a process dies.
            yield* peer.end
            yield* Deferred.await(observed.interrupted)
            const client = yield* connect(backend.client(port))
            assert.strictEqual(yield* client.Sum({ values: [20, 22] }), 42)
          }))
          yield* nothingHeld(start)
        }))
    })
  })
})
