/**
 * `RioSocket`: a registered TCP stream as `@effect/platform`'s `Socket`, its bytes moving
 * through two slots of a `BufferPool`.
 */
import * as BufferPool from "@effect-rio/core/BufferPool"
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import * as Socket from "@effect/platform/Socket"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { TcpOptions } from "../RioSocket.js"
import * as SendQueue from "./sendQueue.js"

/** Bytes per pool slot: one slot receives, one stages sends. */
export const defaultBufferSize = 16 * 1024

/** An open connection: its stream and the pool whose slots carry its bytes. */
export interface Connection {
  readonly stream: RegisteredSocket.TcpStream
  readonly pool: BufferPool.BufferPool
}

/** Marks the writer's release: half-close after everything queued before it. */
const End: unique symbol = Symbol.for("@effect-rio/platform/RioSocket/End")

type Chunk = Uint8Array | string | Socket.CloseEvent | typeof End

type Item = SendQueue.Item<Chunk, Socket.SocketError>

const encoder = new TextEncoder()

/** The slots of a connection's pool: one receive slot held for the connection's life, one send slot. */
export const makePool = (bufferSize: number | undefined) =>
  // At least 4 bytes: a slot must hold any one character encoded as UTF-8.
  BufferPool.make({ slotSize: Math.max(4, bufferSize ?? defaultBufferSize), slots: 2 })

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
  options?: { readonly openTimeout?: Duration.DurationInput | undefined }
): Effect.Effect<Socket.Socket, never, Exclude<RO, Scope.Scope>> =>
  Effect.withFiberRuntime<Socket.Socket, never, Exclude<RO, Scope.Scope>>((fiber) => {
    let current: Current | undefined
    const latch = Effect.unsafeMakeLatch(false)
    const openContext = fiber.currentContext as Context.Context<RO>

    const run = <R, E, _>(handler: (_: Uint8Array) => Effect.Effect<_, E, R> | void, opts?: {
      readonly onOpen?: Effect.Effect<void> | undefined
    }) =>
      Effect.scopedWith(Effect.fnUntraced(function*(scope) {
        const { pool, stream } = yield* Scope.extend(open, scope).pipe(
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
        // and their operations complete before the stream and then the pool are closed.
        const fiberSet = yield* FiberSet.make<any, E | Socket.SocketError>().pipe(Scope.extend(scope))
        const runFork = yield* FiberSet.runtime(fiberSet)<R>()
        const done = (effect: Effect.Effect<void, Socket.SocketError>) => Deferred.unsafeDone(fiberSet.deferred, effect)
        const readError = (cause: unknown) => new Socket.SocketGenericError({ reason: "Read", cause })

        const receiving = pool.withLease((lease) =>
          Effect.suspend(function loop(): Effect.Effect<void, Socket.SocketError> {
            return Effect.flatMap(Effect.mapError(stream.receive(lease.buf), readError), (n) => {
              // 0: the peer's orderly end of stream, which ends `run` like Node's "end".
              if (n === 0) return Effect.sync(() => done(Effect.void))
              // A copy, once: the handler may keep the bytes, and the next receive reuses the slot.
              const result = handler(lease.bytes.slice(0, n))
              if (Effect.isEffect(result)) runFork(result)
              return loop()
            })
          })
        ).pipe(Effect.catchAll((error) => Effect.sync(() => done(Effect.fail(error as Socket.SocketError)))))

        const capacity = yield* FiberRef.get(Socket.currentSendQueueCapacity)
        // Bounded by `Socket.currentSendQueueCapacity`: with the queue full, writers wait.
        const queue = new SendQueue.SendQueue<Chunk, Socket.SocketError>(Math.max(1, capacity))
        yield* Scope.addFinalizer(scope, Effect.sync(() => queue.close(closedWriteError())))
        /** Sends one batch and tells each of its writers how it went. */
        const sendAndSettle = (lease: BufferPool.Lease, items: ReadonlyArray<Item>) =>
          Effect.matchEffect(sendBatch(stream, lease, items, done), {
            onFailure: (cause) =>
              Effect.sync(() => {
                const error = Effect.fail(new Socket.SocketGenericError({ reason: "Write", cause }))
                for (const item of items) item.settle(error)
                // Node emits one "error" for a failed write, and that ends `run` as a read error.
                done(Effect.fail(readError(cause)))
              }),
            onSuccess: (handled) =>
              Effect.sync(() => {
                for (let i = 0; i < items.length; i++) {
                  items[i].settle(i < handled ? Effect.void : Effect.fail(closedWriteError()))
                }
              })
          }).pipe(
            // `run` ended with this batch in flight: closing aborts its send, so these writes can
            // never complete — they fail rather than leave their writers waiting forever.
            Effect.onInterrupt(() =>
              Effect.sync(() => {
                for (const item of items) item.settle(Effect.fail(closedWriteError()))
              })
            )
          )
        const sending = pool.withLease((lease) =>
          // A loop, not `Effect.forever`, which yields once per round: `takeAll` suspends anyway
          // when there is nothing to send, and a round per message is the hot path.
          Effect.suspend(function loop(): Effect.Effect<never> {
            return Effect.flatMap(Effect.flatMap(queue.takeAll, (items) => sendAndSettle(lease, items)), loop)
          })
        ).pipe(Effect.catchAll((error) => Effect.sync(() => done(Effect.fail(readError(error))))))

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

    const write = (chunk: Uint8Array | string | Socket.CloseEvent) =>
      latch.whenOpen(Effect.suspend(() => {
        const state = current
        if (state === undefined) return Effect.fail(closedWriteError())
        if (Socket.isCloseEvent(chunk)) state.ended = true
        return state.queue.offer(chunk)
      }))

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
  let filled = 0
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
  return step(0)
}

export const makeTcp = (
  options: TcpOptions
): Effect.Effect<Socket.Socket, never, RegisteredIo.RegisteredIo> =>
  fromConnection(
    Effect.gen(function*() {
      const pool = yield* Effect.mapError(
        makePool(options.bufferSize),
        (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
      )
      const stream = yield* Effect.mapError(
        RegisteredSocket.connect({ host: options.host ?? "localhost", port: options.port }),
        (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
      )
      return { pool, stream }
    }),
    options
  )

export const layerTcp = (
  options: TcpOptions
): Layer.Layer<Socket.Socket, never, RegisteredIo.RegisteredIo> => Layer.effect(Socket.Socket, makeTcp(options))
