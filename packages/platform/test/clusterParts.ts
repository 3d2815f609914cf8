/**
 * What the cluster tests run: an entity with state (a counter per entity id, which says which
 * runner holds it), and a runner registry for runners of one process that locks each shard
 * to one runner, as `@effect/cluster`'s SQL storage does (its `layerMemory` serves one runner
 * only: it hands every runner the same locks).
 */
import * as Entity from "@effect/cluster/Entity"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Rpc from "@effect/rpc/Rpc"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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
