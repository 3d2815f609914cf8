/**
 * The parts of the RegisteredSocket suites (socket.test.ts, socketFaults.test.ts): message bytes
 * that check themselves, slices of leases, and TCP echo servers.
 */
import type { BufferPool } from "@effect-rio/core"
import { RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"

/** Deterministic bytes for message `id`: what the receiver expects to get back. */
export const fill = (bytes: Uint8Array, id: number): void => {
  let x = (id * 2654435761) >>> 0
  for (let i = 0; i < bytes.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
}

export const matches = (bytes: Uint8Array, id: number): boolean => {
  const expected = new Uint8Array(bytes.length)
  fill(expected, id)
  return Buffer.compare(bytes, expected) === 0
}

/** A random size in [1, max] for message `id`, the same on both ends. */
export const sizeOf = (id: number, max: number): number => 1 + ((id * 7919 + 13) % 104729) % max

/** The first `length` bytes of a lease's slot as a slice. */
export const head = (lease: BufferPool.Lease, length: number): RioBuf.RioBuf => ({ ...lease.buf, length })

/** `[from, from + length)` of a lease's slot as a slice. */
export const part = (lease: BufferPool.Lease, from: number, length: number): RioBuf.RioBuf => ({
  bufferId: lease.buf.bufferId,
  offset: lease.buf.offset + from,
  length
})

/** Receives exactly `length` bytes into the start of `lease`'s slot (TCP delivers in pieces). */
export const receiveExactly = (stream: RegisteredSocket.TcpStream, lease: BufferPool.Lease, length: number) =>
  Effect.gen(function*() {
    let got = 0
    while (got < length) {
      const n = yield* stream.receive(part(lease, got, length - got))
      if (n === 0) return yield* Effect.dieMessage(`end of stream after ${got} of ${length} bytes`)
      got += n
    }
  })

/** A TCP echo for one accepted stream: receive, send back, until the peer's end of stream. */
export const echoStream = (pool: BufferPool.BufferPool, stream: RegisteredSocket.TcpStream) =>
  pool.withLease((lease) =>
    Effect.gen(function*() {
      for (;;) {
        const n = yield* stream.receive(lease.buf)
        if (n === 0) return yield* stream.shutdown()
        yield* stream.sendAll(head(lease, n))
      }
    })
  )

/** Accepts forever, echoing each connection in a fiber of its own (in the caller's scope). */
export const echoServer = (pool: BufferPool.BufferPool, listener: RegisteredSocket.TcpListener) =>
  Effect.forever(Effect.gen(function*() {
    const connection = yield* Scope.make()
    const stream = yield* Scope.extend(listener.accept, connection)
    yield* Effect.forkScoped(echoStream(pool, stream).pipe(Effect.ensuring(Scope.close(connection, Exit.void))))
  }))

/** After a fault: the listener still accepts, and a new connection echoes 256 bytes intact. */
export const echoesAgain = (pool: BufferPool.BufferPool, listener: RegisteredSocket.TcpListener) =>
  Effect.gen(function*() {
    yield* Effect.forkScoped(echoServer(pool, listener))
    yield* Effect.scoped(Effect.gen(function*() {
      const again = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          fill(lease.bytes, 3)
          yield* again.sendAll(lease.buf)
          lease.bytes.fill(0)
          yield* receiveExactly(again, lease, 256)
          assert.isTrue(matches(lease.bytes, 3))
        })
      )
    }))
  })

export const waitUntil = (condition: () => boolean, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      if (condition()) return
      yield* Effect.sleep("1 millis")
    }
    return yield* Effect.dieMessage(`timed out waiting until ${what}`)
  })
