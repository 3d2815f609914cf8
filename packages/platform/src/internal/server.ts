/**
 * `RioSocketServer`: a registered TCP listener as `@effect/platform`'s `SocketServer`, each
 * accepted connection run as a `Socket` in a fiber of its own.
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { Options as ServerOptions } from "../RioSocketServer.js"
import { fromConnection, makePool } from "./socket.js"

export const make = (
  options: ServerOptions
): Effect.Effect<
  SocketServer.SocketServer["Type"],
  SocketServer.SocketServerError,
  RegisteredIo.RegisteredIo | Scope.Scope
> =>
  Effect.gen(function*() {
    const listener = yield* Effect.mapError(
      RegisteredSocket.listen({
        host: options.host ?? "127.0.0.1",
        port: options.port,
        ...(options.backlog === undefined ? {} : { backlog: options.backlog })
      }),
      (cause) => new SocketServer.SocketServerError({ reason: "Open", cause })
    )
    const context = yield* Effect.context<RegisteredIo.RegisteredIo>()
    // The scopes of the running `run`s: shutting the server down closes them, and with them
    // every connection, before the listener closes.
    const runs = new Set<Scope.CloseableScope>()
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return Effect.forEach(runs, (scope) => Scope.close(scope, Exit.void), { discard: true })
      })
    )

    const run = <R, E, _>(
      handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>
    ): Effect.Effect<never, SocketServer.SocketServerError, R> =>
      Effect.acquireUseRelease(
        Effect.tap(Scope.make(), (scope) => Effect.sync(() => runs.add(scope))),
        (scope) =>
          Effect.gen(function*() {
            const fiberSet = yield* FiberSet.make().pipe(Scope.extend(scope))
            const runFork = yield* FiberSet.runtime(fiberSet)<R>()
            for (;;) {
              const connection = yield* Scope.fork(scope, ExecutionStrategy.sequential)
              const accepted = yield* Effect.exit(Scope.extend(listener.accept, connection))
              if (Exit.isFailure(accepted)) {
                yield* Scope.close(connection, Exit.void)
                // The listener was closed by the server's shutdown: like NodeSocketServer, `run`
                // then simply never completes (its caller's scope ends it).
                if (closed) return yield* Effect.never
                return yield* Effect.failCause(accepted.cause).pipe(
                  Effect.mapError((cause) => new SocketServer.SocketServerError({ reason: "Unknown", cause }))
                )
              }
              const stream = accepted.value
              let open = true
              const socket = yield* fromConnection(
                Effect.gen(function*() {
                  if (!open) return yield* Effect.fail(new Socket.SocketCloseError({ reason: "Close", code: 1000 }))
                  const pool = yield* Effect.mapError(
                    makePool(options.bufferSize),
                    (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
                  )
                  // Like NodeSocketServer: the connection is closed when the `run` that used it ends.
                  yield* Effect.addFinalizer(() => {
                    open = false
                    return Scope.close(connection, Exit.void)
                  })
                  return { pool, stream }
                })
              ).pipe(Effect.provide(context))
              runFork(
                handler(socket).pipe(
                  Effect.catchAllCause(reportUnhandledError),
                  Effect.ensuring(Scope.close(connection, Exit.void))
                )
              )
            }
          }),
        (scope) =>
          Effect.suspend(() => {
            runs.delete(scope)
            return Scope.close(scope, Exit.void)
          })
      )

    return SocketServer.SocketServer.of({
      address: { _tag: "TcpAddress", hostname: listener.address.host, port: listener.address.port },
      run
    })
  })

export const layer = (
  options: ServerOptions
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, RegisteredIo.RegisteredIo> =>
  Layer.scoped(SocketServer.SocketServer, make(options))

const reportUnhandledError = <E>(cause: Cause.Cause<E>) =>
  Effect.withFiberRuntime<void>((fiber) => {
    const unhandledLogLevel = fiber.getFiberRef(FiberRef.unhandledErrorLogLevel)
    if (unhandledLogLevel._tag === "Some") {
      return Effect.logWithLevel(unhandledLogLevel.value, cause, "Unhandled error in SocketServer")
    }
    return Effect.void
  })
