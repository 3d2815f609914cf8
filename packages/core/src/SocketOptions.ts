/**
 * The options of `RegisteredSocket`'s constructors: where a socket binds or connects, how many
 * operations it may have in the kernel, the size of its receive ring, and the kernel's socket
 * options — named as in `node:net` / `node:dgram` where the meaning is the same, applied on
 * every backend before the socket binds or connects. An option a platform lacks is
 * `WSAENOPROTOOPT`, never silently ignored; a value out of range is `WSAEINVAL`.
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as RioError from "./RioError.js"

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
 * The size of a socket's receive ring: one registration of `slots` slots, each taking one
 * datagram of up to `slotSize` bytes. Pinned memory is about `slots * slotSize` (plus a
 * 48-byte header per slot on io_uring, where the kernel writes the sender's address).
 *
 * @since 0.2.0
 * @category models
 */
export interface RingOptions {
  /** The largest datagram a slot takes, 1..65535 (default 2048); a larger one is `WSAEMSGSIZE`. */
  readonly slotSize?: number
  /** Slots, 1..32768 (default 256): how many datagrams can wait or be lent out at once. */
  readonly slots?: number
}

/**
 * The size of a TCP receive ring: one registration of `slots` slots of `slotSize` bytes. A
 * listener's ring is shared by all the streams it accepts, so pinned memory does not grow
 * with the number of connections; a stream that holds `maxPerStream` slots (ready or lent)
 * receives nothing more until some come back — its bytes wait in the kernel and the peer's
 * window closes, as with any unread socket. (On io_uring the pause takes effect within one
 * burst of receives: a stream may hold up to an eighth of the slots, at most 32, beyond it.)
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamRingOptions {
  /** The most bytes one chunk holds, 1..1048576 (default 4096). */
  readonly slotSize?: number
  /** Slots, 1..32768 (default 256). */
  readonly slots?: number
  /**
   * Slots one stream may hold at once, 1..`slots`: default a quarter of the slots (at least
   * one) for a listener's shared ring, all of them for a connected stream's own ring. Copy
   * out what you need to keep longer than that.
   */
  readonly maxPerStream?: number
}

/**
 * The kernel's buffer sizes (SO_RCVBUF, SO_SNDBUF), in bytes: 1..2^31 − 1. The kernel may
 * round or double what it is given (Linux doubles it); `option("receiveBufferSize")` reads
 * back what it took.
 *
 * @since 0.2.0
 * @category models
 */
export interface BufferSizeOptions {
  readonly receiveBufferSize?: number
  readonly sendBufferSize?: number
}

/**
 * How a socket shares its address, set before it binds.
 *
 * @since 0.2.0
 * @category models
 */
export interface BindOptions extends BufferSizeOptions {
  /**
   * SO_REUSEADDR: bind while old connections of the port wait in TIME_WAIT. Default for
   * `listen`: on for Linux and the double (as Node's servers there), off on Windows (where it
   * would let a second socket take a port in use; libuv leaves it off too); off for `udp`
   * (Node's `reuseAddr`).
   */
  readonly reuseAddress?: boolean
  /**
   * SO_REUSEPORT: several sockets bound to one address and port, the kernel spreading new
   * connections (or datagrams) among them — one process per core, each with its own ring.
   * Default `false`. Linux and the double; `WSAENOPROTOOPT` on Windows, which has no such option.
   */
  readonly reusePort?: boolean
  /**
   * IPV6_V6ONLY: an IPv6 socket takes IPv6 peers only. Default `false`: bound to `"::"` it
   * takes IPv4 peers too (seen IPv4-mapped), as Node's sockets do. Ignored by IPv4 sockets.
   */
  readonly ipv6Only?: boolean
}

/**
 * The options of a TCP stream (a connected one, or every stream a listener accepts), as
 * `node:net`'s.
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamOptions extends BufferSizeOptions {
  /** TCP_NODELAY: default `true`, since a slice is a message: it leaves at once instead of waiting to coalesce (Nagle). */
  readonly noDelay?: boolean
  /** SO_KEEPALIVE: probe an idle connection so that a dead peer is noticed. Default `false`. */
  readonly keepAlive?: boolean
  /**
   * TCP_KEEPIDLE: how long a connection is idle before the first probe, in whole seconds
   * (1..32767 s), with `keepAlive`. Default: the system's (two hours on Linux and Windows).
   */
  readonly keepAliveInitialDelay?: Duration.DurationInput
}

