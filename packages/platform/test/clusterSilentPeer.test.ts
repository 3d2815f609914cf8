/**
 * A peer runner that never answers: registered in the cluster and given shards, it accepts
 * RioClusterSocket's connections and reads what they send, but writes nothing back (a runner
 * stuck in a loop, a frozen process). Messages for its entities wait; Effect Cluster's ping
 * health check times it out and marks it unhealthy; its shards move to the runners that do
 * answer; every message ends answered by one of them.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as EntityId from "@effect/cluster/EntityId"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as Runner from "@effect/cluster/Runner"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HashRing from "effect/HashRing"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RioClusterSocket from "../src/RioClusterSocket.js"
import { Counter, CounterLive, layerRunnerStorage } from "./clusterParts.js"
import { freePorts } from "./ports.js"

const IDS = 40
const SHARDS = 30

const config = (port: number | undefined): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  runnerAddress: port === undefined ? Option.none() : Option.some(RunnerAddress.make("127.0.0.1", port)),
  shardsPerGroup: SHARDS,
  refreshAssignmentsInterval: 100,
  runnerHealthCheckInterval: 500,
  entityTerminationTimeout: 0,
  sendRetryInterval: 100
})

/** Accepts every connection and reads it to its end, never writing a byte back. */
const silentRunner = (port: number) =>
  Effect.gen(function*() {
    const listener = yield* RegisteredSocket.listen({ host: "127.0.0.1", port })
    const swallow = (stream: RegisteredSocket.TcpStream) =>
      Effect.scoped(Effect.gen(function*() {
        const registration = yield* RegisteredIo.allocateBuffer(4096)
        const buf = yield* registration.slice(0, 4096)
        while ((yield* stream.receive(buf)) > 0) {
          // read and dropped
        }
      })).pipe(Effect.ignore)
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(listener.accept, (stream) => Effect.forkScoped(swallow(stream))))
    )
  })

/**
 * The runner that will run Effect Cluster's health check, a singleton: the holder of its shard
 * on the hash ring of `ports`, computed as Sharding does. The silent runner must not be that one:
 * a health check stuck on a runner that never answers checks nobody, so its shards never move
 * (Effect Cluster's design; with SQL storage a frozen runner's shard locks expire, but its
 * assignment stays until a health check marks it unhealthy).
 */
const healthCheckHolder = (ports: ReadonlyArray<number>, sharding: Sharding.Sharding["Type"]): number => {
  const ring = HashRing.make<RunnerAddress.RunnerAddress>()
  for (const port of ports) HashRing.add(ring, RunnerAddress.make("127.0.0.1", port), { weight: 1 })
  const shard = sharding.getShardId(EntityId.make("effect/cluster/Sharding/RunnerHealth"), "default")
  return HashRing.getShards(ring, SHARDS)![shard.id - 1]!.port
}

/** A backend to run the case on: its layer, and three ports nothing listens on there. */
interface Backend {
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, unknown>
  readonly ports: () => Effect.Effect<ReadonlyArray<number>>
}

/** The case on one backend: a cluster with a silent runner, 40 messages, every outcome checked. */
const silentPeer = (backend: Backend) =>
  Effect.gen(function*() {
    const storage = yield* Layer.build(
      Layer.merge(MessageStorage.layerMemory, layerRunnerStorage).pipe(
        Layer.provide(ShardingConfig.layer(config(undefined)))
      )
    )
    const clientLayer = RioClusterSocket.layer({
      clientOnly: true,
      storage: "byo",
      shardingConfig: config(undefined)
    }).pipe(Layer.provide(Layer.succeedContext(storage)))
    const candidates = yield* backend.ports()
    // A client of its own, closed at once: one that saw the cluster before its runners
    // joined would first send everything to the silent runner.
    const holder = yield* Effect.scoped(
      Effect.map(Layer.build(clientLayer), (context) =>
        healthCheckHolder(candidates, Context.get(context, Sharding.Sharding)))
    )
    const silent = candidates.find((port) =>
      port !== holder
    )!
    const ports = candidates.filter((port) => port !== silent)
    yield* silentRunner(silent)
    const runners = yield* Effect.provide(RunnerStorage.RunnerStorage, storage)
    yield* runners.register(
      Runner.make({ address: RunnerAddress.make("127.0.0.1", silent), groups: ["default"], weight: 1 }),
      true
    )
    for (const port of ports) {
      yield* Layer.build(
        CounterLive.pipe(
          Layer.provideMerge(
            RioClusterSocket.layer({ storage: "byo", runnerHealth: "ping", shardingConfig: config(port) })
          ),
          Layer.provide(Layer.succeedContext(storage))
        )
      )
    }
    const client = yield* Effect.provide(Counter.client, yield* Layer.build(clientLayer))
    const outcomes = yield* Effect.forEach(
      Array.from({ length: IDS }, (_, i) => `counter-${i}`),
      (id) =>
        Effect.gen(function*() {
          const sent = Date.now()
          const count = yield* client(id).Increment({ by: 1 })
          return { id, ms: Date.now() - sent, ...count }
        }),
      { concurrency: "unbounded" }
    )
    // Every message answered once, by a runner that answers.
    for (const outcome of outcomes) {
      assert.strictEqual(outcome.total, 1, outcome.id)
      assert.include(ports, outcome.runner, outcome.id)
    }
    // The silent runner's messages waited at least one of the health check's 10 s pings.
    const waited = outcomes.filter((outcome) => outcome.ms >= 10_000)
    assert.isAtLeast(waited.length, 1, "some ids were on the silent runner's shards")
    assert.isBelow(waited.length, IDS, "the other runners' ids did not wait for it")
    const health = new Map(
      (yield* runners.getRunners).map(([runner, healthy]) => [runner.address.port, healthy] as const)
    )
    assert.deepStrictEqual(health.get(silent), false, "the silent runner is marked unhealthy")
    console.log(
      `silent peer (${backend.name}): ${waited.length} of ${IDS} ids waited ` +
        `${Math.min(...waited.map((o) => o.ms))}-${Math.max(...waited.map((o) => o.ms))} ms, then moved`
    )
  }).pipe(Effect.scoped, Effect.provide(backend.layer))

const backends: ReadonlyArray<Backend> = [
  { name: "io_uring", layer: KoffiRio.layerLinux(), ports: () => freePorts(3) },
  { name: "RioTest double", layer: RioTest.layer(), ports: () => Effect.succeed([42_000, 42_001, 42_002]) }
]

describe("RioClusterSocket: a peer runner that never answers", () => {
  // Both backends at once: each waits a minute for Effect Cluster's health check.
  it.live(
    "on io_uring and on the double, side by side: its messages wait, it is found unhealthy, its shards move, every message is answered",
    () => Effect.asVoid(Effect.all(backends.map(silentPeer), { concurrency: "unbounded" })),
    180_000
  )
})
