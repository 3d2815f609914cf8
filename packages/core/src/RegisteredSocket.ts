/**
 * Sockets whose sends and receives name `RioBuf` slices of registrations: UDP datagrams
 * (RIOSendEx / RIOReceiveEx) and TCP streams (RIOSend / RIOReceive), on whichever backend
 * the `RegisteredIo` layer provides.
 *
 * Every operation holds a token on its slice's registration from submission until its
 * completion has been consumed, so a registration is never released under the kernel's
 * feet; interrupting an operation cancels it in the kernel and waits for the cancelled
 * completion before it returns (a datagram's send is not cancelled: the kernel hands it over
 * at once, and an interrupted UDP send — even one waiting for a place in the send queue — ends
 * at its completion). After an interrupted TCP send
 * or receive the stream stays usable on io_uring and the test double; Winsock RIO has no
 * per-request cancel, so there the stream is closed and its later operations fail with
 * `WSAECONNABORTED` (a UDP socket stays usable everywhere).
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { withService } from "./internal/service.js"
import type { RegisteredIo } from "./RegisteredIo.js"
import type * as RioBuf from "./RioBuf.js"
import type * as RioError from "./RioError.js"
import type * as SocketOptions from "./SocketOptions.js"

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
 * A Unix domain socket's address: its path in the file system (`""` for a socket that has no
 * name, such as the client end of a connection).
 *
 * @since 0.2.0
 * @category models
 */
export interface UnixAddress {
  readonly path: string
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
 * A datagram in a slot of the socket's receive ring, from `receiveMany` or `withReceived`:
 * `buf` is exactly its bytes (a slice of the ring's registration, usable with `sendTo` and
 * `sendMany`), `bytes` a view of them. Both are the caller's only until the batch ends (its
 * scope closes, or its `use` returns); then the slot goes back to the kernel and the same
 * objects describe a later datagram.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReceivedDatagram {
  readonly buf: RioBuf.RioBuf
  readonly bytes: Uint8Array
  readonly address: SocketAddress
}

/**
 * A datagram to send: a registered slice and where to.
 *
 * @since 0.2.0
 * @category models
 */
export interface OutgoingDatagram {
  readonly buf: RioBuf.RioBuf
  readonly to: SocketAddress
}

/**
 * A chunk of a TCP stream in a slot of its receive ring, from `receiveMany` or
 * `withReceived`: `buf` is exactly its bytes (a slice of the ring's registration, usable with
 * `send`, `sendAll` and `sendMany`), `bytes` a view of them. Both are the caller's only until
 * the batch ends; then the slot goes back to the kernel and the same objects describe a later
 * chunk.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReceivedChunk {
  readonly buf: RioBuf.RioBuf
  readonly bytes: Uint8Array
}

/**
 * A bound UDP socket, connected to one peer when opened with `connect`. Two ways to receive:
 * `receiveFrom` (or `receive`) into a slice of your own, one datagram per call; or
 * `receiveMany`/`withReceived` from the socket's receive ring, every datagram that has
 * arrived per call (one Effect per batch, nothing allocated per datagram). The ring is made
 * (one registration) on the first batch call. Use one way per socket: a datagram goes to
 * whichever receive the kernel finds first.
 *
 * @since 0.2.0
 * @category models
 */
export interface UdpSocket extends SocketOptions.OptionAccess, SocketOptions.Multicast {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: SocketAddress
  /** The peer of a socket opened with `connect`; `undefined` otherwise. */
  readonly remoteAddress: SocketAddress | undefined
  /** Connected: sends the slice as one datagram to the peer; the bytes sent (else `WSAENOTCONN`). */
  readonly send: (buf: RioBuf.RioBuf) => Effect.Effect<number, SocketError>
  /** Connected: receives one datagram of the peer's into the slice; its length (else `WSAENOTCONN`). */
  readonly receive: (buf: RioBuf.RioBuf) => Effect.Effect<number, SocketError>
  /** Sends the slice as one datagram to `to`; the bytes sent. */
  readonly sendTo: (buf: RioBuf.RioBuf, to: SocketAddress) => Effect.Effect<number, SocketError>
  /** Receives one datagram into the slice; one larger than the slice is `WSAEMSGSIZE`. */
  readonly receiveFrom: (buf: RioBuf.RioBuf) => Effect.Effect<Datagram, SocketError>
  /**
   * Waits for at least one datagram and returns every one that has arrived, oldest first (at
   * most `max`, default 64). They stay the caller's until the scope closes. A datagram larger
   * than a slot, or a failure of the receive (such as Winsock's `WSAECONNRESET` after a send
   * was refused), fails the call in its turn: the datagrams before it come first, the next
   * call goes on after it. Once the ring has ended for good (the socket broke, or its layer
   * closed), every call after the ready datagrams fails with that error.
   */
  readonly receiveMany: (max?: number) => Effect.Effect<ReadonlyArray<ReceivedDatagram>, SocketError, Scope.Scope>
  /**
   * `receiveMany` as a bracket, without a `Scope`: `use` runs with the batch, and the slots go
   * back to the kernel when it ends, however it ends. The cheaper form for a receive loop.
   */
  readonly withReceived: <A, E, R>(
    use: (datagrams: ReadonlyArray<ReceivedDatagram>) => Effect.Effect<A, E, R>,
    max?: number
  ) => Effect.Effect<A, E | SocketError, R>
  /**
   * Hands every datagram to the kernel, in order, in one Effect: the number sent. Every slice
   * and address is checked before anything is sent; each datagram takes a place in the send
   * queue; a send that fails ends the batch with its error, which says how many were handed
   * to the kernel. Datagram sends are never cancelled: an interrupted batch goes out whole,
   * then the interruption takes effect (closing the socket ends it early).
   */
  readonly sendMany: (datagrams: ReadonlyArray<OutgoingDatagram>) => Effect.Effect<number, SocketError>
  /** How the kernel fills the receive ring (`undefined` before the first batch call). */
  readonly receiveRing: Effect.Effect<ReceiveRingInfo | undefined>
}

