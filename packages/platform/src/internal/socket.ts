/**
 * `RioSocket`: a registered TCP stream as `@effect/platform`'s `Socket`. Bytes arrive through
 * the stream's receive ring (a server's one shared ring, or a client's own) and are handed to
 * the handler as they arrive; writes are copied into a slot of a send pool (a server's shared
 * one, or a client's own) and each batch of them leaves in one send.
 */
import * as BufferPool from "@effect-rio/core/BufferPool"
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import * as Socket from "@effect/platform/Socket"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { TcpOptions } from "../RioSocket.js"
import * as SendQueue from "./sendQueue.js"

/** Bytes per send slot. */
export const defaultBufferSize = 16 * 1024

/** A client's own receive ring: a few slots, each back in the kernel as soon as its chunk is copied. */
export const clientReceiveRing: RegisteredSocket.StreamRingOptions = { slots: 16, slotSize: 4096 }

/** An open connection: its stream, and the pool whose slots carry its writes (a slot per batch). */
export interface Connection {
  readonly stream: RegisteredSocket.TcpStream
  readonly sends: BufferPool.BufferPool
}

/** Marks the writer's release: half-close after everything queued before it. */
const End: unique symbol = Symbol.for("@effect-rio/platform/RioSocket/End")

type Chunk = Uint8Array | string | Socket.CloseEvent | typeof End

type Item = SendQueue.Item<Chunk, Socket.SocketError>

const encoder = new TextEncoder()

const writeOf: unique symbol = Symbol.for("@effect-rio/platform/RioSocket/writeOf")
const writerOf: unique symbol = Symbol.for("@effect-rio/platform/RioSocket/writerOf")

/** A write of this module: what it writes, and through which socket's writer. */
type WriteEffect = Effect.Effect<void, Socket.SocketError> & {
  [writeOf]?: Uint8Array | string | Socket.CloseEvent
  [writerOf]?: unknown
}

/** A send pool: `slots` slots of `bufferSize` bytes. */
export const makeSendPool = (bufferSize: number | undefined, slots: number) =>
  // At least 4 bytes: a slot must hold any one character encoded as UTF-8.
  BufferPool.make({ slotSize: Math.max(4, bufferSize ?? defaultBufferSize), slots })

/**
 * What `run` has while it runs: the send queue that the writer feeds, and whether the write
 * side was ended (by the writer's release or a `CloseEvent`).
 */
interface Current {
  readonly queue: SendQueue.SendQueue<Chunk, Socket.SocketError>
  ended: boolean
}

/**
 * A `Socket` over a connection that `open` makes in `run`'s scope (like NodeSocket's
 * `fromDuplex`: each `run` opens, and the connection lives as long as that `run`).
 */
