/**
 * `@effect/platform`'s `Socket` and `SocketServer` on registered I/O.
 *
 * @since 0.2.0
 */

/**
 * `Socket.Socket` over a registered TCP stream.
 *
 * @since 0.2.0
 */
export * as RioSocket from "./RioSocket.js"

/**
 * `SocketServer.SocketServer` over a registered TCP listener.
 *
 * @since 0.2.0
 */
export * as RioSocketServer from "./RioSocketServer.js"
