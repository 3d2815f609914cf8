/**
 * `RioSocket`: a registered TCP stream as `@effect/platform`'s `Socket`. Bytes arrive through
 * the stream's receive ring (a server's one shared ring, or a client's own) and are handed to
 * the handler as they arrive; writes are copied into a slot of a send pool (a server's shared
 * one, or a client's own) and each batch of them leaves in one send.
 */
import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"
import type * as SocketOptions from "@effect-rio/core/SocketOptions"
import * as Socket from "@effect/platform/Socket"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { TcpOptions, UnixOptions } from "../RioSocket.js"
import { Outbox, SendSlots } from "./outbox.js"
import * as SendQueue from "./sendQueue.js"

/** Bytes per send slot. */
export const defaultBufferSize = 16 * 1024

/** A client's own receive ring: a few slots, each back in the kernel as soon as its chunk is copied. */
export const clientReceiveRing: RegisteredSocket.StreamRingOptions = { slots: 16, slotSize: 4096 }

/** An open connection: its stream, and the slots that carry its writes (a slot per batch). */
export interface Connection {
  readonly stream: RegisteredSocket.TcpStream<RegisteredSocket.SocketAddress | RegisteredSocket.UnixAddress>
  readonly sends: SendSlots
}

/** Marks the writer's release: half-close after everything queued before it. */
const End: unique symbol = Symbol.for("@effect-rio/platform/RioSocket/End")

type Chunk = Uint8Array | string | Socket.CloseEvent | typeof End

const writeOf: unique symbol = Symbol.for("@effect-rio/platform/RioSocket/writeOf")
const writerOf: unique symbol = Symbol.for("@effect-rio/platform/RioSocket/writerOf")

/** A write of this module: what it writes, and through which socket's writer. */
type WriteEffect = Effect.Effect<void, Socket.SocketError> & {
  [writeOf]?: Uint8Array | string | Socket.CloseEvent
  [writerOf]?: unknown
}

/** Send slots: `slots` slots of `bufferSize` bytes, in one registration for the life of the scope. */
export const makeSendSlots = (bufferSize: number | undefined, slots: number) => {
  // At least 4 bytes: a slot must hold any one character encoded as UTF-8.
  const slotSize = Math.max(4, bufferSize ?? defaultBufferSize)
  if (!Number.isSafeInteger(slotSize) || !Number.isSafeInteger(slots) || slots < 1) {
    return Effect.fail(
      new RioError.WSAEINVAL({
        operation: "RioSocket",
        message: `Send slots: ${String(slots)} × ${String(bufferSize)} bytes is not a positive number of whole bytes.`
      })
    )
  }
  return Effect.map(
    RegisteredIo.allocateBuffer(slotSize * slots),
    (registration) => new SendSlots(registration, slotSize, slots)
  )
}

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
        // Made after the connection, so closed before it: the fibers end before the stream
        // (and a client's send slots) close.
        const fiberSet = yield* FiberSet.make<any, E | Socket.SocketError>().pipe(Scope.extend(scope))
        const runFork = yield* FiberSet.runtime(fiberSet)<R>()
        let finished = false
        const done = (effect: Effect.Effect<void, Socket.SocketError>) => {
          finished = true
          Deferred.unsafeDone(fiberSet.deferred, effect)
        }
        const readError = (cause: unknown) => new Socket.SocketGenericError({ reason: "Read", cause })

        // What a forked write would do when it fails: end `run` with its error.
        const settleDirect = (outcome: Effect.Effect<void, Socket.SocketError>) => {
          if (Exit.isExit(outcome) && Exit.isFailure(outcome)) done(outcome)
        }
        // What arrived in this turn goes to the handler as one chunk, in a microtask after the
        // driver's completions, as NodeSocket's "data" hands over one read of up to 64 KiB: the
        // ring's 4 KiB slots would otherwise cut a burst into many calls, and a parser such as
        // @effect/rpc's re-reads a message cut in two and forks a fiber per call. A fiber
        // starts only for a handler that returns an Effect.
        let arrived: Array<Uint8Array> = []
        let arrivedBytes = 0
        const onChunk = (bytes: Uint8Array): void => {
          // A copy, once: the handler may keep the bytes, and the slot goes back to the kernel.
          arrived.push(bytes.slice())
          arrivedBytes += bytes.length
          if (arrived.length === 1) queueMicrotask(deliver)
        }
        const deliver = (): void => {
          if (arrived.length === 0) return
          const chunks = arrived
          const data = chunks.length === 1 ? chunks[0]! : concatChunks(chunks, arrivedBytes)
          arrived = []
          arrivedBytes = 0
          try {
            handle(data)
          } catch (defect) {
            done(Effect.die(defect))
          }
        }
        const handle = (data: Uint8Array): void => {
          const result = handler(data)
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
              deliver()
              // A reset is the peer's doing; anything else ended the connection under it.
              const tell = !finished && error._tag !== "WSAECONNRESET" ? options?.onReceiveError : undefined
              done(Effect.fail(readError(error)))
              return tell === undefined ? Effect.void : tell(error)
            }),
          onSuccess: () =>
            Effect.sync(() => {
              deliver()
              done(Effect.void)
            })
        })

        const capacity = yield* FiberRef.get(Socket.currentSendQueueCapacity)
        // Bounded by `Socket.currentSendQueueCapacity`: with the queue full, writers wait.
        const queue = new SendQueue.SendQueue<Chunk, Socket.SocketError>(Math.max(1, capacity))
        yield* Scope.addFinalizer(scope, Effect.sync(() => queue.close(closedWriteError())))
        const outbox = new Outbox<Chunk, Socket.SocketError>(queue, sends, stream, {
          isEnd: (chunk) => chunk === End,
          halfClose: () => {
            const result = Effect.runSync(Effect.either(stream.shutdown("write")))
            return Either.isLeft(result) ? result.left : undefined
          },
          close: (chunk) =>
            // What NodeSocket's `destroy` leads to: "close" without an error (code 1000), or, for
            // a code above 1000, destroy with an error, which Node reports as a read error.
            done(Effect.fail(
              (chunk as Socket.CloseEvent).code > 1000
                ? new Socket.SocketGenericError({
                  reason: "Read",
                  cause: new Error(`closed with code ${(chunk as Socket.CloseEvent).code}`)
                })
                : new Socket.SocketCloseError({ reason: "Close", code: 1000 })
            )),
          failed: (cause) => {
            // Node emits one "error" for a failed write, and that ends `run` as a read error
            // (first: a write queued by `run` itself ends it with its own error).
            done(Effect.fail(readError(cause)))
            return new Socket.SocketGenericError({ reason: "Write", cause })
          },
          closedError: closedWriteError
        })
        yield* Scope.addFinalizer(scope, Effect.sync(() => outbox.stop()))

        runFork(receiving as Effect.Effect<void, never, R>)
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