export const fromConnection = <RO>(
  open: Effect.Effect<Connection, Socket.SocketError, RO>,
  options?: {
    readonly openTimeout?: Duration.DurationInput | undefined
    /** Told when receiving ends with an error while the connection is open (not at its close). */
    readonly onReceiveError?: ((error: RegisteredSocket.SocketError) => Effect.Effect<void>) | undefined
  }
): Effect.Effect<Socket.Socket, never, Exclude<RO, Scope.Scope>> =>
  Effect.withFiberRuntime<Socket.Socket, never, Exclude<RO, Scope.Scope>>((fiber) => {
    let current: Current | undefined
    const latch = Effect.unsafeMakeLatch(false)
    const openContext = fiber.currentContext as Context.Context<RO>

    const run = <R, E, _>(handler: (_: Uint8Array) => Effect.Effect<_, E, R> | void, opts?: {
      readonly onOpen?: Effect.Effect<void> | undefined
    }) =>
      Effect.scopedWith(Effect.fnUntraced(function*(scope) {
        const { sends, stream } = yield* Scope.extend(open, scope).pipe(
          options?.openTimeout ?
            Effect.timeoutFail({
              duration: options.openTimeout,
              // NodeSocket reports a connect timeout as "Open" too (not "OpenTimeout").
              onTimeout: () =>
                new Socket.SocketGenericError({ reason: "Open", cause: new Error("Connection timed out") })
            }) :
            identity
        )
        // Made after the connection, so closed before it: the fibers give their leases back
        // and their operations complete before the stream (and a client's pool) close.
        const fiberSet = yield* FiberSet.make<any, E | Socket.SocketError>().pipe(Scope.extend(scope))
        const runFork = yield* FiberSet.runtime(fiberSet)<R>()
        let finished = false
        const done = (effect: Effect.Effect<void, Socket.SocketError>) => {
          finished = true
          Deferred.unsafeDone(fiberSet.deferred, effect)
        }
        const readError = (cause: unknown) => new Socket.SocketGenericError({ reason: "Read", cause })

        // Each chunk goes to the handler in the turn it arrived, as NodeSocket's "data" does; a
        // fiber starts only for a handler that returns an Effect.
        // What a forked write would do when it fails: end `run` with its error.
        const settleDirect = (outcome: Effect.Effect<void, Socket.SocketError>) => {
          if (Exit.isExit(outcome) && Exit.isFailure(outcome)) done(outcome)
        }
        const onChunk = (bytes: Uint8Array): void => {
          // A copy, once: the handler may keep the bytes, and the slot goes back to the kernel.
          const result = handler(bytes.slice())
          if (!Effect.isEffect(result)) return
          // This socket's own write (an echo, a reply): queued now, in the order of the calls,
          // as its fiber would queue it — without the fiber.
          const marked = result as unknown as WriteEffect
          const chunk = marked[writeOf]
          const state = current
          if (chunk !== undefined && state !== undefined && marked[writerOf] === write) {
            if (Socket.isCloseEvent(chunk)) state.ended = true
            state.queue.push({ chunk, settle: settleDirect })
            return
          }
          runFork(result)
        }
        // The peer's orderly end of stream ends `run` successfully, like Node's "end".
        const receiving = Effect.matchEffect(stream.receiveEach(onChunk), {
          onFailure: (error) =>
            Effect.suspend(() => {
              // A reset is the peer's doing; anything else ended the connection under it.
              const tell = !finished && error._tag !== "WSAECONNRESET" ? options?.onReceiveError : undefined
              done(Effect.fail(readError(error)))
              return tell === undefined ? Effect.void : tell(error)
            }),
          onSuccess: () => Effect.sync(() => done(Effect.void))
        })

        const capacity = yield* FiberRef.get(Socket.currentSendQueueCapacity)
        // Bounded by `Socket.currentSendQueueCapacity`: with the queue full, writers wait.
        const queue = new SendQueue.SendQueue<Chunk, Socket.SocketError>(Math.max(1, capacity))
        yield* Scope.addFinalizer(scope, Effect.sync(() => queue.close(closedWriteError())))
        /** Sends one batch and tells each of its writers how it went. */
        const sendAndSettle = (lease: BufferPool.Lease, items: ReadonlyArray<Item>) =>
          Effect.matchEffect(sendBatch(stream, lease, items, done), {
            onFailure: (cause) =>
              Effect.sync(() => {
                // Node emits one "error" for a failed write, and that ends `run` as a read error
                // (first: a write queued by `run` itself ends it with its own error).
                done(Effect.fail(readError(cause)))
                const error = Effect.fail(new Socket.SocketGenericError({ reason: "Write", cause }))
                for (const item of items) item.settle(error)
              }),
            onSuccess: (handled) =>
              Effect.sync(() => {
                for (let i = 0; i < items.length; i++) {
                  items[i].settle(i < handled ? Effect.void : Effect.fail(closedWriteError()))
                }
              })
          })
        // A slot per batch, leased when the batch is there: connections share a server's slots,
        // and one waits for a free slot rather than fail.
        const sendNext = Effect.flatMap(queue.takeAll, (items) =>
          sends.withLease((lease) => sendAndSettle(lease, items)).pipe(
            // `run` ended with this batch waiting for a slot or in flight (closing aborts its
            // send), or the pool closed: these writes can never complete — they fail rather than
            // leave their writers waiting forever. Settled writes ignore a second outcome.
            Effect.onExit((exit) =>
              Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => {
                for (const item of items) item.settle(Effect.fail(closedWriteError()))
              })
            )
          ))
        // A loop, not `Effect.forever`, which yields once per round: `takeAll` suspends anyway
        // when there is nothing to send, and a round per message is the hot path.
        const sending = Effect.suspend(function loop(): Effect.Effect<never, RegisteredSocket.SocketError> {
          return Effect.flatMap(sendNext, loop)
        }).pipe(Effect.catchAll((error) =>
          Effect.sync(() => done(Effect.fail(readError(error))))
        ))

        runFork(receiving as Effect.Effect<void, never, R>)
        runFork(sending as Effect.Effect<void, never, R>)
        current = { queue, ended: false }
        yield* latch.open
        if (opts?.onOpen) yield* opts.onOpen
        return yield* FiberSet.join(fiberSet)
      })).pipe(
        Effect.mapInputContext((input: Context.Context<R>) => Context.merge(openContext, input)),
        Effect.ensuring(Effect.sync(() => {
          latch.unsafeClose()
          current = undefined
        })),
        Effect.interruptible
      )

    const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> => {
      const effect: WriteEffect = latch.whenOpen(Effect.suspend(() => {
        const state = current
        if (state === undefined) return Effect.fail(closedWriteError())
        if (Socket.isCloseEvent(chunk)) state.ended = true
        return state.queue.offer(chunk)
      }))
      // Marked, so that `run` can queue it at once when its handler returns it.
      effect[writeOf] = chunk
      effect[writerOf] = write
      return effect
    }

    const writer = Effect.acquireRelease(
      Effect.succeed(write),
      () =>
        Effect.sync(() => {
          const state = current
          if (state === undefined || state.ended) return
          state.ended = true
          // Like Node's `end()`: does not wait; the half-close follows what is already queued.
          state.queue.unsafeOfferUnbounded(End)
        })
    )

    return Effect.succeed(Socket.Socket.of({
      [Socket.TypeId]: Socket.TypeId,
      run,
      runRaw: run,
      writer
    }))
  })

