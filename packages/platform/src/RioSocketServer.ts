/**
 * `@effect/platform`'s `SocketServer` over a registered TCP listener: each accepted
 * connection is handed to the handler as a `Socket.Socket` (see `RioSocket`) in a fiber of
 * its own.
 *
 * @since 0.2.0
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as SocketServer from "@effect/platform/SocketServer"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/server.js"

/**
 * Where to listen (port 0: a free one, reported in `address`), the listen backlog, and the
 * size of each connection's two registered slots (default 16 KiB).
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Default `"127.0.0.1"`. */
  readonly host?: string | undefined
  readonly port: number
  /** Default 511, like Node. */
  readonly backlog?: number | undefined
  /** Bytes per registered slot of each connection (default 16384). */
  readonly bufferSize?: number | undefined
}

/**
 * A listening server for the life of the scope, like `NodeSocketServer.make`: a port in use
 * fails with a `SocketServerError` of reason `"Open"`. Connections wait in the backlog until
 * `run` accepts them; closing the scope closes every connection (aborting sends in flight:
 * the peer gets what was sent, then the end of the stream), then the listener.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (
  options: Options
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
  options: Options
) => Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, RegisteredIo.RegisteredIo> = internal.layer
