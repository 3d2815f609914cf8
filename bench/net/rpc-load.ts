/**
 * bench/net: the rpc load generator, `rpc-load.mjs <port> <concurrency> <seconds>`. One
 * `@effect/rpc` client on NodeSocket (the same for every server) keeps `concurrency` unary
 * calls in flight — `Echo` of the example's API, each answer checked — for 0.5 s of warm-up,
 * then `seconds` measured. Prints one JSON line, like loadgen:
 * `{"requests":…,"seconds":…,"rate":…,"errors":…}` (errors: failed calls and wrong answers).
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { connect } from "../../examples/src/rpcApi.js"

const [port, concurrency, seconds] = process.argv.slice(2).map(Number)
if (!(port! > 0 && concurrency! > 0 && seconds! > 0)) {
  console.error("usage: rpc-load.mjs <port> <concurrency> <seconds>")
  process.exit(2)
}

const WARM_UP_MS = 500

const program = Effect.scoped(Effect.gen(function*() {
  const client = yield* connect(NodeSocket.layerNet({ host: "127.0.0.1", port: port! }))
  let phase: "warm-up" | "measured" | "done" = "warm-up"
  let requests = 0
  let errors = 0
  let n = 0
  const worker = Effect.whileLoop({
    while: () => phase !== "done",
    body: () => {
      const text = `request ${n++}`
      return Effect.exit(client.Echo({ text })).pipe(Effect.map((exit) => Exit.isSuccess(exit) && exit.value === text))
    },
    step: (ok) => {
      if (phase !== "measured") return
      if (ok) requests++
      else errors++
    }
  })
  const clock = Effect.gen(function*() {
    yield* Effect.sleep(WARM_UP_MS)
    phase = "measured"
    const started = performance.now()
    yield* Effect.sleep(seconds! * 1000)
    phase = "done"
    return (performance.now() - started) / 1000
  })
  const [measured] = yield* Effect.all([
    clock,
    Effect.all(Array.from({ length: concurrency! }, () => worker), { concurrency: "unbounded" })
  ], { concurrency: "unbounded" })
  return { requests, seconds: measured, rate: requests / measured, errors }
}))

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isSuccess(exit)) {
    const { errors, rate, requests, seconds } = exit.value
    console.log(
      JSON.stringify({ requests, seconds: Number(seconds.toFixed(3)), rate: Number(rate.toFixed(1)), errors })
    )
  } else {
    console.error(Cause.pretty(exit.cause))
    process.exitCode = 1
  }
})