/**
 * A receive ring as it is: its size and how the kernel fills it (`"multishot RECVMSG into
 * provided buffers"` on io_uring; `"one receive posted per free slot"` on Winsock RIO, the
 * double's UDP, or a kernel without multishot receives; TCP rings say the same per stream).
 *
 * @since 0.2.0
 * @category models
 */
export interface ReceiveRingInfo {
  readonly mechanism: string
  readonly slots: number
  readonly slotSize: number
}

/**
 * A connected stream: TCP, or a Unix domain stream socket (`TcpStream<UnixAddress>`, from
 * `connect({ path })` or a Unix listener), which has the same operations.
 *
 * @since 0.2.0
 * @category models
 */
export interface TcpStream<A extends SocketAddress | UnixAddress = SocketAddress> extends SocketOptions.OptionAccess {
  readonly localAddress: A
  readonly remoteAddress: A
  /** Sends from the slice; the bytes the kernel took, which may be fewer than the slice. */
  readonly send: (buf: RioBuf.RioBuf) => Effect.Effect<number, SocketError>
  /** Sends the whole slice, in as many sends as it takes. */
  readonly sendAll: (buf: RioBuf.RioBuf) => Effect.Effect<void, SocketError>
  /**
   * Receives into the slice; the bytes that landed at its start, 0 when the peer closed its
   * side. `WSAEINVAL` once the stream receives through its ring (bytes would go out of order).
   */
  readonly receive: (buf: RioBuf.RioBuf) => Effect.Effect<number, SocketError>
  /**
   * Waits for bytes and returns every chunk that has arrived, in stream order (at most `max`,
   * default 64); an empty array once the peer has closed its side and every chunk before it
   * has been taken. The chunks stay the caller's until the scope closes. The first call
   * starts receiving through the ring (see {@link StreamRingOptions}); from then on the
   * stream receives only that way. An error that ended the stream (such as
   * `WSAECONNRESET`) comes after the chunks that arrived before it.
   */
  readonly receiveMany: (max?: number) => Effect.Effect<ReadonlyArray<ReceivedChunk>, SocketError, Scope.Scope>
  /**
   * `receiveMany` as a bracket, without a `Scope`: `use` runs with the chunks, and their
   * slots go back when it ends, however it ends. The cheaper form for a receive loop.
   */
  readonly withReceived: <A, E, R>(
    use: (chunks: ReadonlyArray<ReceivedChunk>) => Effect.Effect<A, E, R>,
    max?: number
  ) => Effect.Effect<A, E | SocketError, R>
  /**
   * Receives through the ring like `receiveMany`, but hands each chunk to `onChunk` as it
   * arrives, synchronously in the turn that completed it: no Effect, fiber or batch per
   * chunk — the shape of Node's `"data"` event, for servers that copy or parse what arrives.
   * The view is valid only while `onChunk` runs (its slot then goes back to the kernel): copy
   * what you keep. Chunks that were ready before the call come first. Succeeds at the peer's
   * end of stream, fails with the error that ended the stream, and dies with what `onChunk`
   * threw. One call at a time per stream; interrupting it stops the calls, and later chunks
   * wait for the next call of either kind.
   */
  readonly receiveEach: (onChunk: (bytes: Uint8Array) => void) => Effect.Effect<void, SocketError>
  /**
   * Sends every byte of every slice, in order, in one Effect: one send in the kernel at a time
   * (on io_uring one vectored SENDMSG of up to 16 slices), and a partial send is finished
   * before anything after it goes, so the batch's bytes never reorder (send from one fiber per
   * stream: another fiber's sends may land between a batch's parts). Every slice is checked
   * before anything is sent; an error says how many bytes the kernel had taken. Interruption
   * cancels the send in flight and waits for its completion.
   */
  readonly sendMany: (bufs: ReadonlyArray<RioBuf.RioBuf>) => Effect.Effect<void, SocketError>
  /**
   * `sendMany` without an Effect, for code that runs in callbacks (beside `receiveEach`): the
   * same checks, order and sends, then `onDone` once with the error if any — maybe before this
   * returns (a bad slice, a closed stream). Nothing interrupts it; closing the stream aborts it.
   */
  readonly unsafeSendMany: (
    bufs: ReadonlyArray<RioBuf.RioBuf>,
    onDone: (error: SocketError | undefined) => void
  ) => void
  /**
   * `unsafeSendMany` that never waits for room: it stops when the stream's send buffer is full,
   * `onDone` getting the bytes the kernel took (fewer than asked, even 0). Keep the rest, wait
   * with `unsafeWhenWritable`, send it then: a peer that stops reading holds no slice meanwhile.
   * io_uring sends with `RWF_NOWAIT`; Winsock RIO's sends always wait, the double's never do.
   */
  readonly unsafeSendNow: (
    bufs: ReadonlyArray<RioBuf.RioBuf>,
    onDone: (error: SocketError | undefined, sent: number) => void
  ) => void
  /**
   * Calls `onReady` once the stream's send buffer has room again (on io_uring a poll for
   * `POLLOUT`; at once on backends that cannot tell) or the peer has gone (the next send says
   * how); closing the stream ends the wait with `WSAECONNABORTED`.
   */
  readonly unsafeWhenWritable: (onReady: (error: SocketError | undefined) => void) => void
  /** How the kernel fills the stream's receive ring (`undefined` before the first batch call). */
  readonly receiveRing: Effect.Effect<ReceiveRingInfo | undefined>
  /**
   * Half-closes: `"write"` (the default) sends the peer an end of stream; later sends are
   * `WSAESHUTDOWN`. `"read"`: later receives end at once (0, an empty batch) on every backend,
   * whatever had arrived. On a connection already over (reset, or both ends of stream
   * exchanged) it does nothing, on every backend.
   */
  readonly shutdown: (how?: "read" | "write" | "both") => Effect.Effect<void, SocketError>
}

