/**
 * `@effect/platform`'s `Socket` over a registered TCP stream: code written against
 * `Socket.Socket` (for example `@effect/rpc`'s socket protocol) runs on RIO / io_uring
 * unchanged. Received bytes land in a registered slot and are copied out once for the
 * handler; written bytes are copied once into a registered slot, and writes queued together
 * go out in one send.
 *
 * @since 0.2.0
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import type * as SocketOptions from "@effect-rio/core/SocketOptions"
import type * as Socket from "@effect/platform/Socket"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/socket.js"

/**
 * Where to connect, how long opening may take, the connection's registered memory — its own
 * receive ring (default 16 slots of 4 KiB) and one slot that stages sends (default 16 KiB, at
 * least 4 bytes) — and its socket options, as `RegisteredSocket.connect` takes them (`noDelay`
 * on by default, `keepAlive`, `keepAliveInitialDelay`, buffer sizes).
 *
 * @since 0.2.0
 * @category models
 */
export interface TcpOptions extends SocketOptions.StreamOptions {
  /** Default `"localhost"`. */
  readonly host?: string | undefined
  readonly port: number
  /** Opening that takes longer fails with a `SocketGenericError` of reason `"Open"`, like NodeSocket. */
  readonly openTimeout?: Duration.DurationInput | undefined
  /** Bytes of the registered slot that stages sends (default 16384). */
  readonly bufferSize?: number | undefined
  /** The connection's own receive ring (default 16 slots of 4096 bytes). */
  readonly receiveRing?: RegisteredSocket.StreamRingOptions | undefined
}

/** The options of TCP's that a Unix domain socket does not have. */
type TcpOnly = Exclude<keyof SocketOptions.StreamOptions, keyof SocketOptions.BufferSizeOptions>

/**
 * {@link TcpOptions} for a Unix domain stream socket: the listener's path instead of a host and
 * port, and of the socket options only the buffer sizes (Linux and the test double; Winsock RIO
 * fails `run` with reason `"Open"`).
 *
 * @since 0.2.0
 * @category models
 */
export interface UnixOptions extends Omit<TcpOptions, "host" | "port" | TcpOnly> {
  readonly path: string
}

/**
 * A TCP client `Socket`, like `NodeSocket.makeNet` (with `path`, a Unix domain socket's, as
 * Node's takes it too): each `run` connects, and the connection
 * (with its registered slots) lives as long as that `run`. Connecting fails `run` with a
 * `SocketGenericError` of reason `"Open"`; a peer's end of stream ends `run` successfully.
 * When `run` ends the connection closes: a write still in flight fails with reason `"Write"`
 * (NodeSocket's `destroySoon` would keep flushing it instead).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeTcp: (
  options: TcpOptions | UnixOptions
) => Effect.Effect<Socket.Socket, never, RegisteredIo.RegisteredIo> = internal.makeTcp

/**
 * {@link makeTcp} as a layer of `Socket.Socket`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerTcp: (
  options: TcpOptions | UnixOptions
) => Layer.Layer<Socket.Socket, never, RegisteredIo.RegisteredIo> = internal.layerTcp
