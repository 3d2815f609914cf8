/**
 * bench/net: the rpc load generator, `rpc-load.mjs <port> <concurrency> <seconds>`. One
 * `@effect/rpc` client on NodeSocket (the same for every server) keeps `concurrency` unary
 * calls in flight — `Echo` of the example's API, each answer checked — for 0.5 s of warm-up,
 * then `seconds` measured; prints one JSON line, like loadgen (bench/net/call-load.ts).
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { connect } from "../../examples/src/rpcApi.js"
import { keepCalling, parseArgs, report } from "./call-load.js"

const { concurrency, port, seconds } = parseArgs("rpc-load.mjs")

report(Effect.scoped(Effect.gen(function*() {
  const client = yield* connect(NodeSocket.layerNet({ host: "127.0.0.1", port }))
  return yield* keepCalling(concurrency, seconds, (i) => {
    const text = `request ${i}`
    return Effect.exit(client.Echo({ text })).pipe(Effect.map((exit) => Exit.isSuccess(exit) && exit.value === text))
  })
})))