const closedWriteError = () =>
  new Socket.SocketGenericError({ reason: "Write", cause: new Error("The socket is not open") })

/**
 * Sends a batch of queued writes: their bytes are copied once into the send slot and
 * coalesced into as few sends as the slot allows; `End` half-closes and a `CloseEvent`
 * ends `run` (closing the connection), both after the bytes queued before them. Succeeds
 * with how many items were handled: those after a `CloseEvent` were not.
 */
const sendBatch = (
  stream: RegisteredSocket.TcpStream,
  lease: BufferPool.Lease,
  items: ReadonlyArray<Item>,
  done: (effect: Effect.Effect<void, Socket.SocketError>) => void
): Effect.Effect<number, RegisteredSocket.SocketError> => {
  const slot = lease.bytes
  // The usual batch, bytes that fit the slot together, is copied here and leaves in one send;
  // the steps below take over from the first item that does not.
  let filled = 0
  let first = 0
  for (; first < items.length; first++) {
    const chunk = items[first].chunk
    if (!(chunk instanceof Uint8Array) || chunk.length > slot.length - filled) break
    slot.set(chunk, filled)
    filled += chunk.length
  }
  if (first === items.length) {
    return filled === 0 ? Effect.succeed(first) : Effect.as(stream.sendAll({ ...lease.buf, length: filled }), first)
  }
  const flush = Effect.suspend(() => {
    if (filled === 0) return Effect.void
    const length = filled
    filled = 0
    return stream.sendAll({ ...lease.buf, length })
  })
  // Copies what fits; a full slot is sent before the rest is copied (the slot is then reused).
  const copyBytes = (chunk: Uint8Array, from: number): Effect.Effect<void, RegisteredSocket.SocketError> => {
    const n = Math.min(chunk.length - from, slot.length - filled)
    slot.set(chunk.subarray(from, from + n), filled)
    filled += n
    if (from + n === chunk.length) return Effect.void
    return Effect.zipRight(flush, Effect.suspend(() => copyBytes(chunk, from + n)))
  }
  // Strings are encoded as UTF-8 straight into the slot, like Node's `write(string)`.
  const copyString = (rest: string): Effect.Effect<void, RegisteredSocket.SocketError> => {
    const { read, written } = encoder.encodeInto(rest, slot.subarray(filled))
    filled += written
    if (read === rest.length) return Effect.void
    return Effect.zipRight(flush, Effect.suspend(() => copyString(rest.slice(read))))
  }
  const step = (i: number): Effect.Effect<number, RegisteredSocket.SocketError> =>
    Effect.suspend(() => {
      if (i === items.length) return Effect.as(flush, i)
      const chunk = items[i].chunk
      if (chunk === End) {
        return Effect.zipRight(Effect.zipRight(flush, stream.shutdown("write")), step(i + 1))
      }
      if (Socket.isCloseEvent(chunk)) {
        return Effect.as(
          Effect.zipRight(
            flush,
            Effect.sync(() =>
              // What NodeSocket's `destroy` leads to: "close" without an error (code 1000), or,
              // for a code above 1000, destroy with an error, which Node reports as a read error.
              done(Effect.fail(
                chunk.code > 1000
                  ? new Socket.SocketGenericError({
                    reason: "Read",
                    cause: new Error(`closed with code ${chunk.code}`)
                  })
                  : new Socket.SocketCloseError({ reason: "Close", code: 1000 })
              ))
            )
          ),
          i + 1
        )
      }
      if (typeof chunk === "string") return Effect.zipRight(copyString(chunk), step(i + 1))
      return Effect.zipRight(copyBytes(chunk, 0), step(i + 1))
    })
  return step(first)
}

export const makeTcp = (
  options: TcpOptions
): Effect.Effect<Socket.Socket, never, RegisteredIo.RegisteredIo> =>
  fromConnection(
    Effect.gen(function*() {
      const sends = yield* Effect.mapError(
        makeSendPool(options.bufferSize, 1),
        (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
      )
      const stream = yield* Effect.mapError(
        RegisteredSocket.connect({
          host: options.host ?? "localhost",
          port: options.port,
          receiveRing: options.receiveRing ?? clientReceiveRing
        }),
        (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
      )
      return { sends, stream }
    }),
    options
  )

export const layerTcp = (
  options: TcpOptions
): Layer.Layer<Socket.Socket, never, RegisteredIo.RegisteredIo> => Layer.effect(Socket.Socket, makeTcp(options))
