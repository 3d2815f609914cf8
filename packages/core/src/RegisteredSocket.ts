/**
 * Sockets whose sends and receives name `RioBuf` slices of registrations: UDP datagrams
 * (RIOSendEx / RIOReceiveEx) and TCP streams (RIOSend / RIOReceive), on whichever backend
 * the `RegisteredIo` layer provides.
 *
 * Every operation holds a token on its slice's registration from submission until its
 * completion has been consumed, so a registration is never released under the kernel's
 * feet; interrupting an operation cancels it in the kernel and waits for the cancelled
 * completion before it returns. After an interrupted TCP send or receive the stream stays
 * usable on io_uring and the test double; Winsock RIO has no per-request cancel, so there
 * the stream is closed and its later operations fail with `WSAECONNABORTED` (a UDP socket
 * stays usable everywhere).
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { withService } from "./internal/service.js"
import type { RegisteredIo } from "./RegisteredIo.js"
import type * as RioBuf from "./RioBuf.js"
import type * as RioError from "./RioError.js"

/**
 * An IP endpoint: a numeric IPv4 or IPv6 host (`"127.0.0.1"`, `"::1"`) or `"localhost"`,
 * and a port.
 *
 * @since 0.2.0
 * @category models
 */
export interface SocketAddress {
  readonly host: string
  readonly port: number
}

/**
 * What a socket operation can fail with: a bad slice (`WSAEINVAL` for a released or foreign
 * registration or a bad argument, `WSAEFAULT` for a range past its registration's end), or
 * what the peer, the network or the socket's state caused.
 *
 * @since 0.2.0
 * @category models
 */
export type SocketError =
  | RioError.WSAEINVAL
  | RioError.WSAEFAULT
  | RioError.WSAENOBUFS
  | RioError.WSAETIMEDOUT
  | RioError.NetworkError
  | RioError.RioUnavailable
  | RioError.RioSystemError

/**
 * How many operations of each direction a socket may have in the kernel at once (its RIO
 * request queue). More wait their turn — backpressure, never an error.
 *
 * @since 0.2.0
 * @category models
 */
export interface QueueOptions {
  /** Outstanding sends (default 64). */
  readonly maxOutstandingSends?: number
  /** Outstanding receives (default 64). */
  readonly maxOutstandingReceives?: number
}

/**
 * A datagram received: how many bytes landed at the start of the slice, and from whom.
 *
 * @since 0.2.0
 * @category models
 */
export interface Datagram {
  readonly length: number
  readonly address: SocketAddress
}

/**
 * A bound UDP socket.
 *
 * @since 0.2.0
 * @category models
 */
export interface UdpSocket {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: SocketAddress
  /** Sends the slice as one datagram to `to`; the bytes sent. */
  readonly sendTo: (buf: RioBuf.RioBuf, to: SocketAddress) => Effect.Effect<number, SocketError>
  /** Receives one datagram into the slice; one larger than the slice is `WSAEMSGSIZE`. */
  readonly receiveFrom: (buf: RioBuf.RioBuf) => Effect.Effect<Datagram, SocketError>
}

/**
 * A connected TCP stream.
 *
 * @since 0.2.0
 * @category models
 */
export interface TcpStream {
  readonly localAddress: SocketAddress
  readonly remoteAddress: SocketAddress
  /** Sends from the slice; the bytes the kernel took, which may be fewer than the slice. */
  readonly send: (buf: RioBuf.RioBuf) => Effect.Effect<number, SocketError>
  /** Sends the whole slice, in as many sends as it takes. */
  readonly sendAll: (buf: RioBuf.RioBuf) => Effect.Effect<void, SocketError>
  /** Receives into the slice; the bytes that landed at its start, 0 when the peer closed its side. */
  readonly receive: (buf: RioBuf.RioBuf) => Effect.Effect<number, SocketError>
  /** Half-closes: `"write"` (the default) sends the peer an end of stream; later sends are `WSAESHUTDOWN`. */
  readonly shutdown: (how?: "read" | "write" | "both") => Effect.Effect<void, SocketError>
}

/**
 * A listening TCP socket.
 *
 * @since 0.2.0
 * @category models
 */
export interface TcpListener {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: SocketAddress
  /** The next connection, closed when the scope closes. */
  readonly accept: Effect.Effect<TcpStream, SocketError, Scope.Scope>
}

/**
 * Options of {@link udp}.
 *
 * @since 0.2.0
 * @category models
 */
export interface UdpOptions extends QueueOptions {
  /** Default `"127.0.0.1"`. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
}

/**
 * Options of {@link connect}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectOptions extends QueueOptions {
  readonly host: string
  readonly port: number
}

/**
 * Options of {@link listen}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ListenOptions extends QueueOptions {
  /** Default `"127.0.0.1"`. */
  readonly host?: string
  /** 0: a free port, reported in `address`. */
  readonly port: number
  /** Default 511, like Node. */
  readonly backlog?: number
  /** Queue options of the accepted streams; default: the listener's. */
  readonly accepted?: QueueOptions
}

/**
 * A UDP socket bound for the life of the scope. Closing the scope aborts what is still
 * outstanding (`WSAECONNABORTED`), waits for those completions, then closes the socket.
 *
 * @since 0.2.0
 * @category constructors
 */
export const udp = (
  options: UdpOptions = {}
): Effect.Effect<UdpSocket, SocketError, RegisteredIo | Scope.Scope> => withService((service) => service.udp(options))

/**
 * A TCP connection for the life of the scope; nothing listening is `WSAECONNREFUSED`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const connect = (
  options: ConnectOptions
): Effect.Effect<TcpStream, SocketError, RegisteredIo | Scope.Scope> =>
  withService((service) => service.connect(options))

/**
 * A TCP listener for the life of the scope; a port in use is `WSAEADDRINUSE`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const listen = (
  options: ListenOptions
): Effect.Effect<TcpListener, SocketError, RegisteredIo | Scope.Scope> =>
  withService((service) => service.listen(options))