/**
 * A listening TCP socket, or a Unix domain one (`TcpListener<UnixAddress>`).
 *
 * @since 0.2.0
 * @category models
 */
export interface TcpListener<A extends SocketAddress | UnixAddress = SocketAddress> extends SocketOptions.OptionAccess {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: A
  /** The next connection, closed when the scope closes. */
  readonly accept: Effect.Effect<TcpStream<A>, SocketError, Scope.Scope>
}

/**
 * Request-queue depths of a socket (see `SocketOptions.QueueOptions`).
 *
 * @since 0.2.0
 * @category models
 */
export type QueueOptions = SocketOptions.QueueOptions

/**
 * The size of a UDP receive ring (see `SocketOptions.RingOptions`).
 *
 * @since 0.2.0
 * @category models
 */
export type RingOptions = SocketOptions.RingOptions

/**
 * The size of a TCP receive ring (see `SocketOptions.StreamRingOptions`).
 *
 * @since 0.2.0
 * @category models
 */
export type StreamRingOptions = SocketOptions.StreamRingOptions

/**
 * Options of {@link udp} (see `SocketOptions.UdpOptions`).
 *
 * @since 0.2.0
 * @category models
 */
export type UdpOptions = SocketOptions.UdpOptions

/**
 * Options of {@link connect} (see `SocketOptions.ConnectOptions`).
 *
 * @since 0.2.0
 * @category models
 */
export type ConnectOptions = SocketOptions.ConnectOptions

/**
 * Options of {@link listen} (see `SocketOptions.ListenOptions`).
 *
 * @since 0.2.0
 * @category models
 */
export type ListenOptions = SocketOptions.ListenOptions

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
 * A TCP connection for the life of the scope; nothing listening is `WSAECONNREFUSED`. With
 * `path`, a Unix domain stream socket connected to that path (Linux and the double; Winsock RIO
 * is `RioUnavailable`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const connect: {
  (options: ConnectOptions): Effect.Effect<TcpStream, SocketError, RegisteredIo | Scope.Scope>
  (options: SocketOptions.UnixConnectOptions): Effect.Effect<
    TcpStream<UnixAddress>,
    SocketError,
    RegisteredIo | Scope.Scope
  >
} = (options: ConnectOptions | SocketOptions.UnixConnectOptions): Effect.Effect<any, SocketError, any> =>
  withService((service) => service.connect(options))

/**
 * A TCP listener for the life of the scope; a port in use is `WSAEADDRINUSE`. With `path`, a
 * Unix domain listener bound to that path, which is removed when the scope closes (as Node's
 * servers do); a path that exists already is `WSAEADDRINUSE`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const listen: {
  (options: ListenOptions): Effect.Effect<TcpListener, SocketError, RegisteredIo | Scope.Scope>
  (options: SocketOptions.UnixListenOptions): Effect.Effect<
    TcpListener<UnixAddress>,
    SocketError,
    RegisteredIo | Scope.Scope
  >
} = (options: ListenOptions | SocketOptions.UnixListenOptions): Effect.Effect<any, SocketError, any> =>
  withService((service) => service.listen(options))
