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
import { aborted, SocketState } from "./requests.js"
import { failCallback, sendStream, unsafeSendNow, unsafeSendStream, unsafeWhenWritable } from "./sendStream.js"
import type { StreamQueue, StreamRing } from "./streamRing.js"

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
  const send = (operation: string, buf: RioBuf.RioBuf): Effect.Effect<number, SocketError> =>
    Effect.suspend(() => {
      const slice = resolve(operation, buf)
      if (slice instanceof Error) return Effect.fail(slice)
      if (state.writeShut) return Effect.fail(shutForWrites(operation))
      return state.submit<number>(state.sends, slice, (done) => net.send(socket, slice, done))
    })
  // One slice through the same chain as a batch: one Effect however many sends it takes.
  const sendAll = (buf: RioBuf.RioBuf): Effect.Effect<void, SocketError> =>
    Effect.suspend(() => {
      const slice = resolve("sendAll", buf)
      if (slice instanceof Error) return Effect.fail(slice)
      if (slice.length === 0) return Effect.void
      if (state.writeShut) return Effect.fail(shutForWrites("sendAll"))
      return sendStream(state, socket, [slice])
    })
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
    send: (buf) => metrics.counted(send("send", buf)),
    sendAll: (buf) => metrics.counted(sendAll(buf)),
    receive: (buf) =>
      metrics.counted(Effect.suspend(() => {
        const slice = resolve("receive", buf)
        if (slice instanceof Error) return Effect.fail(slice)
        if (state.receivesThroughRing) {
          return Effect.fail(invalid(
            "receive",
            "This stream receives through its ring (receiveMany/withReceived): a receive of its own would take " +
              "bytes out of order."
          ))
        }
        if (state.readShut) return Effect.succeed(0)
        return state.submit<number>(state.receives, slice, (done) => net.receive(socket, slice, done))
      })),
    receiveMany: (max = DEFAULT_BATCH) =>
      Effect.suspend(() =>
        state.readShut ? Effect.succeed([]) : receiveMany("receiveMany", state.openQueue, max, metrics)
      ),
    withReceived: (use, max = DEFAULT_BATCH) =>
      Effect.suspend(() =>
        state.readShut && typeof use === "function"
          ? use([])
          : withReceived("withReceived", state.openQueue, use, max, metrics)
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
      metrics.counted(Effect.suspend(() => {
        const slices = resolveAll(bufs)
        if (slices instanceof Error) return Effect.fail(slices)
        if (slices.length === 0) return Effect.void
        return sendStream(state, socket, slices)
      })),
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
