/**
 * Clients for the platform servers' scale tests: `node:net` ones (they pin nothing, so on
 * io_uring every registration is the server's) and `RegisteredSocket` ones of the double's
 * network, behind one interface; and the checks the tests share.
 */
import { RegisteredSocket } from "@effect-rio/core"
import type { RegisteredIo } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import { concat } from "./helpers.js"

/** Fails with `what` rather than hang (within vitest's 60 s): every wait of these tests has an end. */
export const within = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, { duration: "20 seconds", onTimeout: () => new Error(`timed out: ${what}`) })

export interface Client {
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, unknown>
  /** The next `n` bytes, fewer only when the stream ended first. */
  readonly read: (n: number) => Effect.Effect<Uint8Array, unknown>
  /** Every byte until the end of the stream. */
  readonly readToEnd: Effect.Effect<Uint8Array, unknown>
  /** Closes the connection (a FIN: nothing is left unread). */
  readonly end: Effect.Effect<void>
}

export type Connect = (port: number) => Effect.Effect<Client, unknown, Scope.Scope | RegisteredIo.RegisteredIo>

/** A client whose `pull` gives the next bytes that arrived, none at the end of the stream. */
const clientOf = (
  write: Client["write"],
  pull: Effect.Effect<Uint8Array, unknown>,
  end: Effect.Effect<void>
): Client => {
  let pending: Uint8Array = new Uint8Array(0)
  let ended = false
  const until = (ready: () => boolean) =>
    Effect.whileLoop({
      while: () => !ready() && !ended,
      body: () => pull,
      step: (bytes) => {
        if (bytes.length === 0) ended = true
        else pending = concat([pending, bytes])
      }
    })
  const take = (n: number) => {
    const bytes = pending.slice(0, n)
    pending = pending.slice(n)
    return bytes
  }
  return {
    write,
    read: (n) => Effect.map(until(() => pending.length >= n), () => take(n)),
    readToEnd: Effect.map(until(() => false), () => take(pending.length)),
    end
  }
}

/**
 * A `node:net` client: it pins nothing, so every registration on io_uring is the server's.
 * Like the double's clients it reads nothing until its first `read` (paused until then, so
 * that what the server sends it waits in the kernel), and from then on all that arrives.
 */
export const netClient: Connect = (port) =>
  Effect.gen(function*() {
    const socket = yield* Effect.acquireRelease(
      Effect.async<Net.Socket, Error>((resume) => {
        const socket = Net.connect({ host: "127.0.0.1", port }, () => resume(Effect.succeed(socket)))
        socket.once("error", (error) => resume(Effect.fail(error)))
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
    const arrived = yield* Queue.unbounded<Uint8Array | Error>()
    socket.on("data", (chunk: Buffer) => Queue.unsafeOffer(arrived, chunk))
    socket.on("end", () => Queue.unsafeOffer(arrived, new Uint8Array(0)))
    socket.on("error", (error) => Queue.unsafeOffer(arrived, error))
    socket.pause()
    return clientOf(
      (bytes) =>
        Effect.async<void, Error>((resume) => {
          socket.write(bytes, (error) => resume(error ? Effect.fail(error) : Effect.void))
        }),
      Effect.flatMap(
        Effect.zipRight(Effect.sync(() => socket.resume()), Queue.take(arrived)),
        (next) => next instanceof Error ? Effect.fail(next) : Effect.succeed(next)
      ),
      Effect.sync(() => socket.destroy())
    )
  })

/**
 * `RegisteredSocket` clients of the double's network. Each sends from and receives into its
 * own region of `memory`, one registration for them all, with plain `sendAll` and `receive`:
 * no receive ring, no pool of its own.
 */
export const registeredClients = (memory: RegisteredIo.Registration, regionSize: number): Connect => {
  let nextRegion = 0
  const half = regionSize / 2
  return (port) =>
    Effect.gen(function*() {
      const sendAt = nextRegion++ * regionSize
      const receiveAt = sendAt + half
      // Its own scope, so that `end` closes the connection before the test's scope does.
      const scope = yield* Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))
      const stream = yield* Scope.extend(RegisteredSocket.connect({ host: "127.0.0.1", port }), scope)
      const into = yield* memory.slice(receiveAt, half)
      const write = (bytes: Uint8Array) =>
        Effect.forEach(Array.from({ length: Math.ceil(bytes.length / half) }, (_, i) => i * half), (at) => {
          const piece = bytes.subarray(at, at + half)
          memory.bytes.set(piece, sendAt)
          return Effect.flatMap(memory.slice(sendAt, piece.length), stream.sendAll)
        }, { discard: true })
      const pull = Effect.map(stream.receive(into), (n) => memory.bytes.slice(receiveAt, receiveAt + n))
      return clientOf(write, pull, Scope.close(scope, Exit.void))
    })
}

/** Writes `bytes` and checks that exactly they come back. */
export const echoed = (client: Client, bytes: Uint8Array) =>
  Effect.gen(function*() {
    yield* client.write(bytes)
    assert.deepStrictEqual(yield* within("an echo", client.read(bytes.length)), bytes)
  })

/** The byte at stream position `i`: a shifted, lost or repeated stretch shows as a mismatch. */
export const patternAt = (i: number): number => Math.imul(i, 2654435761) >>> 24

export const pattern = (length: number, from = 0): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => patternAt(from + i))
