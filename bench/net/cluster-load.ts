/**
 * bench/net: the cluster load generator, `cluster-load.mjs <port> <concurrency> <seconds>`. One
 * client-only member on NodeClusterSocket (the same for every runner), in the database of the
 * runner on `port`, keeps `concurrency` volatile `Echo` calls in flight to 100 entities, each
 * answer checked; waits for the first answer (the runner's shards assigned), then 0.5 s of
 * warm-up, then `seconds` measured; prints one JSON line, like loadgen (bench/net/call-load.ts).
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { keepCalling, parseArgs, report } from "./call-load.js"
import { database, Echo, shardingConfig } from "./cluster-parts.js"

const { concurrency, port, seconds } = parseArgs("cluster-load.mjs")

report(
  Effect.gen(function*() {
    const echo = yield* Echo.client
    yield* echo("e-0").Echo({ text: "ready?" }).pipe(Effect.retry({ times: 100 }))
    return yield* keepCalling(concurrency, seconds, (i) => {
      const text = `request ${i}`
      return Effect.exit(echo(`e-${i % 100}`).Echo({ text })).pipe(
        Effect.map((exit) => Exit.isSuccess(exit) && exit.value === text)
      )
    })
  }).pipe(
    Effect.provide(NodeClusterSocket.layer({ clientOnly: true, shardingConfig: shardingConfig(undefined) })),
    Effect.provide(database(port)),
    Effect.scoped
  )
)
