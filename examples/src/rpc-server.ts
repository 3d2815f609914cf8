/**
 * An `@effect/rpc` service on registered I/O: `rpcApi.ts`'s server — @effect/rpc's own code,
 * unchanged — on `RioSocketServer`, so every byte of every connection is received into and
 * sent from registered slots. Any @effect/rpc socket client talks to it: `rpc-client.ts` is a
 * plain NodeSocket one; `client` here is the same client on `RioSocket`.
 *
 *   node --import tsx examples/src/rpc-server.ts server --port 7009
 *   node --import tsx examples/src/rpc-client.ts --port 7009 --count 1000
 *   node --import tsx examples/src/rpc-server.ts client --port 7009 --count 1000
 *   EFFECT_RIO_BACKEND=test node --import tsx examples/src/rpc-server.ts both
 */
import { RioSocket, RioSocketServer } from "@effect-rio/platform"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Command } from "./echoCli.js"
import { main } from "./echoCli.js"
import { connect, exercise, listeningPort, serverLayer } from "./rpcApi.js"

/** The rpc server for the life of the scope; the port it listens on. */
const serve = (host: string, port: number) =>
  Effect.flatMap(
    Layer.build(serverLayer(RioSocketServer.layer({ host, port }))),
    (context) => Effect.provide(listeningPort, context)
  )

const client = (host: string, port: number, count: number) =>
  Effect.scoped(Effect.flatMap(connect(RioSocket.layerTcp({ host, port })), (client) => exercise(client, count)))

const program = ({ count, host, mode, port }: Command) =>
  Effect.scoped(Effect.gen(function*() {
    if (mode === "client") return yield* client(host, port, count)
    const listening = yield* serve(host, port)
    yield* Console.log(`listening ${listening}`)
    if (mode === "server") return yield* Effect.never
    yield* client(host, listening, count)
  }))

main("rpc-server", program)
