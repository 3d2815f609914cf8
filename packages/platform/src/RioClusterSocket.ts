/**
 * Effect Cluster runners on registered I/O: `@effect/cluster`'s socket transport (what
 * `NodeClusterSocket` of `@effect/platform-node` wires to Node's sockets) on `RioSocketServer`
 * and `RioSocket`, with the same options and meaning. Runners on either speak the same wire
 * protocol (`@effect/rpc`'s socket protocol), so a cluster may mix them.
 *
 * Imported by its own path, `@effect-rio/platform/RioClusterSocket`, so that only its users
 * need `@effect/cluster`, `@effect/rpc` and `@effect/sql` (optional peer dependencies).
 *
 * @since 0.2.0
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as K8sHttpClient from "@effect/cluster/K8sHttpClient"
import type * as MessageStorage from "@effect/cluster/MessageStorage"
import type * as Runners from "@effect/cluster/Runners"
import type * as RunnerStorage from "@effect/cluster/RunnerStorage"
import type { Sharding } from "@effect/cluster/Sharding"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import type * as SocketServer from "@effect/platform/SocketServer"
import type * as RpcSerialization from "@effect/rpc/RpcSerialization"
import type { SqlClient } from "@effect/sql/SqlClient"
import type { ConfigError } from "effect/ConfigError"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/cluster.js"

/**
 * A runner's server: a `RioSocketServer` on the sharding config's `runnerListenAddress`, else
 * its `runnerAddress` (the address other runners dial). A config with neither (a client-only
 * runner) is a defect: such a runner serves nothing.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSocketServer: Layer.Layer<
  SocketServer.SocketServer,
  SocketServer.SocketServerError,
  ShardingConfig.ShardingConfig | RegisteredIo.RegisteredIo
> = internal.layerSocketServer

/**
 * How a runner reaches its peers: one `RioSocket` per peer runner (made by the cluster when it
 * first sends there, closed when idle) carrying `@effect/rpc`'s socket protocol, with
 * NodeClusterSocket's connect timeout (1 s; a peer that does not accept in time is unavailable
 * and its shards move once the health check agrees).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerClientProtocol: Layer.Layer<
  Runners.RpcClientProtocol,
  never,
  RpcSerialization.RpcSerialization | RegisteredIo.RegisteredIo
> = internal.layerClientProtocol

/**
 * `layer`'s options: NodeClusterSocket.layer's, with the same defaults.
 *
 * @since 0.2.0
 * @category models
 */
export interface LayerOptions {
  /** The wire format; every runner of a cluster must use the same. Default `"msgpack"`. */
  readonly serialization?: "msgpack" | "ndjson" | undefined
  readonly serializationMaxBufferSize?: number | "unbounded" | undefined
  /** A process that sends to entities but hosts none (no server, no shards). */
  readonly clientOnly?: boolean | undefined
  /**
   * Where messages and runner registrations live: `"sql"` (the default: `@effect/cluster`'s SQL
   * storage on the `SqlClient` you provide, for example `@effect/sql-pg`), `"local"` (memory,
   * one runner, no persisted messages) or `"byo"` (you provide `MessageStorage` and
   * `RunnerStorage`).
   */
  readonly storage?: "local" | "sql" | "byo" | undefined
  /** How a runner is judged alive: `"ping"` over this transport (default) or `"k8s"` (needs `K8sHttpClient`). */
  readonly runnerHealth?: "ping" | "k8s" | undefined
  readonly runnerHealthK8s?: {
    readonly namespace?: string | undefined
    readonly labelSelector?: string | undefined
  } | undefined
  /** Over the environment's (`ShardingConfig.layerFromEnv`): `runnerAddress`, `shardsPerGroup`, … */
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}

/**
 * What `layer` needs for the storage and health it is given.
 *
 * @since 0.2.0
 * @category models
 */
export type LayerRequirements<Storage extends "local" | "sql" | "byo", Health extends "ping" | "k8s"> =
  | RegisteredIo.RegisteredIo
  | ("local" extends Storage ? never
    : "byo" extends Storage ? MessageStorage.MessageStorage | RunnerStorage.RunnerStorage
    : SqlClient)
  | ("k8s" extends Health ? K8sHttpClient.K8sHttpClient : never)

/**
 * A whole runner (or, with `clientOnly`, a client of the cluster) on registered I/O:
 * `Sharding` and `Runners` over this transport, the chosen storage and health check, the
 * sharding config from the environment with `shardingConfig` over it, and the serialization —
 * NodeClusterSocket.layer with `RegisteredIo` (any backend) in place of Node's sockets.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: <
  const ClientOnly extends boolean = false,
  const Storage extends "local" | "sql" | "byo" = never,
  const Health extends "ping" | "k8s" = never
>(
  options?: LayerOptions & {
    readonly clientOnly?: ClientOnly | undefined
    readonly storage?: Storage | undefined
    readonly runnerHealth?: Health | undefined
  }
) => Layer.Layer<
  Sharding | Runners.Runners | ("byo" extends Storage ? never : MessageStorage.MessageStorage),
  ConfigError | (ClientOnly extends true ? never : SocketServer.SocketServerError),
  LayerRequirements<Storage, ClientOnly extends true ? never : Health>
> = internal.layer