/**
 * The options of a UDP socket's datagrams, as `node:dgram`'s.
 *
 * @since 0.2.0
 * @category models
 */
export interface DatagramOptions {
  /** SO_BROADCAST: allow sending to a broadcast address. Default `false` (such a send is `WSAEACCES`). */
  readonly broadcast?: boolean
  /** IP_TTL (IPV6_UNICAST_HOPS): hops a unicast datagram may take, 1..255. Default: the system's (64). */
  readonly ttl?: number
  /** IP_MULTICAST_TTL (IPV6_MULTICAST_HOPS): hops a multicast datagram may take, 0..255. Default 1. */
  readonly multicastTTL?: number
  /** IP_MULTICAST_LOOP: whether this host's own members get the multicast datagrams sent. Default `true`. */
  readonly multicastLoopback?: boolean
}

/**
 * A socket option's value as `option` reads it back from the kernel (the double: as set).
 *
 * @since 0.2.0
 * @category models
 */
export interface OptionValues {
  readonly receiveBufferSize: number
  readonly sendBufferSize: number
  readonly reuseAddress: boolean
  readonly reusePort: boolean
  readonly ipv6Only: boolean
  readonly noDelay: boolean
  readonly keepAlive: boolean
  /** In whole seconds. */
  readonly keepAliveInitialDelay: number
  readonly broadcast: boolean
  readonly ttl: number
  readonly multicastTTL: number
  readonly multicastLoopback: boolean
}

/**
 * What reading an option or changing a multicast membership can fail with: `WSAENOPROTOOPT`
 * for an option the platform lacks, `WSAEINVAL` for a bad argument, `WSAECONNABORTED` once the
 * socket is closed, `WSAEADDRNOTAVAIL` for an interface that is not this host's — whatever the
 * driver reports.
 *
 * @since 0.2.0
 * @category models
 */
export type OptionError =
  | RioError.WSAEINVAL
  | RioError.WSAEFAULT
  | RioError.WSAENOBUFS
  | RioError.WSAETIMEDOUT
  | RioError.NetworkError
  | RioError.RioSystemError

/**
 * Every socket's options, read back from the kernel and changed while it is open (as Node's
 * `setNoDelay`, `setKeepAlive`, `setTTL`, `setBroadcast`, … do). An option of the other
 * protocol (`noDelay` on UDP, `broadcast` on TCP) is `WSAENOPROTOOPT`; one that only matters
 * before binding (`reuseAddress`, `reusePort`, `ipv6Only`) is `WSAEINVAL` to change.
 *
 * @since 0.2.0
 * @category models
 */
export interface OptionAccess {
  /**
   * The option's value as the kernel has it now (the double: as set) — what it took, which
   * may differ from what was asked (Linux doubles buffer sizes).
   */
  readonly option: <K extends keyof OptionValues>(name: K) => Effect.Effect<OptionValues[K], OptionError>
  /** Changes an option now; the value is checked as at creation (`keepAliveInitialDelay` in seconds). */
  readonly setOption: <K extends keyof OptionValues>(
    name: K,
    value: OptionValues[K]
  ) => Effect.Effect<void, OptionError>
}

/**
 * A UDP socket's multicast groups, as `node:dgram`'s `addMembership` / `dropMembership`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Multicast {
  /**
   * Receives the datagrams sent to `group` (a numeric multicast address of the socket's
   * family) on the interface with address `iface` (IPv4 only; default: the system's choice).
   * The socket must be bound to the group's port (and to `"0.0.0.0"` or `"::"` to hear it).
   * Joining a group twice is `WSAEADDRINUSE`; a group that is not multicast `WSAEINVAL`.
   */
  readonly addMembership: (group: string, iface?: string) => Effect.Effect<void, OptionError>
  /** Leaves `group` again (also done by closing the socket); one not joined is `WSAEADDRNOTAVAIL`. */
  readonly dropMembership: (group: string, iface?: string) => Effect.Effect<void, OptionError>
}

/**
 * Options of `RegisteredSocket.udp`.
 *
 * @since 0.2.0
 * @category models
 */
