/**
 * Effect `Stream` and `Sink` views of registered sockets, built on the batch calls: one Chunk per received
 * batch, one `sendMany` per staged run of a Chunk.
 *
 * A stream's elements are copies. A batch's slots go back to the receive ring when its call
 * ends, and a Stream's consumer keeps elements for as long as it likes (buffers, groups,
 * collects) with no way to say when it is done with one: lending slots would let the ring run
 * dry under any operator that holds on. One copy per batch is the price of using the
 * operators; the batch calls themselves stay copy-free.
 *
 * @since 0.2.0
 */
import type * as Sink from "effect/Sink"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/socketStreams.js"
import type { RegisteredIo } from "./RegisteredIo.js"
import type { SocketAddress, SocketError, TcpStream, UdpSocket, UnixAddress } from "./RegisteredSocket.js"

/**
 * A datagram received through {@link datagrams}: a copy of its bytes, and its sender.
 *
 * @since 0.2.0
 * @category models
 */
export type DatagramCopy = internal.DatagramCopy

/**
 * The bytes a stream receives, as a `Stream`: one Chunk per received batch (at most `max`
 * chunks of the ring), ending at the peer's end of stream. Elements are copies — a Stream's
 * consumer may keep them as long as it likes, which ring slots cannot allow.
 *
 * @since 0.2.0
 * @category streams
 */
export const toStream: (
  stream: TcpStream<SocketAddress | UnixAddress>,
  max?: number
) => Stream.Stream<Uint8Array, SocketError> = internal.toStream

/**
 * A `Sink` that sends every byte it takes, in order: each Chunk is copied into a registered
 * staging buffer of `stagingSize` bytes (default 64 KiB) and sent with one `sendMany` per
 * buffer's worth. The buffer is registered when the sink starts and released when it ends.
 *
 * @since 0.2.0
 * @category streams
 */
export const toSink: (
  stream: TcpStream<SocketAddress | UnixAddress>,
  stagingSize?: number
) => Sink.Sink<void, Uint8Array, never, SocketError, RegisteredIo> = internal.toSink

/**
 * The datagrams a UDP socket receives, as a `Stream` that never ends by itself (only by an
 * error or interruption): one Chunk per received batch, each datagram copied out of its slot
 * with its sender.
 *
 * @since 0.2.0
 * @category streams
 */
export const datagrams: (socket: UdpSocket, max?: number) => Stream.Stream<DatagramCopy, SocketError> =
  internal.datagrams
