/**
 * Effect Cluster on RioClusterSocket: three runners in this process, each on its own port
 * with its own server and peer sockets, one registry and message store between them (`byo`
 * storage), and a client-only process that sends. An entity with state answers every message
 * from the runner that holds it; when a runner leaves, its entities move to the others; a
 * runner on NodeClusterSocket joins the same cluster; a port in use fails the layer; a lone
 * runner on `local` storage serves every id.
 */
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import type * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import { assert, describe, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as RioClusterSocket from "../src/RioClusterSocket.js"
import { Counter, CounterLive, layerRunnerStorage } from "./clusterParts.js"
import { freePorts } from "./ports.js"

const IDS = 60
const ROUNDS = 5

/** Quick enough for a test: assignments refreshed often, entities stopped at once. */
const config = (port: number | undefined): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  runnerAddress: port === undefined ? Option.none() : Option.some(RunnerAddress.make("127.0.0.1", port)),
  shardsPerGroup: 30,
  refreshAssignmentsInterval: 50,
  entityTerminationTimeout: 0,
  entityMessagePollInterval: 5000,
  sendRetryInterval: 50
})

/** Ports nothing listens on: the kernel's free ones on io_uring; any on the double's own network. */
const freePortsOn = (count: number, real: boolean): Effect.Effect<Array<number>> =>
  real ? freePorts(count) : Effect.succeed(Array.from({ length: count }, (_, i) => 41_000 + i))

/** The runners' registry and message store (memory here; a database between processes). */
const sharedStorage = Layer.merge(MessageStorage.layerMemory, layerRunnerStorage).pipe(
  Layer.provide(ShardingConfig.layer(config(undefined)))
)

type Storage = Context.Context<MessageStorage.MessageStorage | RunnerStorage.RunnerStorage>

type Client = Effect.Effect.Success<typeof Counter.client>

const rioRunner = (port: number) =>
  CounterLive.pipe(Layer.provideMerge(RioClusterSocket.layer({ storage: "byo", shardingConfig: config(port) })))

const nodeRunner = (port: number) =>
  CounterLive.pipe(Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", shardingConfig: config(port) })))

/** Builds `runner` in a scope of its own, so that the test can stop it. */
const start = <A, E, R>(runner: Layer.Layer<A, E, R>, storage: Storage) =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    yield* Layer.buildWithScope(Layer.provide(runner, Layer.succeedContext(storage)), scope)
    return scope
  })

/** Sends every id `ROUNDS` increments, in order per id; checks each total; who holds each id. */
const incrementAll = (client: Client, from: number) =>
  Effect.forEach(Array.from({ length: IDS }, (_, i) => `counter-${i}`), (id) =>
    Effect.gen(function*() {
      let runner = 0
      for (let round = 1; round <= ROUNDS; round++) {
        const count = yield* client(id).Increment({ by: 1 })
        assert.strictEqual(count.total, from + round, `${id}, round ${round}`)
        runner = count.runner
      }
      return [id, runner] as const
    }), { concurrency: 16 }).pipe(Effect.map((held) => new Map(held)))

const backends = [
  { name: "io_uring", layer: KoffiRio.layerLinux(), real: true },
  { name: "RioTest double", layer: RioTest.layer(), real: false }
] as const

backends.forEach((backend) => {
  describe(`RioClusterSocket on ${backend.name}`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.scoped(
        "3 runners: every message answered in order by the holder; a runner that leaves hands its entities on",
        () =>
          Effect.gen(function*() {
            const storage = yield* Layer.build(sharedStorage)
            const ports = yield* freePortsOn(3, backend.real)
            const runners = yield* Effect.forEach(ports, (port) => start(rioRunner(port), storage))
            const clientContext = yield* Layer.build(
              RioClusterSocket.layer({ clientOnly: true, storage: "byo", shardingConfig: config(undefined) }).pipe(
                Layer.provide(Layer.succeedContext(storage))
              )
            )
            const client = yield* Effect.provide(Counter.client, clientContext)

            const held = yield* incrementAll(client, 0)
            const holders = new Set(held.values())
            assert.isAtLeast(holders.size, 2, "the ids spread over the runners")
            for (const runner of holders) assert.include(ports, runner)

            // The third runner leaves: its entities move to the others and start afresh (their
            // state was its memory); an entity that stays where it was keeps its state (the
            // others' shards may be rebalanced too).
            yield* Scope.close(runners[2]!, Exit.void)
            let moved = 0
            yield* Effect.forEach(held, ([id, runner]) =>
              Effect.gen(function*() {
                const count = yield* client(id).Get()
                assert.notStrictEqual(count.runner, ports[2], `${id} is still on the runner that left`)
                assert.strictEqual(count.total, count.runner === runner ? ROUNDS : 0, id)
                if (runner === ports[2]) moved++
              }), { concurrency: 16, discard: true })
            assert.isAtLeast(moved, 1, "the runner that left held some ids")
          }),
        60_000
      )

      it.scoped(
        "storage \"local\": one runner, its registry in its own memory, answers every id in order",
        () =>
          Effect.gen(function*() {
            const [port] = yield* freePortsOn(1, backend.real)
            const runner = yield* Layer.build(
              CounterLive.pipe(
                Layer.provideMerge(RioClusterSocket.layer({ storage: "local", shardingConfig: config(port) }))
              )
            )
            const held = yield* incrementAll(yield* Effect.provide(Counter.client, runner), 0)
            assert.strictEqual(held.size, IDS)
            assert.deepStrictEqual([...new Set(held.values())], [port])
          }),
        30_000
      )

      it.scoped(
        "a runner whose port is taken fails its layer with SocketServerError \"Open\"",
        () =>
          Effect.gen(function*() {
            const storage = yield* Layer.build(sharedStorage)
            const [port] = yield* freePortsOn(1, backend.real)
            yield* start(rioRunner(port!), storage)
            const exit = yield* Effect.exit(start(rioRunner(port!), storage))
            const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
            assert.isTrue(Option.isSome(error), "the second runner's layer failed")
            const failure = Option.getOrThrow(error) as {
              readonly _tag: string
              readonly reason: string
              readonly cause: { readonly _tag?: string }
            }
            assert.strictEqual(failure._tag, "SocketServerError")
            assert.strictEqual(failure.reason, "Open")
            assert.strictEqual(failure.cause._tag, "WSAEADDRINUSE")
          }),
        30_000
      )
    })
  })
})

describe("a mixed cluster (io_uring)", () => {
  layer(KoffiRio.layerLinux(), { excludeTestServices: true })((it) => {
    it.scoped(
      "two runners on RioClusterSocket and one on NodeClusterSocket serve one cluster",
      () =>
        Effect.gen(function*() {
          const storage = yield* Layer.build(sharedStorage)
          const ports = yield* freePorts(3)
          yield* start(rioRunner(ports[0]!), storage)
          yield* start(rioRunner(ports[1]!), storage)
          yield* start(nodeRunner(ports[2]!), storage)
          // The client on Node's sockets too: every pair of transports meets.
          const clientContext = yield* Layer.build(
            NodeClusterSocket.layer({ clientOnly: true, storage: "byo", shardingConfig: config(undefined) }).pipe(
              Layer.provide(Layer.succeedContext(storage))
            )
          )
          const client = yield* Effect.provide(Counter.client, clientContext)
          const held = yield* incrementAll(client, 0)
          assert.strictEqual(new Set(held.values()).size, 3, "each runner holds some ids")
        }),
      60_000
    )
  })
})
