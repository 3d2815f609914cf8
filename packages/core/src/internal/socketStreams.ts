/**
 * The Stream and Sink views of sockets (see `SocketStreams`): one Chunk per received batch,
 * one `sendMany` per staged run of a Chunk.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type { RegisteredIo } from "../RegisteredIo.js"
import { allocateBuffer } from "../RegisteredIo.js"
import type {
  ReceivedDatagram,
  SocketAddress,
  SocketError,
  TcpStream,
  UdpSocket,
  UnixAddress
} from "../RegisteredSocket.js"
import type * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"

const DEFAULT_BATCH = 64
const DEFAULT_STAGING = 64 * 1024

/**
 * The bytes a stream receives, as a `Stream`: one Chunk per received batch (at most `max`
 * chunks of the ring), ending at the peer's end of stream. Elements are copies — a Stream's
 * consumer may keep them as long as it likes, which ring slots cannot allow.
 */
export const toStream = (
  stream: TcpStream<SocketAddress | UnixAddress>,
  max = DEFAULT_BATCH
): Stream.Stream<Uint8Array, SocketError> =>
  Stream.repeatEffectChunkOption(
    stream.withReceived(
      (chunks) =>
        chunks.length === 0
          ? Effect.fail(Option.none())
          : Effect.succeed(Chunk.unsafeFromArray(chunks.map((chunk) => chunk.bytes.slice()))),
      max
    ).pipe(Effect.mapError((error) => Option.isOption(error) ? error : Option.some(error)))
  )

/** A received datagram, copied out of its slot: its bytes and its sender. */
export interface DatagramCopy {
  readonly bytes: Uint8Array
  readonly address: SocketAddress
}

const copyDatagram = (datagram: ReceivedDatagram): DatagramCopy => ({
  bytes: datagram.bytes.slice(),
  address: { host: datagram.address.host, port: datagram.address.port }
})

/**
 * The datagrams a UDP socket receives, as a `Stream` that never ends by itself (only by an
 * error or interruption): one Chunk per received batch, each datagram copied out of its slot
 * with its sender.
 */
export const datagrams = (socket: UdpSocket, max = DEFAULT_BATCH): Stream.Stream<DatagramCopy, SocketError> =>
  Stream.repeatEffectChunk(
    socket.withReceived((received) => Effect.succeed(Chunk.unsafeFromArray(received.map(copyDatagram))), max)
  )

/**
 * A `Sink` that sends every byte it takes, in order: each Chunk is copied into a registered
 * staging buffer of `stagingSize` bytes (default 64 KiB) and sent with one `sendMany` per
 * buffer's worth. The buffer is registered when the sink starts and released when it ends.
 */
export const toSink = (
  stream: TcpStream<SocketAddress | UnixAddress>,
  stagingSize = DEFAULT_STAGING
): Sink.Sink<void, Uint8Array, never, SocketError, RegisteredIo> =>
  Sink.unwrapScoped(Effect.suspend(() => {
    if (!Number.isSafeInteger(stagingSize) || stagingSize <= 0) {
      return Effect.fail(
        new RioError.WSAEINVAL({
          operation: "SocketStreams.toSink",
          message: `stagingSize ${String(stagingSize)} is not a positive integer.`
        })
      )
    }
    return Effect.map(allocateBuffer(stagingSize), (staging) => {
      const slices: Array<RioBuf.RioBuf> = []
      let used = 0
      const flush = Effect.suspend(() => {
        if (slices.length === 0) return Effect.void
        const batch = slices.splice(0)
        used = 0
        return stream.sendMany(batch)
      })
      const stage = (bytes: Uint8Array): Effect.Effect<void, SocketError> =>
        Effect.suspend(() => {
          let from = 0
          const more = (): Effect.Effect<void, SocketError> => {
            while (from < bytes.length) {
              if (used === stagingSize) return Effect.zipRight(flush, Effect.suspend(more))
              const n = Math.min(bytes.length - from, stagingSize - used)
              staging.bytes.set(bytes.subarray(from, from + n), used)
              slices.push(staging.unsafeSlice(used, n) as RioBuf.RioBuf)
              used += n
              from += n
            }
            return Effect.void
          }
          return more()
        })
      return Sink.forEachChunk(
        (chunk: Chunk.Chunk<Uint8Array>) => Effect.zipRight(Effect.forEach(chunk, stage, { discard: true }), flush)
      )
    })
  }))
