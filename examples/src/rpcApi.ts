/**
 * The rpc examples' contract: an `@effect/rpc` group, its handlers, the server as a layer
 * over any `SocketServer` (registered I/O or Node's — the one line that differs), and the
 * calls a client makes, each answer checked.
 */
import type * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcClient from "@effect/rpc/RpcClient"
import type * as RpcClientError from "@effect/rpc/RpcClientError"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as Chunk from "effect/Chunk"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

export class Api extends RpcGroup.make(
  Rpc.make("Echo", { payload: { text: Schema.String }, success: Schema.String }),
  Rpc.make("Sum", { payload: { values: Schema.Array(Schema.Number) }, success: Schema.Number }),
  /** `from`, `from - 1`, … 1: a streamed answer. */
  Rpc.make("Countdown", { payload: { from: Schema.Int }, success: Schema.Number, stream: true })
) {}

const handlers = Api.toLayer({
  Echo: ({ text }) => Effect.succeed(text),
  Sum: ({ values }) => Effect.succeed(values.reduce((total, value) => total + value, 0)),
  Countdown: ({ from }) => Stream.map(Stream.range(1, from), (n) => from + 1 - n)
})

/**
 * The rpc server on whatever `SocketServer` the layer below provides; `SocketServer` stays in
 * the output, so that the program can print the address it listens on.
 */
export const serverLayer = <E, R>(
  socketServer: Layer.Layer<SocketServer.SocketServer, E, R>
): Layer.Layer<SocketServer.SocketServer, E, R> =>
  RpcServer.layer(Api).pipe(
    Layer.provide(handlers),
    Layer.provide(RpcServer.layerProtocolSocketServer),
    Layer.provideMerge(socketServer),
    Layer.provide(RpcSerialization.layerMsgPack)
  )

/** The port a server listens on, once its layer is built. */
export const listeningPort = Effect.map(
  SocketServer.SocketServer,
  (server) => server.address._tag === "TcpAddress" ? server.address.port : 0
)

export type Client = RpcClient.FromGroup<typeof Api, RpcClientError.RpcClientError>

/** A wrong answer is a bug in this example: a defect, with what came back. */
const expect = <A>(what: string, got: A, expected: A) =>
  JSON.stringify(got) === JSON.stringify(expected) ?
    Effect.void :
    Effect.dieMessage(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`)

/** Request `i`: an echo, a sum or a countdown by turns, its answer checked. */
export const call = (client: Client, i: number): Effect.Effect<void, RpcClientError.RpcClientError> => {
  switch (i % 3) {
    case 0: {
      const text = `request ${i}`
      return Effect.flatMap(client.Echo({ text }), (got) => expect(`Echo ${i}`, got, text))
    }
    case 1: {
      const values = [i, 2 * i, 3]
      return Effect.flatMap(client.Sum({ values }), (got) => expect(`Sum ${i}`, got, 3 * i + 3))
    }
    default: {
      const from = 1 + i % 10
      return Effect.flatMap(
        Stream.runCollect(client.Countdown({ from })),
        (got) => expect(`Countdown ${i}`, Chunk.toReadonlyArray(got), Array.from({ length: from }, (_, k) => from - k))
      )
    }
  }
}

/** `count` calls, `concurrency` at a time, then one line saying they were all checked. */
export const exercise = (client: Client, count: number, concurrency = 32) =>
  Effect.gen(function*() {
    const started = Date.now()
    yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => call(client, i), {
      concurrency,
      discard: true
    })
    const seconds = (Date.now() - started) / 1000
    yield* Console.log(
      `${count} rpc calls (echo, sum, countdown; ${concurrency} at a time) answered and checked in ${
        seconds.toFixed(2)
      } s`
    )
  })

/** An rpc client over the `Socket` the layer provides (NodeSocket, RioSocket…), for the life of the scope. */
export const connect = <E, R>(
  socket: Layer.Layer<Socket.Socket, E, R>
): Effect.Effect<Client, E, R | Scope.Scope> =>
  Effect.flatMap(
    Layer.build(
      RpcClient.layerProtocolSocket().pipe(Layer.provide(socket), Layer.provide(RpcSerialization.layerMsgPack))
    ),
    (context) => Effect.provide(RpcClient.make(Api), context)
  )
