/**
 * bench/net: the rpc example's server (examples/src/rpcApi.ts) on NodeSocketServer,
 * `rpc-server-node.mjs <port>` — the baseline for `rpc-server.mjs server`, which is the same
 * server on RioSocketServer. Prints "listening <port>" when it accepts.
 */
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { listeningPort, serverLayer } from "../../examples/src/rpcApi.js"

const port = Number(process.argv[2] ?? 0)

const program = Effect.scoped(Effect.gen(function*() {
  const context = yield* Layer.build(serverLayer(NodeSocketServer.layer({ host: "127.0.0.1", port })))
  console.log(`listening ${yield* Effect.provide(listeningPort, context)}`)
  return yield* Effect.never
}))

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    console.error(Cause.pretty(exit.cause))
    process.exitCode = 1
  }
})
