/**
 * TCP streams and listeners: one operation per call (`send`, `sendAll`, `receive`), or
 * batches (`sendMany`, and `receiveMany`/`withReceived` from a receive ring — the stream's
 * own for a connected stream, its listener's shared one for an accepted stream).
 */
import * as Effect from "effect/Effect"
import type { NetDriver, NetSocket, OptionSettings } from "../Driver.js"
import type {
  QueueOptions,
  ReceiveRingInfo,
  SocketAddress,
  SocketError,
  TcpStream,
  UnixAddress
} from "../RegisteredSocket.js"
import type * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"
import { invalid } from "./address.js"
import { DEFAULT_BATCH, receiveMany, withReceived } from "./batches.js"
import type { SocketMetrics } from "./observability.js"
import { readOption, writeOption } from "./options.js"
import type { SliceImpl } from "./registration.js"
import { aborted, Settled, SocketState } from "./requests.js"
import { failCallback, sendStream, unsafeSendNow, unsafeSendStream, unsafeWhenWritable } from "./sendStream.js"
import type { StreamQueue, StreamRing } from "./streamRing.js"

/** A receive on a stream shut for reading: 0 bytes, the end of the stream, without I/O. */
const readEnd = new Settled(0)

/** What TCP streams need from the socket layer. */
export interface TcpContext {
  readonly resolve: (operation: string, buf: RioBuf.RioBuf) => SliceImpl | RioError.WSAEINVAL | RioError.WSAEFAULT
}

/** A stream's state: its requests, and its place in a receive ring once a batch call joined it. */
export class StreamState extends SocketState {
  private queue: StreamQueue | undefined = undefined
  /** Set as the close begins, so that no batch call joins the ring while it runs. */
  private closing = false

  constructor(
    net: NetDriver,
    socket: NetSocket,
    queues: QueueOptions | undefined,
    readonly ring: StreamRing,
    metrics: SocketMetrics
  ) {
    super(net, socket, queues, "receive", metrics)
  }

  get receivesThroughRing(): boolean {
    return this.queue !== undefined
  }

  /** The stream's queue in the ring once joined; before that, the Effect that joins it. */
  readonly queueNow = (): StreamQueue | Effect.Effect<StreamQueue, SocketError> => this.queue ?? this.openQueue

  /** The stream's queue in the ring, joined on first use (synchronously, when it succeeds). */
  readonly openQueue: Effect.Effect<StreamQueue, SocketError> = Effect.suspend(() => {
    if (this.queue !== undefined) return Effect.succeed(this.queue)
    if (this.closing) return Effect.fail(aborted("the socket is closed"))
    if (this.receives.busy) {
      return Effect.fail(invalid(
        "receiveMany",
        "A receive of this stream's own is in flight: the ring would take bytes out of order. Receive one way per stream."
      ))
    }
    return Effect.tap(this.ring.join(this.socket), (queue) => {
      this.queue = queue
    })
  })

  info(): ReceiveRingInfo | undefined {
    return this.queue === undefined ? undefined : this.ring.info()
  }

  // The kernel lets go of the stream's receiving before its socket closes (the fd could be
  // reused at once); the socket's close aborts its sends, whose tokens the ring's release
  // waits for; so the stream leaves the ring last.
  override readonly close: Effect.Effect<void> = Effect.suspend(() => {
    if (this.closing) return Effect.void
    this.closing = true
    const queue = this.queue
    if (queue === undefined) return this.closeSocket
    return Effect.zipRight(Effect.zipRight(queue.close, this.closeSocket), this.ring.leave)
  })
}

/** A listener's state: it holds its streams' shared ring until it closes. */
export class ListenerState extends SocketState {
  constructor(
    net: NetDriver,
    socket: NetSocket,
    queues: QueueOptions | undefined,
    readonly ring: StreamRing,
    metrics: SocketMetrics,
    /** The options every accepted stream gets. */
    readonly accepted: OptionSettings
  ) {
    super(net, socket, queues, "accept", metrics)
    ring.hold()
  }

  override readonly close: Effect.Effect<void> = Effect.suspend(() =>
    this.closed ? Effect.void : Effect.zipRight(this.closeSocket, this.ring.leave)
  )
}

