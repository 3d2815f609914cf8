/**
 * `@effect/platform`'s `SocketServer` over a registered TCP listener: each accepted
 * connection is handed to the handler as a `Socket.Socket` (see `RioSocket`) in a fiber of
 * its own.
 *
 * @since 0.2.0
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import type * as SocketOptions from "@effect-rio/core/SocketOptions"
import type * as SocketServer from "@effect/platform/SocketServer"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/server.js"

/**
 * Where to listen (port 0: a free one, reported in `address`), the listen backlog, how many
 * connections may be open, and the server's registered memory — the same whatever the number
 * of connections: one receive ring that every connection receives through, and one pool of
 * send slots that every connection copies its writes into (a slot per batch of writes in
 * flight; a connection waits for a free slot rather than fail). The socket options are
 * `RegisteredSocket.listen`'s: `reusePort` (one port for several processes), `ipv6Only`,
 * `reuseAddress`, buffer sizes, and `noDelay` / `keepAlive` / `keepAliveInitialDelay` for every
 * connection, as `NodeSocketServer`'s.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options
  extends SocketOptions.BindOptions, Omit<SocketOptions.StreamOptions, keyof SocketOptions.BufferSizeOptions>
{
  /**
   * Default: every interface, as Node — `"::"` (IPv4 peers too, dual stack) where the system
   * has IPv6, else `"0.0.0.0"`.
   */
  readonly host?: string | undefined
  readonly port: number
  /** Default 511, like Node. */
  readonly backlog?: number | undefined
  /**
   * The most connections open at once (default: no limit, like Node). One more is closed as
   * soon as it is accepted, with a warning in the log that names the limit.
   */
  readonly maxConnections?: number | undefined
  /** The one receive ring of every connection (default 256 slots of 4096 bytes). */
  readonly receiveRing?: RegisteredSocket.StreamRingOptions | undefined
  /** Bytes per send slot (default 16384). */
  readonly bufferSize?: number | undefined
  /** Send slots shared by every connection (default 64). */
  readonly sendSlots?: number | undefined
}

/** The options of the server itself, not of its sockets. */
type OwnOptions = "backlog" | "maxConnections" | "receiveRing" | "bufferSize" | "sendSlots"

/**
 * {@link Options} for a Unix domain socket: bound to `path` instead of a host and port, removed
 * when the server closes (as Node's), with only the buffer-size socket options. Its address is a
 * `UnixAddress`. Linux and the test double;
 * Winsock RIO fails with reason `"Open"`.
 *
 * @since 0.2.0
 * @category models
 */
export interface UnixOptions
  extends Omit<Options, Exclude<keyof Options, keyof SocketOptions.BufferSizeOptions | OwnOptions>>
{
  readonly path: string
}

/**
 * A listening server for the life of the scope, like `NodeSocketServer.make` (which takes a
 * `path` too): a port or path in use
 * fails with a `SocketServerError` of reason `"Open"`. Connections wait in the backlog until
 * `run` accepts them; closing the scope closes every connection (aborting sends in flight:
 * the peer gets what was sent, then the end of the stream), then the listener.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (
  options: Options | UnixOptions
) => Effect.Effect<
  SocketServer.SocketServer["Type"],
  SocketServer.SocketServerError,
  RegisteredIo.RegisteredIo | Scope.Scope
> = internal.make

/**
 * {@link make} as a layer of `SocketServer.SocketServer`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: (
  options: Options | UnixOptions
) => Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, RegisteredIo.RegisteredIo> = internal.layer
