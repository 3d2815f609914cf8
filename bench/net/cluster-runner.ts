/**
 * bench/net: one Effect Cluster runner hosting the `Echo` entity, `cluster-runner.mjs <rio|node>
 * <port>` — on RioClusterSocket (io_uring) or on NodeClusterSocket, with `@effect/cluster`'s SQL
 * storage in its own database of the bench's PostgreSQL. Prints "listening <port>" once built.
 */
import { KoffiRio } from "@effect-rio/koffi"
import * as RioClusterSocket from "@effect-rio/platform/RioClusterSocket"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { database, EchoLive, shardingConfig } from "./cluster-parts.js"

const [transport, port] = [process.argv[2], Number(process.argv[3])]
if ((transport !== "rio" && transport !== "node") || !(port > 0)) {
  console.error("usage: cluster-runner.mjs <rio|node> <port>")
  process.exit(2)
}

const options = { shardingConfig: shardingConfig(port) }
const cluster = transport === "node"
  ? NodeClusterSocket.layer(options)
  : RioClusterSocket.layer(options).pipe(Layer.provide(KoffiRio.layerLinux()))

const program = Effect.scoped(Effect.gen(function*() {
  yield* Layer.build(EchoLive.pipe(Layer.provideMerge(cluster), Layer.provide(database(port))))
  console.log(`listening ${port}`)
  return yield* Effect.never
}))

const fiber = Effect.runFork(program)
process.on("SIGTERM", () => process.exit(0))
fiber.addObserver((exit) => {
  if (Exit.isFailure(exit)) {
    console.error(Cause.pretty(exit.cause))
    process.exit(1)
  }
})
