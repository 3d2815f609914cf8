/**
 * Raw TCP peers below the `Socket` abstraction, for the fault suites: they write exact bytes
 * (half a frame), stop reading (so that the other side's writes stay in flight), and vanish
 * with a FIN or an RST. Over real TCP they are `node:net` sockets; on the double, whose
 * network joins only the sockets of one layer, `RegisteredSocket` streams of that layer.
 */
import * as BufferPool from "@effect-rio/core/BufferPool"
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import { RioTest } from "@effect-rio/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import { concat } from "./helpers.js"

export interface Peer {
  readonly write: (bytes: Uint8Array) => Effect.Effect<void>
  /** Reads until at least `n` bytes have arrived in all, then stops reading. */
  readonly readAtLeast: (n: number) => Effect.Effect<void>
  /** Reads the rest, until the other side's end of stream: every byte received since the start. */
  readonly readToEnd: Effect.Effect<Uint8Array>
  /**
   * Closes the connection: the other side sees the end of the stream (a FIN) — or, with bytes
   * left unread here, a reset (an RST), as the kernel does when a process dies.
   */
  readonly end: Effect.Effect<void>
  /** Resets the connection, unread bytes or not: the other side's next operation fails (an RST). */
  readonly reset: Effect.Effect<void>
}

export interface PeerFactory {
  /** A peer connected to `port`, closed with the scope if it has not vanished before. */
  readonly connect: (port: number) => Effect.Effect<Peer, never, Scope.Scope | RegisteredIo.RegisteredIo>
  /** A listener; `accept` waits for one connection and makes it a peer. */
  readonly listen: Effect.Effect<
    { readonly port: number; readonly accept: Effect.Effect<Peer, never, Scope.Scope | RegisteredIo.RegisteredIo> },
    never,
    Scope.Scope | RegisteredIo.RegisteredIo
  >
}

// ---- node:net ---------------------------------------------------------------------------

const fromNetSocket = (socket: Net.Socket): Peer => {
  const chunks: Array<Uint8Array> = []
  let received = 0
  let ended = false
  let wake: (() => void) | undefined
  socket.pause()
  socket.on("data", (chunk: Buffer) => {
    chunks.push(chunk)
    received += chunk.length
    wake?.()
  })
  socket.on("end", () => {
    ended = true
    wake?.()
  })
  // A reset seen by this side is part of what the tests provoke, never an unhandled error.
  socket.on("error", () => {})
  const until = (done: () => boolean) =>
    Effect.async<void>((resume) => {
      const check = () => {
        if (!done()) return
        wake = undefined
        socket.pause()
        resume(Effect.void)
      }
      wake = check
      socket.resume()
      check()
    })
  return {
    write: (bytes) =>
      Effect.async<void>((resume) => {
        socket.write(bytes, (error) => resume(error ? Effect.die(error) : Effect.void))
      }),
    readAtLeast: (n) => until(() => received >= n),
    readToEnd: Effect.map(until(() => ended), () => concat(chunks)),
    end: Effect.sync(() => socket.destroy()),
    reset: Effect.sync(() => socket.resetAndDestroy())
  }
}

export const netPeers: PeerFactory = {
  connect: (port) =>
    Effect.acquireRelease(
      Effect.async<Net.Socket>((resume) => {
        const socket = Net.connect({ host: "127.0.0.1", port }, () => resume(Effect.succeed(socket)))
        socket.once("error", (error) => resume(Effect.die(error)))
      }),
      (socket) => Effect.sync(() => socket.destroy())
    ).pipe(Effect.map(fromNetSocket)),
  listen: Effect.gen(function*() {
    const sockets: Array<Net.Socket> = []
    let waiting: ((socket: Net.Socket) => void) | undefined
    const server = Net.createServer((socket) => {
      if (waiting === undefined) sockets.push(socket)
      else waiting(socket)
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
        })
    )
    const accept = Effect.acquireRelease(
      Effect.async<Net.Socket>((resume) => {
        const socket = sockets.shift()
        if (socket !== undefined) return resume(Effect.succeed(socket))
        waiting = (socket) => {
          waiting = undefined
          resume(Effect.succeed(socket))
        }
      }),
      (socket) => Effect.sync(() => socket.destroy())
    ).pipe(Effect.map(fromNetSocket))
    return { port: (server.address() as Net.AddressInfo).port, accept }
  })
}

// ---- RegisteredSocket (the double) ------------------------------------------------------

/** A peer over a stream that lives in `scope`; `end` closes that scope. */
const fromStream = (stream: RegisteredSocket.TcpStream, scope: Scope.CloseableScope) =>
  Effect.gen(function*() {
    const pool = yield* Scope.extend(BufferPool.make({ slotSize: 64 * 1024, slots: 2 }), scope)
    // Looked up, not required: the factories share one type, and only the double has a Control.
    const control = yield* Effect.serviceOptional(RioTest.Control).pipe(Effect.orDie)
    const chunks: Array<Uint8Array> = []
    let received = 0
    let ended = false
    const receiveWhile = (more: () => boolean) =>
      pool.withLease((lease) =>
        Effect.gen(function*() {
          while (more() && !ended) {
            const n = yield* stream.receive(lease.buf)
            if (n === 0) ended = true
            chunks.push(lease.bytes.slice(0, n))
            received += n
          }
        })
      ).pipe(Effect.orDie)
    const peer: Peer = {
      write: (bytes) =>
        pool.withLease((lease) =>
          Effect.gen(function*() {
            for (let at = 0; at < bytes.length; at += lease.bytes.length) {
              const piece = bytes.subarray(at, at + lease.bytes.length)
              lease.bytes.set(piece)
              yield* stream.sendAll({ ...lease.buf, length: piece.length })
            }
          })
        ).pipe(Effect.orDie),
      readAtLeast: (n) => receiveWhile(() => received < n),
      readToEnd: Effect.map(receiveWhile(() => true), () => concat(chunks)),
      end: Scope.close(scope, Exit.void),
      // The double resets every open connection: the tests that use it have one.
      reset: Effect.zipRight(control.resetConnections, Scope.close(scope, Exit.void))
    }
    return peer
  })

/** The scope a peer's stream lives in: its own, so that `end` can close it early. */
const ownScope = Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))

export const registeredPeers: PeerFactory = {
  connect: (port) =>
    Effect.gen(function*() {
      const scope = yield* ownScope
      const stream = yield* Scope.extend(RegisteredSocket.connect({ host: "127.0.0.1", port }), scope)
      return yield* fromStream(stream, scope)
    }).pipe(Effect.orDie),
  listen: Effect.gen(function*() {
    const listener = yield* RegisteredSocket.listen({ host: "127.0.0.1", port: 0 })
    const accept = Effect.gen(function*() {
      const scope = yield* ownScope
      const stream = yield* Scope.extend(listener.accept, scope)
      return yield* fromStream(stream, scope)
    }).pipe(Effect.orDie)
    return { port: listener.address.port, accept }
  }).pipe(Effect.orDie)
}