export const makeTcpStream = (context: TcpContext, state: StreamState): TcpStream<SocketAddress | UnixAddress> => {
  const { resolve } = context
  const { metrics, net, socket } = state
  const shutForWrites = (operation: string) =>
    new RioError.WSAESHUTDOWN({ operation, message: "This stream was shut down for writing: no more sends." })
  // Each call is one Effect whose checks run inside it and whose failures it counts.
  const send = (buf: RioBuf.RioBuf): Effect.Effect<number, SocketError> =>
    state.single<number>(state.sends, true, () => {
      const slice = resolve("send", buf)
      if (slice instanceof Error) return slice
      return state.writeShut ? shutForWrites("send") : slice
    }, (slice, done) => net.send(socket, slice, done))
  // One slice through the same chain as a batch: one Effect however many sends it takes.
  const sendAll = (buf: RioBuf.RioBuf): Effect.Effect<void, SocketError> =>
    sendStream(state, socket, () => {
      const slice = resolve("sendAll", buf)
      if (slice instanceof Error) return slice
      if (slice.length === 0) return undefined
      return state.writeShut ? shutForWrites("sendAll") : [slice]
    })
  const receive = (buf: RioBuf.RioBuf): Effect.Effect<number, SocketError> =>
    state.single<number>(state.receives, true, () => {
      const slice = resolve("receive", buf)
      if (slice instanceof Error) return slice
      if (state.receivesThroughRing) {
        return invalid(
          "receive",
          "This stream receives through its ring (receiveMany/withReceived): a receive of its own would take " +
            "bytes out of order."
        )
      }
      return state.readShut ? readEnd : slice
    }, (slice, done) => net.receive(socket, slice, done))
  /** Every slice checked before anything is sent, and the stream still open for writing. */
  const resolveAll = (bufs: ReadonlyArray<RioBuf.RioBuf>): Array<SliceImpl> | SocketError => {
    if (!Array.isArray(bufs)) return invalid("sendMany", "bufs is not an array.")
    const slices = new Array<SliceImpl>(bufs.length)
    for (let i = 0; i < bufs.length; i++) {
      const slice = resolve("sendMany", bufs[i] as RioBuf.RioBuf)
      if (slice instanceof Error) return slice
      slices[i] = slice
    }
    return state.writeShut ? shutForWrites("sendMany") : slices
  }
  return {
    localAddress: socket.local,
    remoteAddress: socket.remote!,
    send,
    sendAll,
    receive,
    receiveMany: (max = DEFAULT_BATCH) =>
      Effect.suspend(() =>
        state.readShut ? Effect.succeed([]) : receiveMany("receiveMany", state.queueNow, max, metrics)
      ),
    withReceived: (use, max = DEFAULT_BATCH) =>
      Effect.suspend(() =>
        state.readShut && typeof use === "function"
          ? use([])
          : withReceived("withReceived", state.queueNow, use, max, metrics)
      ),
    receiveEach: (onChunk) =>
      metrics.counted(
        typeof onChunk !== "function"
          ? Effect.fail(invalid("receiveEach", "onChunk is not a function."))
          : Effect.suspend(() =>
            state.readShut ? Effect.void : Effect.flatMap(state.openQueue, (queue) => queue.receiveEach(onChunk))
          )
      ),
    sendMany: (bufs) =>
      sendStream(state, socket, () => {
        const slices = resolveAll(bufs)
        return slices instanceof Error || slices.length > 0 ? slices : undefined
      }),
    unsafeSendMany: (bufs, onDone) => {
      const slices = resolveAll(bufs)
      if (slices instanceof Error) return failCallback(state, onDone, slices, undefined)
      if (slices.length === 0) return onDone(undefined)
      unsafeSendStream(state, socket, slices, onDone)
    },
    unsafeSendNow: (bufs, onDone) => {
      const slices = resolveAll(bufs)
      if (slices instanceof Error) return failCallback(state, onDone, slices, 0)
      if (slices.length === 0) return onDone(undefined, 0)
      unsafeSendNow(state, socket, slices, onDone)
    },
    unsafeWhenWritable: (onReady) => unsafeWhenWritable(state, socket, onReady),
    receiveRing: Effect.sync(() => state.info()),
    option: (name) => metrics.counted(readOption(state, metrics.protocol, name)),
    setOption: (name, value) => metrics.counted(writeOption(state, metrics.protocol, name, value)),
    shutdown: (how = "write") =>
      metrics.counted(Effect.suspend(() => {
        if (how !== "read" && how !== "write" && how !== "both") {
          return Effect.fail(invalid("shutdown", `how ${JSON.stringify(how)} is not "read", "write" or "both".`))
        }
        if (state.closed) return Effect.fail(aborted("the socket is closed"))
        const error = net.shutdown(socket, how)
        // A connection already over (both ends of stream exchanged, or reset) has nothing left to
        // shut: Linux says ENOTCONN there, Winsock succeeds; every backend succeeds.
        if (error !== undefined && error._tag !== "WSAENOTCONN") return Effect.fail(error)
        if (how !== "read") state.writeShut = true
        if (how !== "write") state.readShut = true
        return Effect.void
      }))
  }
}