export interface UdpOptions extends QueueOptions, BindOptions, DatagramOptions {
  /** Default `"127.0.0.1"`; a name is resolved by the system resolver and its first address bound. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
  /** The size of the receive ring that `receiveMany` and `withReceived` use. */
  readonly receiveRing?: RingOptions
  /**
   * Connected UDP: the socket's one peer (a numeric address, or a name resolved as `connect`
   * resolves it, its first address). Only the peer's datagrams arrive; `send` / `receive` need no
   * address, and `sendTo` / `sendMany` take the peer's only. Without `host`, the socket binds the
   * wildcard of the peer's family, as Node's `connect` does.
   */
  readonly connect?: { readonly host: string; readonly port: number }
}

/**
 * Options of `RegisteredSocket.connect`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectOptions extends QueueOptions, StreamOptions {
  /**
   * A numeric IPv4 or IPv6 address, or a name resolved by the system resolver (`node:dns`
   * lookup, every address, in the resolver's order — `"localhost"` too). The addresses are tried
   * in turn until one connects; a name that does not resolve is `WSAHOST_NOT_FOUND`.
   */
  readonly host: string
  readonly port: number
  /**
   * Gives up after this long, over every address tried, with `WSAETIMEDOUT`: the attempt in
   * flight is cancelled and its socket closed before the error is returned. Default: none
   * (the kernel's own timeout, about two minutes on Linux).
   */
  readonly timeout?: Duration.DurationInput
  /**
   * Resolves `host` when it is not numeric, instead of the system resolver: the addresses to
   * try, in order (a cache, a service registry, a fixed table in a test).
   */
  readonly lookup?: (host: string) => Effect.Effect<ReadonlyArray<string>, RioError.WSAHOST_NOT_FOUND>
  /** The size of the stream's own receive ring, which `receiveMany` and `withReceived` use. */
  readonly receiveRing?: StreamRingOptions
}

/**
 * Options of `RegisteredSocket.listen`. The stream options (`noDelay`, `keepAlive`,
 * `keepAliveInitialDelay`) apply to every accepted stream, as `net.createServer`'s do, and to
 * the listener too, so that one the platform lacks fails `listen` rather than each accept; the
 * buffer sizes to the listener, whose accepted streams inherit them.
 *
 * @since 0.2.0
 * @category models
 */
export interface ListenOptions extends QueueOptions, BindOptions, Omit<StreamOptions, keyof BufferSizeOptions> {
  /** Default `"127.0.0.1"`; a name is resolved by the system resolver and its first address bound. */
  readonly host?: string
  /** 0: a free port, reported in `address`. */
  readonly port: number
  /** Default 511, like Node. */
  readonly backlog?: number
  /** Queue options of the accepted streams; default: the listener's. */
  readonly accepted?: QueueOptions
  /**
   * The size of the one receive ring that every accepted stream's `receiveMany` and
   * `withReceived` share. It is made on the first such call and released when the listener
   * and every stream that used it have closed.
   */
  readonly receiveRing?: StreamRingOptions
}

/**
 * Options of `RegisteredSocket.connect` for a Unix domain stream socket. Of the kernel's
 * options only the buffer sizes apply: TCP's (`noDelay`, `keepAlive`) are `WSAENOPROTOOPT`.
 *
 * @since 0.2.0
 * @category models
 */
export interface UnixConnectOptions extends QueueOptions, BufferSizeOptions {
  /** The listener's path: 1..107 bytes of UTF-8, no NUL (`sun_path` holds 108 with its NUL). */
  readonly path: string
  /** Gives up after this long with `WSAETIMEDOUT` (see `ConnectOptions.timeout`). */
  readonly timeout?: Duration.DurationInput
  /** The size of the stream's own receive ring, which `receiveMany` and `withReceived` use. */
  readonly receiveRing?: StreamRingOptions
}

/**
 * Options of `RegisteredSocket.listen` for a Unix domain stream socket: bound to `path`, which
 * must not exist yet (`WSAEADDRINUSE`; remove a stale one first) and is removed when the
 * listener's scope closes, as Node's servers do.
 *
 * @since 0.2.0
 * @category models
 */
export interface UnixListenOptions extends QueueOptions, BufferSizeOptions {
  /** The path to bind: 1..107 bytes of UTF-8, no NUL. A relative path is the process's working directory's. */
  readonly path: string
  /** Default 511, like Node. */
  readonly backlog?: number
  /** Queue options of the accepted streams; default: the listener's. */
  readonly accepted?: QueueOptions
  /** The one receive ring that every accepted stream's batch calls share (see `ListenOptions.receiveRing`). */
  readonly receiveRing?: StreamRingOptions
}
