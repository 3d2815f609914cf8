/**
 * Effect Cluster on registered I/O: runners that host a sharded `Counter` entity and talk to
 * each other through `RioClusterSocket` (RioSocketServer and RioSocket), with their registry and
 * messages in PostgreSQL (`@effect/sql-pg`), and a client that keeps sending to ten counters
 * and prints which runner answered. Stop a runner (Ctrl-C) and watch its counters move to the
 * others (starting again from 0: a counter's state is its runner's memory).
 *
 *   node --import tsx examples/src/cluster-entities.ts runner --port 7101 --postgres <url>
 *   node --import tsx examples/src/cluster-entities.ts runner --port 7102 --postgres <url>
 *   node --import tsx examples/src/cluster-entities.ts client --postgres <url> [--rounds 60]
 *
 * where <url> is a PostgreSQL every process reaches, e.g. postgres://postgres@127.0.0.1:5433/postgres
 * (examples/README.md shows how to start a private one). Runs on io_uring or Winsock RIO: the
 * in-memory double's network cannot join processes.
 */
import * as RioClusterSocket from "@effect-rio/platform/RioClusterSocket"
import * as Entity from "@effect/cluster/Entity"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as Rpc from "@effect/rpc/Rpc"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { runMain } from "./main.js"

/** A counter per entity id; every answer names the runner (its port) that holds the counter. */
const Counter = Entity.make("Counter", [
  Rpc.make("Increment", { success: Schema.Struct({ total: Schema.Number, runner: Schema.Number }) })
])

const CounterLive = Counter.toLayer(Effect.gen(function*() {
  const { port } = yield* Entity.CurrentRunnerAddress
  let total = 0
  return Counter.of({ Increment: () => Effect.sync(() => ({ total: ++total, runner: port })) })
}))

/** The same in every process (`port` undefined: the client): a stopped runner's counters move within seconds. */
const shardingConfig = (port: number | undefined): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  runnerAddress: port === undefined ? Option.none() : Option.some(RunnerAddress.make("127.0.0.1", port)),
  shardsPerGroup: 60,
  refreshAssignmentsInterval: "500 millis",
  runnerHealthCheckInterval: "1 second",
  shardLockRefreshInterval: "1 second",
  shardLockExpiration: "3 seconds",
  entityTerminationTimeout: 0
})

const usage = "usage: cluster-entities.ts runner --port P --postgres URL | client --postgres URL [--rounds N]"

const parse = (argv: ReadonlyArray<string>) => {
  const [mode, ...rest] = argv
  const flag = (name: string) => {
    const at = rest.indexOf(name)
    return at < 0 ? undefined : rest[at + 1]
  }
  const postgres = flag("--postgres")
  const port = Number(flag("--port") ?? 0)
  const rounds = Number(flag("--rounds") ?? 60)
  if ((mode !== "runner" && mode !== "client") || postgres === undefined) throw new Error(usage)
  if (mode === "runner" && !(Number.isInteger(port) && port > 0)) throw new Error(`runner needs --port\n${usage}`)
  return { mode, postgres, port, rounds }
}

/** Hosts counters until the process is stopped; says so once it is part of the cluster. */
const runner = (port: number, postgres: string) =>
  Effect.scoped(Effect.gen(function*() {
    yield* Layer.build(CounterLive.pipe(
      Layer.provide(RioClusterSocket.layer({ shardingConfig: shardingConfig(port) })),
      Layer.provide(PgClient.layer({ url: Redacted.make(postgres) }))
    ))
    yield* Console.log(`runner ${port} ready`)
    return yield* Effect.never
  }))

/** Increments counters 0..9 once a second, `rounds` times, printing each counter's total and runner. */
const client = (postgres: string, rounds: number) =>
  Effect.gen(function*() {
    const counters = yield* Counter.client
    for (let round = 1; round <= rounds; round++) {
      const answers = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => `counter-${i}`),
        (id) => Effect.map(counters(id).Increment(), ({ runner, total }) => `${id}=${total}@${runner}`),
        { concurrency: "unbounded" }
      )
      yield* Console.log(`round ${round}: ${answers.join(" ")}`)
      yield* Effect.sleep("1 second")
    }
  }).pipe(
    Effect.provide(RioClusterSocket.layer({ clientOnly: true, shardingConfig: shardingConfig(undefined) })),
    Effect.provide(PgClient.layer({ url: Redacted.make(postgres) }))
  )

let command: ReturnType<typeof parse>
try {
  command = parse(process.argv.slice(2))
} catch (error) {
  console.error((error as Error).message)
  process.exit(2)
}
if (command.mode === "runner") runMain(runner(command.port, command.postgres))
else runMain(client(command.postgres, command.rounds))
