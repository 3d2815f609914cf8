/**
 * The README's second install line at work, outside the workspace: an `@effect/rpc` server on
 * `RioSocketServer` answers a NodeSocket client (`@effect/platform-node`) — or, on the double,
 * whose network lives in this process, a `RioSocket` client — and a `RioClusterSocket` layer
 * type-checks against `@effect/cluster`. It prints one line of JSON and exits 0 only if the
 * call was answered.
 */
import { KoffiRio } from "@effect-rio/koffi"
import { RioSocket, RioSocketServer } from "@effect-rio/platform"
import * as RioClusterSocket from "@effect-rio/platform/RioClusterSocket"
import { RioTest } from "@effect-rio/testing"
import type { Sharding } from "@effect/cluster"
import { SocketServer } from "@effect/platform"
import { NodeSocket } from "@effect/platform-node"
import { Rpc, RpcClient, RpcGroup, RpcSerialization, RpcServer } from "@effect/rpc"
import { Effect, Layer, Schema } from "effect"

class Api extends RpcGroup.make(Rpc.make("Echo", { payload: { text: Schema.String }, success: Schema.String })) {}

const server = RpcServer.layer(Api).pipe(
  Layer.provide(Api.toLayer({ Echo: ({ text }) => Effect.succeed(text) })),
  Layer.provide(RpcServer.layerProtocolSocketServer),
  Layer.provideMerge(RioSocketServer.layer({ host: "127.0.0.1", port: 0 })),
  Layer.provide(RpcSerialization.layerMsgPack)
)

const onDouble = process.env.EFFECT_RIO_BACKEND === "test"

const call = Effect.gen(function*() {
  const address = (yield* SocketServer.SocketServer).address
  const port = address._tag === "TcpAddress" ? address.port : 0
  const socket = onDouble ?
    RioSocket.layerTcp({ host: "127.0.0.1", port }) :
    NodeSocket.layerNet({ host: "127.0.0.1", port })
  const context = yield* Layer.build(
    RpcClient.layerProtocolSocket().pipe(
      Layer.provide(socket),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  )
  const client = yield* Effect.provide(RpcClient.make(Api), context)
  return yield* client.Echo({ text: "over @effect/rpc" })
})

// Built, not run (it needs a cluster's storage): the layer's type is what is checked here.
const runner: Layer.Layer<Sharding.Sharding, unknown, never> = RioClusterSocket.layer({ storage: "local" }).pipe(
  Layer.provide(RioTest.layer())
)

const backend = KoffiRio.layerConfig({ test: RioTest.layer() })

Effect.runPromise(Effect.scoped(Effect.provide(call, Layer.provideMerge(server, backend)))).then(
  (answer) => {
    const ok = answer === "over @effect/rpc" && Layer.isLayer(runner)
    console.log(JSON.stringify({ client: onDouble ? "RioSocket" : "NodeSocket", answer, ok }))
    process.exitCode = ok ? 0 : 1
  },
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
