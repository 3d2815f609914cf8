/**
 * bench/net: what the cluster scenario's runner and load generator share — the entity they
 * call (`Echo`, volatile: answered from the runner's memory, no storage on the path), the
 * sharding config, and the PostgreSQL database that holds the runner registry of one runner
 * (one per server of the scenario, so that each runner has a cluster of its own).
 */
import * as Entity from "@effect/cluster/Entity"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as Rpc from "@effect/rpc/Rpc"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

export const Echo = Entity.make("Echo", [
  Rpc.make("Echo", { payload: { text: Schema.String }, success: Schema.String })
])

export const EchoLive = Echo.toLayer(Echo.of({ Echo: ({ payload }) => Effect.succeed(payload.text) }))

export const shardingConfig = (port: number | undefined): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  runnerAddress: port === undefined ? Option.none() : Option.some(RunnerAddress.make("127.0.0.1", port)),
  shardsPerGroup: 30,
  entityTerminationTimeout: 0
})

/** The PostgreSQL that bench/net/run.ts started (its port in EFFECT_RIO_BENCH_PG). */
const server = () => {
  const port = Number(process.env.EFFECT_RIO_BENCH_PG)
  if (!(port > 0)) throw new Error("EFFECT_RIO_BENCH_PG (the PostgreSQL port) is not set")
  return { host: "127.0.0.1", port, username: "postgres" }
}

/** The runner on `port`'s own database, made if it is not there yet. */
export const database = (port: number): Layer.Layer<SqlClient.SqlClient, unknown> => {
  const name = `bench_${port}`
  const create = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const exists = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${name}`
    if (exists.length === 0) yield* sql.unsafe(`CREATE DATABASE ${name}`)
  }).pipe(Effect.provide(PgClient.layer({ ...server(), database: "postgres" })))
  return Layer.unwrapEffect(Effect.as(create, PgClient.layer({ ...server(), database: name })))
}
