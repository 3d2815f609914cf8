/**
 * The options of `RegisteredSocket`'s constructors: where a socket binds or connects, how many
 * operations it may have in the kernel, and the size of its receive ring.
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
 * Options of `RegisteredSocket.udp`.
 *
 * @since 0.2.0
 * @category models
 */
export interface UdpOptions extends QueueOptions {
  /** Default `"127.0.0.1"`; a name is resolved by the system resolver and its first address bound. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
  /** The size of the receive ring that `receiveMany` and `withReceived` use. */
  readonly receiveRing?: RingOptions
}

/**
 * Options of `RegisteredSocket.connect`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectOptions extends QueueOptions {
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
 * Options of `RegisteredSocket.listen`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ListenOptions extends QueueOptions {
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
