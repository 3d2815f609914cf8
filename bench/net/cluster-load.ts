/**
 * bench/net: the cluster load generator, `cluster-load.mjs <port> <concurrency> <seconds>`. One
 * client-only member on NodeClusterSocket (the same for every runner), in the database of the
 * runner on `port`, keeps `concurrency` volatile `Echo` calls in flight to 100 entities, each
 * answer checked; waits for the first answer (the runner's shards assigned), then 0.5 s of
 * warm-up, then `seconds` measured. Prints one JSON line, like loadgen.
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { database, Echo, shardingConfig } from "./cluster-parts.js"

const [port, concurrency, seconds] = process.argv.slice(2).map(Number)
if (!(port! > 0 && concurrency! > 0 && seconds! > 0)) {
  console.error("usage: cluster-load.mjs <port> <concurrency> <seconds>")
  process.exit(2)
}

const WARM_UP_MS = 500

const program = Effect.gen(function*() {
  const echo = yield* Echo.client
  yield* echo("e-0").Echo({ text: "ready?" }).pipe(Effect.retry({ times: 100 }))
  let phase: "warm-up" | "measured" | "done" = "warm-up"
  let requests = 0
  let errors = 0
  let n = 0
  const worker = Effect.whileLoop({
    while: () => phase !== "done",
    body: () => {
      const i = n++
      const text = `request ${i}`
      return Effect.exit(echo(`e-${i % 100}`).Echo({ text })).pipe(
        Effect.map((exit) => Exit.isSuccess(exit) && exit.value === text)
      )
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
}).pipe(
  Effect.provide(NodeClusterSocket.layer({ clientOnly: true, shardingConfig: shardingConfig(undefined) })),
  Effect.provide(database(port!)),
  Effect.scoped
)

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isSuccess(exit)) {
    const { errors, rate, requests, seconds } = exit.value
    console.log(
      JSON.stringify({ requests, seconds: Number(seconds.toFixed(3)), rate: Number(rate.toFixed(1)), errors })
    )
    process.exit(0)
  } else {
    console.error(Cause.pretty(exit.cause))
    process.exit(1)
  }
})
