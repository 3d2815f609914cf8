/**
 * `RioSocketServer`: a registered TCP listener as `@effect/platform`'s `SocketServer`, each
 * accepted connection run as a `Socket` in a fiber of its own. Every connection receives
 * through the listener's one ring and copies its writes into slots of one send pool, so the
 * memory the server pins is set by its options, not by how many connections it has.
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
import type { Options as ServerOptions, UnixOptions } from "../RioSocketServer.js"
import { fromConnection, given, makeSendSlots } from "./socket.js"

/** Send slots shared by a server's connections, by default. */
const DEFAULT_SEND_SLOTS = 64

export const make = (
  options: ServerOptions | UnixOptions
): Effect.Effect<
  SocketServer.SocketServer["Type"],
  SocketServer.SocketServerError,
  RegisteredIo.RegisteredIo | Scope.Scope
> =>
  Effect.gen(function*() {
    const maxConnections = options.maxConnections ?? Infinity
    if (!(maxConnections === Infinity || (Number.isSafeInteger(maxConnections) && maxConnections >= 1))) {
      return yield* new SocketServer.SocketServerError({
        reason: "Open",
        cause: new RangeError(`maxConnections ${String(options.maxConnections)} is not a positive integer.`)
      })
    }
    const openError = (cause: unknown) => new SocketServer.SocketServerError({ reason: "Open", cause })
    const sends = yield* Effect.mapError(
      makeSendSlots(options.bufferSize, options.sendSlots ?? DEFAULT_SEND_SLOTS),
      openError
    )
    const listener = yield* Effect.mapError(listenAt(options), openError)
    const context = yield* Effect.context<RegisteredIo.RegisteredIo>()
    /** Connections open now, for `maxConnections`. */
    let live = 0
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
            // Made before the handlers' fibers, so closed after them: a shutdown interrupts the
            // handlers first (as NodeSocketServer's does), then closes what they left open.
            const connections = yield* Scope.fork(scope, ExecutionStrategy.sequential)
            const fiberSet = yield* FiberSet.make().pipe(Scope.extend(scope))
            const runFork = yield* FiberSet.runtime(fiberSet)<R>()
            for (;;) {
              const connection = yield* Scope.fork(connections, ExecutionStrategy.sequential)
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
              if (live >= maxConnections) {
                yield* Scope.close(connection, Exit.void)
                yield* Effect.logWarning(
                  `RioSocketServer: closed the connection from ${show(stream.remoteAddress)} at once: ` +
                    `maxConnections (${maxConnections}) are open`
                )
                continue
              }
              live++
              // Runs before the stream closes: what its close does to receiving is no news.
              let closing = false
              yield* Scope.addFinalizer(
                connection,
                Effect.sync(() => {
                  live--
                  closing = true
                })
              )
              let open = true
              const socket = yield* fromConnection(
                Effect.suspend(() => {
                  if (!open) return Effect.fail(new Socket.SocketCloseError({ reason: "Close", code: 1000 }))
                  // Like NodeSocketServer: the connection is closed when the `run` that used it ends.
                  return Effect.as(
                    Effect.addFinalizer(() => {
                      open = false
                      return Scope.close(connection, Exit.void)
                    }),
                    { sends, stream }
                  )
                }),
                { onReceiveError: (error) => closing ? Effect.void : warnClosed(stream, error) }
              ).pipe(Effect.provide(context))
              runFork(
                handler(socket).pipe(
                  Effect.catchAllCause(reportUnhandledError),
                  Effect.ensuring(Scope.close(connection, Exit.void)),
                  // One span per connection, for its whole life: none per message.
                  Effect.withSpan("RioSocketServer.connection", { attributes: connectionAttributes(stream) })
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
      address: "path" in listener.address
        ? { _tag: "UnixAddress", path: listener.address.path }
        : { _tag: "TcpAddress", hostname: listener.address.host, port: listener.address.port },
      run
    })
  })

export const layer = (
  options: ServerOptions | UnixOptions
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, RegisteredIo.RegisteredIo> =>
  Layer.scoped(SocketServer.SocketServer, make(options))

/**
 * Where to listen: the host asked for, else every interface as Node does — the IPv6 wildcard
 * (dual stack: IPv4 peers too) where the system has IPv6, the IPv4 one where it has not.
 */
const listenAt = (
  options: ServerOptions | UnixOptions
): Effect.Effect<
  RegisteredSocket.TcpListener<Address>,
  RegisteredSocket.SocketError,
  RegisteredIo.RegisteredIo | Scope.Scope
> => {
  const common = {
    ...(options.backlog === undefined ? {} : { backlog: options.backlog }),
    ...(options.receiveRing === undefined ? {} : { receiveRing: options.receiveRing }),
    // A Unix socket's IP and TCP options (given untyped) reach the core, which refuses them, typed.
    ...given(options as ServerOptions, LISTEN_OPTIONS)
  }
  if ("path" in options && options.path !== undefined) return RegisteredSocket.listen({ path: options.path, ...common })
  const tcp = options as ServerOptions
  const listenOn = (host: string) => RegisteredSocket.listen({ host, port: tcp.port, ...common })
  if (tcp.host !== undefined) return listenOn(tcp.host)
  return Effect.catchIf(
    listenOn("::"),
    // No IPv6 here: the family is refused (WSAEAFNOSUPPORT), or "::" is no address of ours.
    (error) => error._tag === "WSAEAFNOSUPPORT" || error._tag === "WSAEADDRNOTAVAIL",
    () => listenOn("0.0.0.0")
  )
}

type Address = RegisteredSocket.SocketAddress | RegisteredSocket.UnixAddress

/** The socket options a listener takes, by name. */
const LISTEN_OPTIONS = [
  "reuseAddress",
  "reusePort",
  "ipv6Only",
  "noDelay",
  "keepAlive",
  "keepAliveInitialDelay",
  "receiveBufferSize",
  "sendBufferSize"
] as const satisfies ReadonlyArray<keyof ServerOptions>

/** One connection's span attributes, in OpenTelemetry's names. */
const connectionAttributes = (stream: RegisteredSocket.TcpStream<Address>): Record<string, unknown> =>
  "path" in stream.localAddress
    ? { "network.transport": "unix", "server.address": stream.localAddress.path }
    : {
      "network.transport": "tcp",
      "client.address": (stream.remoteAddress as RegisteredSocket.SocketAddress).host,
      "client.port": (stream.remoteAddress as RegisteredSocket.SocketAddress).port,
      "server.port": stream.localAddress.port
    }

/** The peer did not ask for this close: said at warning, with the reason. */
const warnClosed = (stream: RegisteredSocket.TcpStream<Address>, error: RegisteredSocket.SocketError) =>
  Effect.logWarning(`RioSocketServer: the connection from ${show(stream.remoteAddress)} ended: ${error.message}`)

const show = (address: Address) =>
  "path" in address
    ? `the Unix socket ${address.path === "" ? "(unnamed)" : address.path}`
    : address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`

const reportUnhandledError = <E>(cause: Cause.Cause<E>) =>
  Effect.withFiberRuntime<void>((fiber) => {
    const unhandledLogLevel = fiber.getFiberRef(FiberRef.unhandledErrorLogLevel)
    if (unhandledLogLevel._tag === "Some") {
      return Effect.logWithLevel(unhandledLogLevel.value, cause, "Unhandled error in SocketServer")
    }
    return Effect.void
  })
