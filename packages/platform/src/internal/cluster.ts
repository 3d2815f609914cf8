/**
 * Effect Cluster's socket transport on registered I/O: the runner's server is a
 * RioSocketServer on the sharding config's listen address, and each peer runner is reached
 * through a RioSocket with `@effect/rpc`'s socket protocol — the two pieces NodeClusterSocket
 * builds from Node's sockets; everything above them is `@effect/cluster`'s own.
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as K8sHttpClient from "@effect/cluster/K8sHttpClient"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { LayerOptions } from "../RioClusterSocket.js"
import * as RioSocketServer from "./server.js"
import * as RioSocket from "./socket.js"

/** NodeClusterSocket's connect timeout for a peer runner: a runner that does not accept in time is unavailable. */
const OPEN_TIMEOUT_MS = 1000

export const layerSocketServer: Layer.Layer<
  SocketServer.SocketServer,
  SocketServer.SocketServerError,
  ShardingConfig.ShardingConfig | RegisteredIo.RegisteredIo
> = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* ShardingConfig.ShardingConfig
  const listen = Option.orElse(config.runnerListenAddress, () => config.runnerAddress)
  if (Option.isNone(listen)) {
    return yield* Effect.dieMessage(
      "RioClusterSocket.layerSocketServer: the sharding config has no runnerListenAddress nor runnerAddress " +
        "(a client-only runner serves nothing: use layer({ clientOnly: true }))"
    )
  }
  return RioSocketServer.layer({ host: listen.value.host, port: listen.value.port })
}))

export const layerClientProtocol: Layer.Layer<
  Runners.RpcClientProtocol,
  never,
  RpcSerialization.RpcSerialization | RegisteredIo.RegisteredIo
> = Layer.effect(
  Runners.RpcClientProtocol,
  Effect.gen(function*() {
    const serialization = yield* RpcSerialization.RpcSerialization
    // Each peer's socket is made later, by the cluster, where only a Scope is at hand.
    const context = yield* Effect.context<RegisteredIo.RegisteredIo>()
    return (address) =>
      Effect.flatMap(
        Effect.provide(
          RioSocket.makeTcp({ host: address.host, port: address.port, openTimeout: OPEN_TIMEOUT_MS }),
          context
        ),
        (socket) =>
          RpcClient.makeProtocolSocket().pipe(
            Effect.provideService(Socket.Socket, socket),
            Effect.provideService(RpcSerialization.RpcSerialization, serialization)
          )
      )
  })
)

export const layer = (options?: LayerOptions): Layer.Layer<any, any, any> => {
  const transport: Layer.Layer<any, any, any> = options?.clientOnly
    ? Layer.provide(SocketRunner.layerClientOnly, layerClientProtocol)
    : Layer.provide(SocketRunner.layer, [layerSocketServer, layerClientProtocol])
  const health: Layer.Layer<RunnerHealth.RunnerHealth, never, any> | Layer.Layer<never> = options?.clientOnly
    ? Layer.empty
    : options?.runnerHealth === "k8s"
    ? RunnerHealth.layerK8s(options.runnerHealthK8s) as Layer.Layer<
      RunnerHealth.RunnerHealth,
      never,
      K8sHttpClient.K8sHttpClient
    >
    // Pings go to the peers through a Runners client of their own, over this transport.
    : RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(layerClientProtocol))
  const storage = options?.storage
  return transport.pipe(
    Layer.provide(health),
    Layer.provideMerge(
      storage === "local"
        ? MessageStorage.layerNoop
        : storage === "byo"
        ? Layer.empty
        : Layer.orDie(SqlMessageStorage.layer)
    ),
    Layer.provide(
      storage === "local"
        ? RunnerStorage.layerMemory
        : storage === "byo"
        ? Layer.empty
        : Layer.orDie(SqlRunnerStorage.layer)
    ),
    Layer.provide(ShardingConfig.layerFromEnv(options?.shardingConfig)),
    Layer.provide(
      options?.serialization === "ndjson"
        ? RpcSerialization.layerNdjsonWith({ maxBufferSize: options?.serializationMaxBufferSize })
        : RpcSerialization.layerMsgPackWith({ maxBufferSize: options?.serializationMaxBufferSize })
    )
  )
}
