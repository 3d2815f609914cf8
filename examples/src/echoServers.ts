/**
 * The echo servers the metrics and cluster examples run: UDP datagrams back to their senders a
 * batch at a time, and each accepted TCP stream's bytes back down it, a fiber per stream.
 */
import type { RegisteredSocket } from "@effect-rio/core"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"

/** Echoes every batch of datagrams back to their senders, forever. */
export const udpEcho = (socket: RegisteredSocket.UdpSocket) =>
  Effect.forever(
    socket.withReceived((datagrams) =>
      socket.sendMany(datagrams.map((datagram) => ({ buf: datagram.buf, to: datagram.address })))
    )
  )

/** Echoes one stream's bytes from the slots they arrived in, until its peer ends its side; then ends ours. */
export const streamEcho = (stream: RegisteredSocket.TcpStream) =>
  Effect.iterate(true, {
    while: (open) => open,
    body: () =>
      stream.withReceived((chunks) =>
        chunks.length === 0
          ? Effect.as(stream.shutdown("write"), false)
          : Effect.as(stream.sendMany(chunks.map((chunk) => chunk.buf)), true)
      )
  })

/**
 * Accepts forever; each stream is handled by a fiber of its own in `scope` and closed when its
 * handler ends. A failed handler ends only its own stream.
 */
export const acceptEach = <E, R>(
  listener: RegisteredSocket.TcpListener,
  scope: Scope.Scope,
  handle: (stream: RegisteredSocket.TcpStream) => Effect.Effect<void, E, R>
) =>
  Effect.forever(Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const connection = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const stream = yield* restore(Scope.extend(listener.accept, connection)).pipe(
        Effect.onError((cause) => Scope.close(connection, Exit.failCause(cause)))
      )
      yield* Effect.forkIn(Effect.ensuring(Effect.ignore(handle(stream)), Scope.close(connection, Exit.void)), scope)
    })
  ))
