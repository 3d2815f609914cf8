/**
 * What the cluster tests run: entities with state — a counter per entity id in the runner's
 * memory, and an account whose balance lives in PostgreSQL (for the deployment across
 * processes) — each saying which runner holds it; and a runner registry for runners of one
 * process that locks each shard to one runner, as `@effect/cluster`'s SQL storage does (its
 * `layerMemory` serves one runner only: it hands every runner the same locks).
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as Rpc from "@effect/rpc/Rpc"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

const Count = Schema.Struct({ total: Schema.Number, runner: Schema.Number })

/** `Increment` answers the new total; `Get` the total so far; both with the holding runner's port. */
export const Counter = Entity.make("Counter", [
  Rpc.make("Increment", { payload: { by: Schema.Number }, success: Count }),
  Rpc.make("Get", { success: Count })
])

/** The counter's handlers: state lives in the entity's instance, on the runner that holds it. */
export const CounterLive = Counter.toLayer(Effect.gen(function*() {
  const { port } = yield* Entity.CurrentRunnerAddress
  let total = 0
  return Counter.of({
    Increment: ({ payload }) => Effect.sync(() => ({ total: total += payload.by, runner: port })),
    Get: () => Effect.sync(() => ({ total, runner: port }))
  })
}))

/**
 * `Deposit` (persisted: stored before it is delivered, and delivered again when its runner died
 * before its reply was stored — at least once, as Effect Cluster documents) adds to an account's
 * balance once per message: in one transaction it logs the delivery, and applies a message it
 * has not processed before, so a redelivery answers what the first delivery did. `Where`
 * (volatile) names the runner.
 */
export const Account = Entity.make("Account", [
  Rpc.make("Deposit", {
    payload: { message: Schema.String, amount: Schema.Number },
    success: Schema.Struct({ balance: Schema.Number, runner: Schema.Number })
  }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Where", { success: Schema.Number })
])

/** The tables `Account` writes; made once, before the runners start. */
export const accountTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL)`
  yield* sql`CREATE TABLE IF NOT EXISTS processed (
    message TEXT PRIMARY KEY, account TEXT NOT NULL, runner INTEGER NOT NULL, balance INTEGER NOT NULL)`
  yield* sql`CREATE TABLE IF NOT EXISTS deliveries (message TEXT NOT NULL, runner INTEGER NOT NULL)`
})

export const AccountLive = Account.toLayer(Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const { port } = yield* Entity.CurrentRunnerAddress
  const { entityId } = yield* Entity.CurrentAddress
  return Account.of({
    Deposit: ({ payload }) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO deliveries (message, runner) VALUES (${payload.message}, ${port})`
        const [done] = yield* sql<{ readonly balance: number }>`
          SELECT balance FROM processed WHERE message = ${payload.message}`
        if (done !== undefined) return { balance: done.balance, runner: port }
        const [row] = yield* sql<{ readonly balance: number }>`
          INSERT INTO balances (account, balance) VALUES (${entityId}, ${payload.amount})
          ON CONFLICT (account) DO UPDATE SET balance = balances.balance + ${payload.amount}
          RETURNING balance`
        yield* sql`INSERT INTO processed (message, account, runner, balance)
          VALUES (${payload.message}, ${entityId}, ${port}, ${row!.balance})`
        return { balance: row!.balance, runner: port }
      })).pipe(Effect.orDie),
    Where: () => Effect.succeed(port)
  })
}))

/**
 * The deployment's sharding config, the same in every process (`port` undefined: the client):
 * a dead runner is found within seconds (health checked every second, its shard locks expire
 * after 3 s), and stored messages are looked for every half second.
 */
export const deploymentConfig = (port: number | undefined): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  runnerAddress: port === undefined ? Option.none() : Option.some(RunnerAddress.make("127.0.0.1", port)),
  shardsPerGroup: 60,
  refreshAssignmentsInterval: 200,
  runnerHealthCheckInterval: 1000,
  shardLockRefreshInterval: 1000,
  shardLockExpiration: 3000,
  entityMessagePollInterval: 500,
  entityReplyPollInterval: 100,
  sendRetryInterval: 100,
  entityTerminationTimeout: 0
})

/** A registry of runners and shard locks shared by the runners of this process. */
export const layerRunnerStorage: Layer.Layer<RunnerStorage.RunnerStorage> = Layer.sync(
  RunnerStorage.RunnerStorage,
  () => {
    const runners = new Map<string, { readonly runner: string; healthy: boolean }>()
    const owners = new Map<string, string>()
    let machineId = 0
    const held = (address: string, shardIds: ReadonlyArray<string>) =>
      shardIds.filter((shard) => owners.get(shard) === address)
    return RunnerStorage.makeEncoded({
      getRunners: Effect.sync(() => Array.from(runners.values(), ({ healthy, runner }) => [runner, healthy] as const)),
      register: (address, runner, healthy) =>
        Effect.sync(() => {
          runners.set(address, { runner, healthy })
          return machineId++
        }),
      unregister: (address) =>
        Effect.sync(() => {
          runners.delete(address)
          for (const [shard, owner] of owners) if (owner === address) owners.delete(shard)
        }),
      setRunnerHealth: (address, healthy) =>
        Effect.sync(() => {
          const entry = runners.get(address)
          if (entry !== undefined) entry.healthy = healthy
        }),
      acquire: (address, shardIds) =>
        Effect.sync(() => {
          for (const shard of shardIds) if (!owners.has(shard)) owners.set(shard, address)
          return held(address, shardIds)
        }),
      refresh: (address, shardIds) => Effect.sync(() => held(address, shardIds)),
      release: (address, shard) =>
        Effect.sync(() => {
          if (owners.get(shard) === address) owners.delete(shard)
        }),
      releaseAll: (address) =>
        Effect.sync(() => {
          for (const [shard, owner] of owners) if (owner === address) owners.delete(shard)
        })
    })
  }
)
