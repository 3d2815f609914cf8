/**
 * RioSocketServer and RioSocket on a Unix domain socket's path, as NodeSocketServer and
 * NodeSocket take one: `@effect/rpc` over the path, every response checked. On io_uring the
 * client is NodeSocket or RioSocket on the same path, and the socket file goes with the
 * server; on the double the client is RioSocket.
 */
import type { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import type * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import { assert, describe, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { RioSocket, RioSocketServer } from "../src/index.js"
import { message, nothingHeld, registeredBuffers } from "./helpers.js"
import { Calls, handlers, makeObserved } from "./rpcGroup.js"

const backends: ReadonlyArray<{
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, unknown>
  readonly client: (path: string) => Layer.Layer<Socket.Socket, Socket.SocketError, RegisteredIo.RegisteredIo>
  readonly files: boolean
}> = [
  {
    name: "RioSocketServer on a path (io_uring), NodeSocket client",
    layer: KoffiRio.layerLinux(),
    client: (path) => NodeSocket.layerNet({ path }),
    files: true
  },
  {
    name: "RioSocketServer on a path (io_uring), RioSocket client",
    layer: KoffiRio.layerLinux(),
    client: (path) => RioSocket.layerTcp({ path }),
    files: true
  },
  {
    name: "RioSocketServer on a path (RioTest double), RioSocket client",
    layer: RioTest.layer(),
    client: (path) => RioSocket.layerTcp({ path }),
    files: false
  }
]

const requests = 2_000

backends.forEach((backend) => {
  describe(backend.name, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.effect(`${requests.toLocaleString("en")} rpc echoes over the path; its address; the file goes with the server`, () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          const directory = mkdtempSync(join(tmpdir(), "effect-rio-rpc-"))
          const path = join(directory, "rpc.sock")
          yield* Effect.scoped(Effect.gen(function*() {
            const context = yield* Layer.build(
              RpcServer.layer(Calls).pipe(
                Layer.provide(handlers(yield* makeObserved)),
                Layer.provide(RpcServer.layerProtocolSocketServer),
                Layer.provideMerge(RioSocketServer.layer({ path })),
                Layer.provide(RpcSerialization.layerMsgPack)
              )
            )
            assert.deepStrictEqual(Context.get(context, SocketServer.SocketServer).address, {
              _tag: "UnixAddress",
              path
            })
            if (backend.files) assert.isTrue(statSync(path).isSocket())
            const client = yield* Effect.flatMap(
              Layer.build(
                RpcClient.layerProtocolSocket().pipe(
                  Layer.provide(backend.client(path)),
                  Layer.provide(RpcSerialization.layerMsgPack)
                )
              ),
              (clientContext) => Effect.provide(RpcClient.make(Calls), clientContext)
            )
            yield* Effect.forEach(
              Array.from({ length: requests }, (_, id) => id),
              (id) => {
                const bytes = message(id, id % 100 === 0 ? 40_000 : 1_000)
                return Effect.map(client.Echo({ id, bytes }), (response) => {
                  assert.strictEqual(response.id, id)
                  assert.deepStrictEqual(new Uint8Array(response.bytes), bytes)
                })
              },
              { concurrency: 16, discard: true }
            )
          }))
          assert.isFalse(existsSync(path), "the socket file went with the server")
          rmSync(directory, { recursive: true, force: true })
          yield* nothingHeld(start)
        }))
    })
  })
})