/** `chunks` (`bytes` in all) in one array. */
const concatChunks = (chunks: ReadonlyArray<Uint8Array>, bytes: number): Uint8Array => {
  const data = new Uint8Array(bytes)
  let at = 0
  for (const chunk of chunks) {
    data.set(chunk, at)
    at += chunk.length
  }
  return data
}

const closedWriteError = () =>
  new Socket.SocketGenericError({ reason: "Write", cause: new Error("The socket is not open") })

/** The socket options a stream takes, by name. */
export const STREAM_OPTIONS = [
  "noDelay",
  "keepAlive",
  "keepAliveInitialDelay",
  "receiveBufferSize",
  "sendBufferSize"
] as const satisfies ReadonlyArray<keyof SocketOptions.StreamOptions>

/**
 * The options named `names` that `options` gives (not undefined), for the core's constructors;
 * the core checks their values, and refuses those a socket does not have.
 */
export const given = <O extends object, K extends keyof O>(
  options: O,
  names: ReadonlyArray<K>
): { [P in K]?: Exclude<O[P], undefined> } => {
  const picked: { [P in K]?: Exclude<O[P], undefined> } = {}
  for (const name of names) {
    const value = options[name]
    if (value !== undefined) picked[name] = value as Exclude<O[K], undefined>
  }
  return picked
}

export const makeTcp = (
  options: TcpOptions | UnixOptions
): Effect.Effect<Socket.Socket, never, RegisteredIo.RegisteredIo> =>
  fromConnection(
    Effect.gen(function*() {
      const sends = yield* Effect.mapError(
        makeSendSlots(options.bufferSize, 1),
        (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
      )
      const common = {
        receiveRing: options.receiveRing ?? clientReceiveRing,
        // A Unix socket's TCP options (given untyped) reach the core, which refuses them, typed.
        ...given(options as TcpOptions, STREAM_OPTIONS)
      }
      const connecting: Effect.Effect<
        Connection["stream"],
        RegisteredSocket.SocketError,
        RegisteredIo.RegisteredIo | Scope.Scope
      > = "path" in options && options.path !== undefined
        ? RegisteredSocket.connect({ path: options.path, ...common })
        : RegisteredSocket.connect({
          host: (options as TcpOptions).host ?? "localhost",
          port: (options as TcpOptions).port,
          ...common
        })
      const stream = yield* Effect.mapError(
        connecting,
        (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
      )
      return { sends, stream }
    }),
    options
  )

export const layerTcp = (
  options: TcpOptions | UnixOptions
): Layer.Layer<Socket.Socket, never, RegisteredIo.RegisteredIo> => Layer.effect(Socket.Socket, makeTcp(options))
